-- decisions per event day and hour (UTC) and action
SELECT dt, CAST(hr AS INTEGER) AS hr, decision.action AS action, count(*) AS decisions
FROM read_parquet('{root}/pique.decisions.v1.deduped/*/*/*.parquet', hive_partitioning = true, union_by_name = true)
GROUP BY ALL
ORDER BY ALL;
