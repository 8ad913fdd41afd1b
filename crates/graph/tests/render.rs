//! Each format draws every node and edge of a graph, with names that break the format's syntax
//! (quotes, `<`, `&`) escaped, and the SVG caps long columns.

use prov9_graph::{Direction, Edge, Format, Limits, LineageGraph, Node};

fn node(id: &str, kind: &str, name: &str, depth: i64, direction: Direction) -> Node {
    Node {
        id: id.into(),
        kind: Some(kind.into()),
        namespace: Some("ns".into()),
        name: Some(name.into()),
        version: (kind != "run").then(|| "v1".to_string()),
        depth,
        direction,
    }
}

fn edge(src: &str, dst: &str, edge_type: &str) -> Edge {
    Edge {
        src: src.into(),
        dst: dst.into(),
        edge_type: edge_type.into(),
        run_id: None,
    }
}

/// model <- training run <- two datasets, one with a hostile name; the model is deployed.
fn graph() -> LineageGraph {
    let mut g = LineageGraph::new(node(
        "model:ns:m@v1",
        "model_version",
        "m",
        0,
        Direction::Start,
    ));
    g.reach(
        node("run:abcdef123456", "run", "train", 1, Direction::Upstream),
        edge("run:abcdef123456", "model:ns:m@v1", "output"),
    );
    for (id, name) in [("dataset:ns:a@v1", "a"), ("dataset:ns:q\"<&>@v1", "q\"<&>")] {
        g.reach(
            node(id, "dataset_version", name, 2, Direction::Upstream),
            edge(id, "run:abcdef123456", "input"),
        );
    }
    g.reach(
        node(
            "deployment:prod:m@r",
            "deployment",
            "k8s",
            1,
            Direction::Downstream,
        ),
        edge("model:ns:m@v1", "deployment:prod:m@r", "deployed"),
    );
    g
}

#[test]
fn dot_names_every_node_and_edge_with_quotes_escaped() {
    let dot = graph().render(Format::Dot);
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(
        dot.contains(r#""dataset:ns:q\"<&>@v1" -> "run:abcdef123456" [label="input"]"#),
        "{dot}"
    );
    assert!(dot.contains(r#"label="train (run abcdef12)""#), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 4, "{dot}");
}

#[test]
fn mermaid_numbers_nodes_and_escapes_labels() {
    let m = graph().render(Format::Mermaid);
    assert!(m.starts_with("flowchart LR\n"), "{m}");
    assert!(m.contains(r#"n3["q#quot;#lt;#amp;#gt;@v1"]"#), "{m}");
    assert!(m.contains("n3 -->|input| n1"), "{m}");
    assert!(m.contains("n0 -->|deployed| n4"), "{m}");
    assert!(!m.contains("dataset:"), "ids are not Mermaid ids: {m}");
}

#[test]
fn json_is_the_graph() {
    let value: serde_json::Value = serde_json::from_str(&graph().render(Format::Json)).unwrap();
    assert_eq!(value["nodes"].as_array().unwrap().len(), 5);
    assert_eq!(value["nodes"][0]["direction"], "start");
    assert_eq!(value["edges"][3]["edge_type"], "deployed");
}

#[test]
fn svg_escapes_text_places_sides_and_caps_columns() {
    let svg = graph().render(Format::Svg);
    assert!(svg.contains("q&quot;&lt;&amp;&gt;@v1"), "{svg}");
    assert!(!svg.contains("q\"<"), "{svg}");
    assert_eq!(svg.matches("<g class=\"node").count(), 5);
    assert_eq!(svg.matches("<path class=\"edge").count(), 4);
    // Upstream left of the start node, downstream right.
    let x_of = |id: &str| -> i64 {
        let at = svg.find(&format!("data-id=\"{id}\"")).unwrap();
        let rect = &svg[at..];
        let x = &rect[rect.find("x=\"").unwrap() + 3..];
        x[..x.find('"').unwrap()].parse().unwrap()
    };
    assert!(x_of("dataset:ns:a@v1") < x_of("run:abcdef123456"));
    assert!(x_of("run:abcdef123456") < x_of("model:ns:m@v1"));
    assert!(x_of("model:ns:m@v1") < x_of("deployment:prod:m@r"));

    let mut wide = LineageGraph::new(node(
        "dataset:ns:big@v1",
        "dataset_version",
        "big",
        0,
        Direction::Start,
    ));
    for i in 0..1000 {
        let id = format!("run:{i}");
        wide.reach(
            node(&id, "run", "consumer", 1, Direction::Downstream),
            edge("dataset:ns:big@v1", &id, "input"),
        );
    }
    let limits = Limits {
        max_per_column: 25,
        link_prefix: Some("/node?id=".into()),
    };
    let svg = wide.svg(&limits);
    assert_eq!(svg.matches("<g class=\"node").count(), 26);
    assert!(svg.contains(">975 more</text>"), "{svg}");
    assert!(svg.contains(r#"<a href="/node?id=run%3A0">"#), "{svg}");
}
