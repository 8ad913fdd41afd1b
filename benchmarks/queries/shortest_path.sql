-- Hops on a shortest downstream path from one node to another: breadth-first with the depth in
-- the row. The depth bound is what ends the recursion (a node reached again at a new depth is a
-- new row, so UNION alone would not stop it on a cycle).
WITH RECURSIVE bfs(node, depth) AS (
    SELECT CAST({{from}} AS VARCHAR), 0
    UNION
    SELECT e.dst, b.depth + 1
    FROM lineage_edges e JOIN bfs b ON e.src = b.node
    WHERE b.depth < {{max_depth}}
)
SELECT min(depth) FROM bfs WHERE node = {{to}}
