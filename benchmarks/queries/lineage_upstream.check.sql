SELECT DISTINCT node FROM lineage_upstream({{model}}, 1000)
