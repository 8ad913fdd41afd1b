-- prov9's table function for shortest_path.sql: one row per edge of one shortest path.
SELECT count(*) FROM lineage_path({{from}}, {{to}})
