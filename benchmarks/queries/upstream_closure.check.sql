-- The node set behind upstream_closure.sql's count, compared across engines.
WITH RECURSIVE up(node) AS (
    SELECT CAST({{model}} AS VARCHAR)
    UNION
    SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node
)
SELECT node FROM up
