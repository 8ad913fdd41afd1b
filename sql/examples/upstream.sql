-- Upstream lineage: everything the model version churn@2 was built from, nearest first.
-- Edges point the way data flows (input version -> run -> output version), so walking
-- upstream follows edges backwards, from dst to src. UNION (not UNION ALL) drops rows already
-- found; the depth bound makes a cycle terminate (rows differ by depth, so UNION alone would not).
WITH RECURSIVE upstream(node_id, depth) AS (
    SELECT 'model:acme-ml:churn@2', 0
    UNION
    SELECT e.src, u.depth + 1
    FROM lineage_edges e
    JOIN upstream u ON e.dst = u.node_id
    WHERE u.depth < 50
)
SELECT n.kind, n.namespace, n.name, n.version, min(u.depth) AS depth
FROM upstream u
JOIN lineage_nodes n ON n.node_id = u.node_id
GROUP BY n.kind, n.namespace, n.name, n.version
ORDER BY depth, n.kind, n.name;
