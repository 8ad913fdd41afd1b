//! The graph: a start node, the nodes a walk reached (with their distance and side), and the
//! edge that reached each.

use serde::Serialize;

/// Which side of the start node a reached node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The start node itself.
    Start,
    /// Made from the start node's inputs: what it was made from.
    Upstream,
    /// Made from the start node.
    Downstream,
}

/// One node: its lineage id and what `lineage_nodes` says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// The id in `lineage_edges` (`dataset:ns:name@version`, `run:…`, `model:ns:name@version`).
    pub id: String,
    /// dataset_version, run, model_version or deployment; `None` for an id no table describes.
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    /// Hops from the start node (0 for the start node).
    pub depth: i64,
    pub direction: Direction,
}

impl Node {
    /// What a person reads on the node: its name and version, or for a run its job and id.
    pub fn label(&self) -> String {
        match (&self.kind, &self.name, &self.version) {
            (Some(kind), Some(name), _) if kind == "run" => {
                let run = self.id.strip_prefix("run:").unwrap_or(&self.id);
                let short: String = run.chars().take(8).collect();
                format!("{name} (run {short})")
            }
            (Some(kind), Some(target), _) if kind == "deployment" => match &self.namespace {
                Some(environment) => format!("{environment}: {target}"),
                None => target.clone(),
            },
            (_, Some(name), Some(version)) => format!("{name}@{version}"),
            (_, Some(name), None) => name.clone(),
            _ => self.id.clone(),
        }
    }

    /// The kind, for styling: `other` when unknown.
    pub fn kind_or_other(&self) -> &str {
        self.kind.as_deref().unwrap_or("other")
    }
}

/// An edge in the direction data flows, as `lineage_edges` holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub src: String,
    pub dst: String,
    /// input, output, deployed or parent.
    pub edge_type: String,
    pub run_id: Option<String>,
}

/// A lineage walk's answer: `nodes[0]` is the start node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageGraph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl LineageGraph {
    /// A graph of the start node alone.
    pub fn new(start: Node) -> Self {
        LineageGraph {
            nodes: vec![start],
            edges: Vec::new(),
        }
    }

    pub fn start(&self) -> &Node {
        &self.nodes[0]
    }

    /// Add a node a walk reached and the edge that reached it.
    pub fn reach(&mut self, node: Node, edge: Edge) {
        self.nodes.push(node);
        self.edges.push(edge);
    }

    /// The column a node is drawn in: upstream to the left of the start, downstream right.
    pub fn column(node: &Node) -> i64 {
        match node.direction {
            Direction::Start => 0,
            Direction::Upstream => -node.depth,
            Direction::Downstream => node.depth,
        }
    }
}
