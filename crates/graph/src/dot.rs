//! Graphviz DOT: `prov9 lineage NODE --format dot | dot -Tpng > lineage.png`.

use crate::LineageGraph;

/// A DOT string literal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn shape(kind: &str) -> &'static str {
    match kind {
        "run" => "ellipse",
        "model_version" => "box3d",
        "deployment" => "cds",
        _ => "box",
    }
}

pub(crate) fn render(graph: &LineageGraph) -> String {
    let mut out =
        String::from("digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for node in &graph.nodes {
        let style = if node.id == graph.start().id {
            ", style=bold"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} [label={}, shape={}{style}];\n",
            quoted(&node.id),
            quoted(&node.label()),
            shape(node.kind_or_other())
        ));
    }
    for edge in &graph.edges {
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            quoted(&edge.src),
            quoted(&edge.dst),
            quoted(&edge.edge_type)
        ));
    }
    out.push_str("}\n");
    out
}
