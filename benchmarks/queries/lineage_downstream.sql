-- prov9's table function for downstream_impact.sql (the start node is not among its rows).
SELECT count(*) FROM lineage_downstream({{raw}}, 1000)
