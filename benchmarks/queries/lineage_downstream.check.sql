SELECT DISTINCT node FROM lineage_downstream({{raw}}, 1000)
