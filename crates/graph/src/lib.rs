//! Lineage graphs drawn for people: the answer of a lineage walk (the lineage table functions'
//! rows, with each node's name from `lineage_nodes`) as Graphviz DOT, Mermaid, a standalone SVG
//! or JSON, for docs, tickets and CI (`prov9 lineage`) and for prov9's own lineage page.
//!
//! The walk is the query engine's: [`walk()`] asks it for `lineage_upstream` /
//! `lineage_downstream` in SQL, so a drawing shows exactly the nodes and edges they answer.

mod dot;
mod graph;
mod mermaid;
mod svg;
mod walk;

pub use graph::{Direction, Edge, LineageGraph, Node};
pub use walk::{WalkError, walk};

/// The formats a graph is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
    Svg,
    Json,
}

impl LineageGraph {
    /// The graph in `format`, as text.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Dot => dot::render(self),
            Format::Mermaid => mermaid::render(self),
            Format::Svg => svg::render(self, &svg::Limits::default()),
            Format::Json => {
                let mut text = serde_json::to_string_pretty(self).expect("a graph is JSON");
                text.push('\n');
                text
            }
        }
    }
}

pub use svg::{Limits, percent_encode, xml};

impl LineageGraph {
    /// The graph as SVG with a caller's limits (the lineage page links each node).
    pub fn svg(&self, limits: &Limits) -> String {
        svg::render(self, limits)
    }
}
