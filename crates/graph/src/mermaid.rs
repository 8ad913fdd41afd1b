//! Mermaid flowcharts, which GitHub, GitLab and most wikis draw from a ```mermaid block.

use std::collections::HashMap;

use crate::LineageGraph;

/// A label inside `["…"]`: Mermaid reads `"` as the end, and entity codes as characters.
fn label(text: &str) -> String {
    text.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn shape(kind: &str, text: &str) -> String {
    match kind {
        "run" => format!("([\"{text}\"])"),
        "model_version" => format!("[[\"{text}\"]]"),
        "deployment" => format!("{{{{\"{text}\"}}}}"),
        _ => format!("[\"{text}\"]"),
    }
}

pub(crate) fn render(graph: &LineageGraph) -> String {
    let mut out = String::from("flowchart LR\n");
    // Node ids hold `:`, `@` and `/`, which Mermaid ids cannot: number them.
    let mut ids = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let id = format!("n{i}");
        out.push_str(&format!(
            "  {id}{}\n",
            shape(node.kind_or_other(), &label(&node.label()))
        ));
        ids.insert(node.id.as_str(), id);
    }
    for edge in &graph.edges {
        if let (Some(src), Some(dst)) = (ids.get(edge.src.as_str()), ids.get(edge.dst.as_str())) {
            out.push_str(&format!("  {src} -->|{}| {dst}\n", label(&edge.edge_type)));
        }
    }
    out.push_str("  style n0 stroke-width:3px\n");
    out
}
