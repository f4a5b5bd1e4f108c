-- decisions per event day and hour (UTC) and action
SELECT dt, CAST(hr AS INTEGER) AS hr, decision.action AS action, count(*) AS decisions
FROM parquet.`{root}/pique.decisions.v1.deduped`
GROUP BY dt, CAST(hr AS INTEGER), decision.action
ORDER BY dt, hr, action;
