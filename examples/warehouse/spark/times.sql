-- event times are instants: with spark.sql.session.timeZone=UTC they print in UTC
SELECT event_id, date_format(occurred_at, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'") AS occurred_at_utc
FROM parquet.`{root}/pique.decisions.v1.deduped`
WHERE occurred_at IS NOT NULL
ORDER BY event_id;
