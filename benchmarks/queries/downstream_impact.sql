-- Everything built from a raw dataset version: its downstream impact (the start included).
WITH RECURSIVE down(node) AS (
    SELECT CAST({{raw}} AS VARCHAR)
    UNION
    SELECT e.dst FROM lineage_edges e JOIN down ON e.src = down.node
)
SELECT count(*) FROM down
