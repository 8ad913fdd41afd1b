SELECT step, node, src, dst, edge_type FROM lineage_path({{from}}, {{to}}) ORDER BY step
