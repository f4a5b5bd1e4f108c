-- products shown in Product Agents messages, one row per product
SELECT event_id, customer.email AS email, p.title, p.price, p.currency
FROM read_parquet('{root}/productagents.messages.v1.deduped/*/*/*.parquet', hive_partitioning = true, union_by_name = true),
     unnest(primary_products) AS t(p)
ORDER BY ALL;
