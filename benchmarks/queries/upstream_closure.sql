-- Everything a deployed model version was built from: its upstream closure (the start included).
-- UNION drops nodes already found, which is what ends the recursion on a cycle.
WITH RECURSIVE up(node) AS (
    SELECT CAST({{model}} AS VARCHAR)
    UNION
    SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node
)
SELECT count(*) FROM up
