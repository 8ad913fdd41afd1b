-- Downstream impact: which models and deployments were built from the raw clickstream of
-- 2026-11-01 (say it turned out to be corrupt)? Edges are followed forwards, src to dst.
WITH RECURSIVE downstream(node_id, depth) AS (
    SELECT v.version_id, 0
    FROM dataset_versions v
    JOIN datasets d ON d.dataset_id = v.dataset_id
    WHERE d.name = 'raw/clickstream' AND v.created_at < TIMESTAMP '2026-11-02 00:00:00'
    UNION
    SELECT e.dst, d.depth + 1
    FROM lineage_edges e
    JOIN downstream d ON e.src = d.node_id
    WHERE d.depth < 50
)
SELECT n.kind, n.namespace, n.name, n.version, min(d.depth) AS depth
FROM downstream d
JOIN lineage_nodes n ON n.node_id = d.node_id
WHERE n.kind IN ('model_version', 'deployment')
GROUP BY n.kind, n.namespace, n.name, n.version
ORDER BY depth, n.kind, n.name;
