//! `prov9 lineage NODE`: the drawing holds exactly the nodes and edges the SQL lineage functions
//! answer for the node, in every format.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

/// (node, depth, src, dst, edge_type) rows of `lineage_<direction>(node [, depth])`.
fn sql_walk(
    data: &std::path::Path,
    direction: &str,
    node: &str,
    depth: Option<u32>,
) -> BTreeSet<String> {
    let depth = depth.map(|d| format!(", {d}")).unwrap_or_default();
    sql_rows(
        data,
        &format!(
            "SELECT node, depth, src, dst, edge_type FROM lineage_{direction}('{node}'{depth})"
        ),
    )
    .into_iter()
    .collect()
}

/// The same rows from `prov9 lineage --format json`.
fn drawn_walk(data: &std::path::Path, args: &[&str]) -> (Value, BTreeSet<String>) {
    let out = run(data, &[&["lineage", "--format", "json"], args].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let graph: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let nodes = graph["nodes"].as_array().unwrap();
    let edges = graph["edges"].as_array().unwrap();
    // Every reached node comes with the edge that reached it, in order.
    assert_eq!(nodes.len(), edges.len() + 1);
    let rows = nodes[1..]
        .iter()
        .zip(edges)
        .map(|(n, e)| {
            format!(
                "{},{},{},{},{}",
                n["id"].as_str().unwrap(),
                n["depth"],
                e["src"].as_str().unwrap(),
                e["dst"].as_str().unwrap(),
                e["edge_type"].as_str().unwrap()
            )
        })
        .collect();
    (graph, rows)
}

#[test]
fn lineage_draws_what_the_sql_functions_answer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let out = run(
        &data,
        &["load", "--no-progress", demo_file().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut starts = sql_rows(
        &data,
        "SELECT node_id FROM lineage_nodes WHERE kind = 'model_version'",
    );
    starts.extend(sql_rows(
        &data,
        "SELECT node_id FROM lineage_nodes WHERE kind = 'dataset_version' ORDER BY node_id LIMIT 3",
    ));
    assert!(starts.len() >= 4, "{starts:?}");
    let mut reached = 0;
    for node in &starts {
        for depth in [None, Some(1)] {
            let depth_args: Vec<String> = depth
                .map(|d| vec!["--depth".into(), d.to_string()])
                .unwrap_or_default();
            let depth_args: Vec<&str> = depth_args.iter().map(String::as_str).collect();
            let mut both = BTreeSet::new();
            for direction in ["upstream", "downstream"] {
                let flag = format!("--{direction}");
                let (graph, drawn) =
                    drawn_walk(&data, &[&[node.as_str(), &flag], &depth_args[..]].concat());
                assert_eq!(graph["nodes"][0]["id"], node.as_str());
                let expected = sql_walk(&data, direction, node, depth);
                assert_eq!(drawn, expected, "{direction} of {node}, depth {depth:?}");
                reached += expected.len();
                both.extend(expected);
            }
            let (_, drawn) = drawn_walk(&data, &[&[node.as_str()], &depth_args[..]].concat());
            assert_eq!(drawn, both, "both directions of {node}");
        }
    }
    assert!(
        reached > 20,
        "the walks reached real graphs: {reached} rows"
    );

    // The other formats draw the same nodes and edges.
    let model = &starts[0];
    let (graph, _) = drawn_walk(&data, &[model.as_str()]);
    let ids: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let edges = graph["edges"].as_array().unwrap().len();
    // Each node is named as lineage_nodes names it.
    let field = |n: &Value, key: &str| n[key].as_str().unwrap_or_default().to_string();
    let drawn_names: BTreeSet<String> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            ["id", "kind", "namespace", "name", "version"]
                .map(|key| field(n, key))
                .join("|")
        })
        .collect();
    let listed: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    let sql_names: BTreeSet<String> = sql_rows(
        &data,
        &format!(
            "SELECT node_id || '|' || kind || '|' || COALESCE(namespace, '') || '|' || \
             COALESCE(name, '') || '|' || COALESCE(version, '') FROM lineage_nodes \
             WHERE node_id IN ({})",
            listed.join(", ")
        ),
    )
    .into_iter()
    .collect();
    assert!(
        ["dataset_version|", "run|", "deployment|", "model_version|"]
            .iter()
            .all(|kind| sql_names.iter().any(|n| n.contains(kind))),
        "the drawing holds every kind of node: {sql_names:?}"
    );
    assert_eq!(drawn_names, sql_names);
    let draw = |format: &str| {
        let out = run(&data, &["lineage", model, "--format", format]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let dot = draw("dot");
    let svg = draw("svg");
    let mermaid = draw("mermaid");
    for id in &ids {
        assert!(
            dot.contains(&format!("\"{id}\" [label=")),
            "{id} not in {dot}"
        );
        assert!(
            svg.contains(&format!("data-id=\"{id}\"")),
            "{id} not in {svg}"
        );
    }
    assert_eq!(dot.matches(" -> ").count(), edges);
    assert_eq!(svg.matches("<path class=\"edge").count(), edges);
    assert_eq!(mermaid.matches(" -->|").count(), edges);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));

    // A node that is not in the graph is an error saying what node ids look like.
    let out = run(&data, &["lineage", "dataset:nowhere:x@1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not in the lineage graph"),
        "{}",
        stderr(&out)
    );
}
