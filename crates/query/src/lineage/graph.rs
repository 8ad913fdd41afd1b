//! The lineage graph in memory: interned node ids, edges, adjacency both ways.
//!
//! Nodes are numbered densely (`u32`) in order of first appearance; an edge is 24 bytes and each
//! node keeps the edges leaving and entering it, so a hop costs the node's degree, not a scan
//! of `lineage_edges`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Which way a traversal follows edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Against the data flow: from a node to what it was made from.
    Upstream,
    /// With the data flow: from a node to what was made from it.
    Downstream,
}

/// One row of `lineage_edges`, with ids interned.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub src: u32,
    pub dst: u32,
    pub run: Option<u32>,
    pub edge_type: u16,
    /// Microseconds since 1970, UTC.
    pub event_time: i64,
}

/// A node reached by a traversal, how far from the start, and the edge that reached it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    pub node: u32,
    pub depth: u32,
    pub edge: u32,
}

#[derive(Debug, Default)]
pub struct Graph {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
    edge_types: Vec<Arc<str>>,
    edges: Vec<Edge>,
    out: Vec<Vec<u32>>,
    inc: Vec<Vec<u32>>,
}

impl Graph {
    pub fn node_count(&self) -> usize {
        self.names.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    pub fn node(&self, id: &str) -> Option<u32> {
        self.ids.get(id).copied()
    }

    pub fn name(&self, node: u32) -> &Arc<str> {
        &self.names[node as usize]
    }

    pub fn edge(&self, edge: u32) -> &Edge {
        &self.edges[edge as usize]
    }

    pub fn edge_type(&self, edge: &Edge) -> &Arc<str> {
        &self.edge_types[edge.edge_type as usize]
    }

    fn intern(&mut self, id: &str) -> u32 {
        if let Some(n) = self.ids.get(id) {
            return *n;
        }
        let n = self.names.len() as u32;
        let id: Arc<str> = Arc::from(id);
        self.ids.insert(id.clone(), n);
        self.names.push(id);
        self.out.push(Vec::new());
        self.inc.push(Vec::new());
        n
    }

    pub fn add_edge(
        &mut self,
        src: &str,
        dst: &str,
        edge_type: &str,
        run: Option<&str>,
        event_time: i64,
    ) {
        let (src, dst) = (self.intern(src), self.intern(dst));
        let run = run.map(|r| self.intern(r));
        let edge_type = match self.edge_types.iter().position(|t| &**t == edge_type) {
            Some(i) => i as u16,
            None => {
                self.edge_types.push(Arc::from(edge_type));
                (self.edge_types.len() - 1) as u16
            }
        };
        let e = self.edges.len() as u32;
        self.edges.push(Edge {
            src,
            dst,
            run,
            edge_type,
            event_time,
        });
        self.out[src as usize].push(e);
        self.inc[dst as usize].push(e);
    }

    /// The edges leaving (downstream) or entering (upstream) a node.
    pub fn adjacent(&self, node: u32, direction: Direction) -> &[u32] {
        match direction {
            Direction::Downstream => &self.out[node as usize],
            Direction::Upstream => &self.inc[node as usize],
        }
    }

    /// The node an edge leads to, going `direction`.
    pub fn far_end(&self, edge: u32, direction: Direction) -> u32 {
        let e = &self.edges[edge as usize];
        match direction {
            Direction::Downstream => e.dst,
            Direction::Upstream => e.src,
        }
    }

    /// Every node reachable from `start` within `max_depth` hops, breadth first, each once
    /// (cycles end there), with its shortest distance; the start itself is not listed.
    pub fn traverse(
        &self,
        start: u32,
        direction: Direction,
        max_depth: Option<u32>,
    ) -> Vec<Reached> {
        self.traverse_from(&[start], direction, max_depth)
    }

    /// [`Graph::traverse`] from several start nodes at once (depth 0 each); no start is listed.
    pub fn traverse_from(
        &self,
        starts: &[u32],
        direction: Direction,
        max_depth: Option<u32>,
    ) -> Vec<Reached> {
        let mut seen = VisitedSet::for_nodes(self.names.len());
        let mut first_visit = |node: u32| seen.insert(node);
        let mut frontier: Vec<u32> = starts.iter().copied().filter(|s| first_visit(*s)).collect();
        let mut out = Vec::new();
        let mut depth = 0;
        while !frontier.is_empty() && max_depth.is_none_or(|m| depth < m) {
            depth += 1;
            let mut next = Vec::new();
            for node in frontier {
                for &edge in self.adjacent(node, direction) {
                    let reached = self.far_end(edge, direction);
                    if first_visit(reached) {
                        out.push(Reached {
                            node: reached,
                            depth,
                            edge,
                        });
                        next.push(reached);
                    }
                }
            }
            frontier = next;
        }
        seen.clear(starts.iter().copied().chain(out.iter().map(|r| r.node)));
        out
    }

    /// The edges of one shortest path from `from` to `to` along the data flow.
    pub fn shortest_path(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        if from == to {
            return Some(Vec::new());
        }
        let mut reached_by: HashMap<u32, u32> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            for &edge in self.adjacent(node, Direction::Downstream) {
                let next = self.edges[edge as usize].dst;
                if next == from || reached_by.contains_key(&next) {
                    continue;
                }
                reached_by.insert(next, edge);
                if next == to {
                    let mut path = vec![edge];
                    let mut at = node;
                    while at != from {
                        let e = reached_by[&at];
                        path.push(e);
                        at = self.edges[e as usize].src;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(next);
            }
        }
        None
    }
}

/// A traversal's visited nodes, one bit per node, reused by the next traversal on the same thread:
/// at millions of nodes, allocating and zeroing a fresh set cost more than a small walk. Only
/// the bits a traversal set are cleared after it ([`VisitedSet::clear`]); a traversal that
/// panics never returns its set, so no later one sees stale bits.
struct VisitedSet(Vec<u64>);

thread_local! {
    static SPARE_VISITED_SET: std::cell::Cell<Vec<u64>> = const { std::cell::Cell::new(Vec::new()) };
}

impl VisitedSet {
    fn for_nodes(nodes: usize) -> Self {
        let mut bits = SPARE_VISITED_SET.take();
        bits.resize(nodes.div_ceil(64).max(bits.len()), 0);
        VisitedSet(bits)
    }

    /// Marks `node` visited; whether it was new.
    fn insert(&mut self, node: u32) -> bool {
        let (word, bit) = (node as usize / 64, 1u64 << (node % 64));
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    /// Unmarks the nodes visited (every node `insert` saw) and hands the set to the next traversal.
    fn clear(mut self, visited: impl Iterator<Item = u32>) {
        for node in visited {
            self.0[node as usize / 64] = 0;
        }
        SPARE_VISITED_SET.set(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::default();
        for (s, d) in edges {
            g.add_edge(s, d, "input", None, 0);
        }
        g
    }

    #[test]
    fn cycles_end_and_depth_is_the_shortest() {
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")]);
        let a = g.node("a").unwrap();
        let mut got: Vec<(String, u32)> = g
            .traverse(a, Direction::Downstream, None)
            .iter()
            .map(|r| (g.name(r.node).to_string(), r.depth))
            .collect();
        got.sort();
        assert_eq!(got, vec![("b".into(), 1), ("c".into(), 1)]);
        assert!(g.traverse(a, Direction::Upstream, Some(0)).is_empty());
        let path = g.shortest_path(g.node("b").unwrap(), a).unwrap();
        assert_eq!(path.len(), 2);
        assert!(g.shortest_path(a, g.node("a").unwrap()).unwrap().is_empty());
        let g = graph(&[("x", "y")]);
        assert!(
            g.shortest_path(g.node("y").unwrap(), g.node("x").unwrap())
                .is_none()
        );
    }
}
