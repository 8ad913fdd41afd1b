-- The node set behind downstream_impact.sql's count, compared across engines.
WITH RECURSIVE down(node) AS (
    SELECT CAST({{raw}} AS VARCHAR)
    UNION
    SELECT e.dst FROM lineage_edges e JOIN down ON e.src = down.node
)
SELECT node FROM down
