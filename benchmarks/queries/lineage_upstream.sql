-- prov9's table function for upstream_closure.sql (the start node is not among its rows).
SELECT count(*) FROM lineage_upstream({{model}}, 1000)
