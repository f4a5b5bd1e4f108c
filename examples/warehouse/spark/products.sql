-- products shown in Product Agents messages, one row per product
SELECT event_id, customer.email AS email, p.title, p.price, p.currency
FROM parquet.`{root}/productagents.messages.v1.deduped`
LATERAL VIEW explode(primary_products) t AS p
ORDER BY event_id, title, price;
