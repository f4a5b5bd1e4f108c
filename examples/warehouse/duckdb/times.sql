-- event times are instants (TIMESTAMP WITH TIME ZONE): print them in UTC
SET TimeZone = 'UTC';
SELECT event_id, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS occurred_at_utc
FROM read_parquet('{root}/pique.decisions.v1.deduped/*/*/*.parquet', hive_partitioning = true, union_by_name = true)
WHERE occurred_at IS NOT NULL
ORDER BY ALL;
