//! A standalone SVG, laid out here (no Graphviz needed): upstream columns left of the start
//! node, downstream right, one column per hop; a column longer than the limit ends in an
//! "N more" box, so a node with 50,000 upstream nodes still draws at once.

use std::collections::HashMap;
use std::fmt::Write;

use crate::{LineageGraph, Node};

/// What to draw and how.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Nodes drawn per column; the rest are counted in an "N more" box.
    pub max_per_column: usize,
    /// Each node links to this prefix followed by its (percent-encoded) id, when set.
    pub link_prefix: Option<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_per_column: 40,
            link_prefix: None,
        }
    }
}

const BOX_WIDTH: i64 = 230;
const BOX_HEIGHT: i64 = 36;
const COLUMN_PITCH: i64 = 300;
const ROW_PITCH: i64 = 50;
const MARGIN: i64 = 20;
/// Characters of a label shown in a box; the whole label is in its tooltip.
const LABEL_CHARS: usize = 30;

/// Text for an XML element or attribute.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query value: every byte but the unreserved ones percent-encoded (space as `+`).
pub fn percent_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn colors(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "dataset_version" => ("#e3f2fd", "#1565c0"),
        "run" => ("#fff3e0", "#e65100"),
        "model_version" => ("#e8f5e9", "#2e7d32"),
        "deployment" => ("#f3e5f5", "#6a1b9a"),
        _ => ("#eeeeee", "#616161"),
    }
}

fn shortened(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let mut short: String = label.chars().take(LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// Where each drawn node is, and how many of each column were left out.
struct Layout<'a> {
    position: HashMap<&'a str, (i64, i64)>,
    drawn: Vec<&'a Node>,
    /// (x, nodes left out, y) of each column's "N more" box.
    hidden: Vec<(i64, usize, i64)>,
    width: i64,
    height: i64,
}

fn layout<'a>(graph: &'a LineageGraph, limits: &Limits) -> Layout<'a> {
    let mut columns: HashMap<i64, Vec<&Node>> = HashMap::new();
    for node in &graph.nodes {
        columns
            .entry(LineageGraph::column(node))
            .or_default()
            .push(node);
    }
    // The node each one was reached from, to keep a node near it and edges short.
    let direction_of: HashMap<&str, crate::Direction> = graph
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.direction))
        .collect();
    let mut reached_from: HashMap<&str, &str> = HashMap::new();
    for edge in &graph.edges {
        let (near, far) = match direction_of.get(edge.dst.as_str()) {
            Some(crate::Direction::Downstream) => (&edge.src, &edge.dst),
            _ => (&edge.dst, &edge.src),
        };
        reached_from.entry(far.as_str()).or_insert(near.as_str());
    }
    let min_column = columns.keys().copied().min().unwrap_or(0);
    let max_column = columns.keys().copied().max().unwrap_or(0);
    let mut order: Vec<i64> = columns.keys().copied().collect();
    // Outward from the start, so each column is ordered by the rows of the one before it.
    order.sort_by_key(|c| (c.abs(), *c));
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    let mut layout = Layout {
        position: HashMap::new(),
        drawn: Vec::new(),
        hidden: Vec::new(),
        width: (max_column - min_column) * COLUMN_PITCH + BOX_WIDTH + 2 * MARGIN,
        height: 0,
    };
    let mut tallest = 1;
    for column in order {
        let mut nodes = columns.remove(&column).unwrap_or_default();
        nodes.sort_by_cached_key(|n| {
            let anchor = reached_from
                .get(n.id.as_str())
                .and_then(|from| row_of.get(from))
                .copied()
                .unwrap_or(usize::MAX);
            (anchor, n.label())
        });
        let x = (column - min_column) * COLUMN_PITCH + MARGIN;
        let shown = nodes.len().min(limits.max_per_column);
        for (row, node) in nodes.iter().take(shown).enumerate() {
            row_of.insert(node.id.as_str(), row);
            let y = row as i64 * ROW_PITCH + MARGIN;
            layout.position.insert(node.id.as_str(), (x, y));
            layout.drawn.push(node);
        }
        let mut rows = shown;
        if nodes.len() > shown {
            layout
                .hidden
                .push((x, nodes.len() - shown, shown as i64 * ROW_PITCH + MARGIN));
            rows += 1;
        }
        tallest = tallest.max(rows);
    }
    layout.height = tallest as i64 * ROW_PITCH + 2 * MARGIN;
    layout
}

pub(crate) fn render(graph: &LineageGraph, limits: &Limits) -> String {
    let layout = layout(graph, limits);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##,
        w = layout.width,
        h = layout.height,
    );
    out.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#757575"/></marker></defs>
"##,
    );
    for edge in &graph.edges {
        let (Some(&(sx, sy)), Some(&(dx, dy))) = (
            layout.position.get(edge.src.as_str()),
            layout.position.get(edge.dst.as_str()),
        ) else {
            continue;
        };
        let (x1, y1, x2, y2) = (sx + BOX_WIDTH, sy + BOX_HEIGHT / 2, dx, dy + BOX_HEIGHT / 2);
        let bend = (x2 - x1).abs() / 2;
        let _ = writeln!(
            out,
            r##"<path class="edge edge-{kind}" d="M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}" fill="none" stroke="#9e9e9e" stroke-width="1.2" marker-end="url(#arrow)"><title>{kind}</title></path>"##,
            x1 + bend,
            x2 - bend,
            kind = xml(&edge.edge_type),
        );
    }
    for node in &layout.drawn {
        let (x, y) = layout.position[node.id.as_str()];
        let kind = node.kind_or_other();
        let (fill, stroke) = colors(kind);
        let width = if node.id == graph.start().id { 3 } else { 1 };
        let label = node.label();
        let mut group = format!(
            r##"<g class="node kind-{kind}" data-id="{id}"><title>{title}</title><rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/><text x="{tx}" y="{ty}" fill="#212121">{text}</text></g>"##,
            kind = xml(kind),
            id = xml(&node.id),
            title = xml(&format!("{}\n{}", label, node.id)),
            tx = x + 10,
            ty = y + BOX_HEIGHT / 2 + 4,
            text = xml(&shortened(&label)),
        );
        if let Some(prefix) = &limits.link_prefix {
            group = format!(
                r##"<a href="{}{}">{group}</a>"##,
                xml(prefix),
                percent_encode(&node.id)
            );
        }
        out.push_str(&group);
        out.push('\n');
    }
    for (x, count, y) in &layout.hidden {
        let _ = writeln!(
            out,
            r##"<g class="more"><rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="#fafafa" stroke="#bdbdbd" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="#616161">{count} more</text></g>"##,
            x + 10,
            y + BOX_HEIGHT / 2 + 4,
        );
    }
    out.push_str("</svg>\n");
    out
}
