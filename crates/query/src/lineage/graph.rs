//! The lineage graph in memory: interned node ids, edges, adjacency both ways.
//!
//! Nodes are numbered densely (`u32`) in order of first appearance; an edge is 24 bytes, and
//! the edges leaving and entering each node are listed beside the node at their far end
//! ([`Hop`]), so a hop costs the node's degree, not a scan of `lineage_edges`.

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
    /// Edges numbered from here on are not yet in `out` and `inc` ([`Graph::link_new_edges`]).
    linked: usize,
    out: Adjacency,
    inc: Adjacency,
}

/// One step of a walk: an edge and the node at its far end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hop {
    pub edge: u32,
    pub far: u32,
}

/// The edges next to each node, one direction. Most are in one array, grouped by node (CSR), so
/// a walk reads a node's hops in one place and never the edge records: at millions of nodes a
/// walk waits on memory, not on arithmetic. Edges added since that array was built sit in
/// per-node lists until they are a quarter of it; then it is rebuilt with them.
#[derive(Debug, Default)]
struct Adjacency {
    /// Node `n`'s hops are `hops[starts[n]..starts[n + 1]]` (nodes past the end have none).
    starts: Vec<u32>,
    hops: Vec<Hop>,
    recent: HashMap<u32, Vec<Hop>>,
    recent_hops: usize,
}

impl Adjacency {
    fn of(&self, node: u32) -> impl Iterator<Item = Hop> + '_ {
        let n = node as usize;
        let compact = match (self.starts.get(n), self.starts.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.hops[a as usize..b as usize],
            _ => &[],
        };
        // Most of the time there are none: skip hashing the node.
        let recent = (!self.recent.is_empty())
            .then(|| self.recent.get(&node))
            .flatten();
        compact.iter().chain(recent.into_iter().flatten()).copied()
    }

    /// Rebuilds the array from every edge, by counting sort on `near`: each node's hops stay in
    /// edge order.
    fn rebuild(&mut self, edges: &[Edge], nodes: usize, near_far: impl Fn(&Edge) -> (u32, u32)) {
        let mut starts = vec![0u32; nodes + 1];
        for e in edges {
            starts[near_far(e).0 as usize + 1] += 1;
        }
        for n in 0..nodes {
            starts[n + 1] += starts[n];
        }
        let mut next = starts.clone();
        let mut hops = vec![Hop::default(); edges.len()];
        for (i, e) in edges.iter().enumerate() {
            let (near, far) = near_far(e);
            let slot = &mut next[near as usize];
            hops[*slot as usize] = Hop {
                edge: i as u32,
                far,
            };
            *slot += 1;
        }
        *self = Adjacency {
            starts,
            hops,
            recent: HashMap::new(),
            recent_hops: 0,
        };
    }

    fn add(&mut self, near: u32, hop: Hop) {
        self.recent.entry(near).or_default().push(hop);
        self.recent_hops += 1;
    }
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
        n
    }

    /// Adds an edge; walks see it after [`Graph::link_new_edges`].
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
        self.edges.push(Edge {
            src,
            dst,
            run,
            edge_type,
            event_time,
        });
    }

    /// Puts the edges added since the last call into the adjacency both ways: into the per-node
    /// lists, or, when those would outgrow a quarter of the compact array, by rebuilding it
    /// (so rebuilds cost O(1) per edge over time).
    pub fn link_new_edges(&mut self) {
        let new = self.edges.len() - self.linked;
        if new == 0 {
            return;
        }
        if (self.out.recent_hops + new) * 4 > self.out.hops.len() {
            let nodes = self.names.len();
            self.out.rebuild(&self.edges, nodes, |e| (e.src, e.dst));
            self.inc.rebuild(&self.edges, nodes, |e| (e.dst, e.src));
        } else {
            for i in self.linked..self.edges.len() {
                let e = self.edges[i];
                let edge = i as u32;
                self.out.add(e.src, Hop { edge, far: e.dst });
                self.inc.add(e.dst, Hop { edge, far: e.src });
            }
        }
        self.linked = self.edges.len();
    }

    /// The hops leaving (downstream) or entering (upstream) a node, in edge order.
    pub fn adjacent(&self, node: u32, direction: Direction) -> impl Iterator<Item = Hop> + '_ {
        match direction {
            Direction::Downstream => self.out.of(node),
            Direction::Upstream => self.inc.of(node),
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
        let mut frontier: Vec<u32> = starts.iter().copied().filter(|s| seen.insert(*s)).collect();
        let mut out = Vec::new();
        let mut depth = 0;
        while !frontier.is_empty() && max_depth.is_none_or(|m| depth < m) {
            depth += 1;
            let mut next = Vec::new();
            for node in frontier {
                for hop in self.adjacent(node, direction) {
                    if seen.insert(hop.far) {
                        out.push(Reached {
                            node: hop.far,
                            depth,
                            edge: hop.edge,
                        });
                        next.push(hop.far);
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
            for Hop { edge, far: next } in self.adjacent(node, Direction::Downstream) {
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
        g.link_new_edges();
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

    /// Edges added after the compact array was built (the per-node lists) and those merged into
    /// it by a rebuild are walked alike, in edge order.
    #[test]
    fn recent_edges_are_walked_before_and_after_a_rebuild() {
        let mut g = Graph::default();
        for i in 0..40 {
            g.add_edge(&format!("n{i}"), &format!("n{}", i + 1), "input", None, 0);
        }
        g.link_new_edges();
        let walk = |g: &Graph, from: &str, direction| -> Vec<(String, u32, u32)> {
            g.traverse(g.node(from).unwrap(), direction, None)
                .iter()
                .map(|r| (g.name(r.node).to_string(), r.depth, r.edge))
                .collect()
        };
        // Few new edges: per-node lists, including one from a node the array has never seen.
        g.add_edge("n40", "new", "output", None, 0);
        g.add_edge("n3", "n40", "input", None, 0);
        g.link_new_edges();
        assert!(!g.out.recent.is_empty());
        let before = walk(&g, "n0", Direction::Downstream);
        assert_eq!(before.len(), 41);
        assert!(before.contains(&("new".to_string(), 5, 40)));
        assert!(before.contains(&("n40".to_string(), 4, 41)));
        let up = walk(&g, "new", Direction::Upstream);
        assert_eq!(up.len(), 41);
        assert_eq!(up[1], ("n39".to_string(), 2, 39));
        assert_eq!(up[2], ("n3".to_string(), 2, 41));
        // Many new edges: one rebuild, same answers.
        for i in 0..20 {
            g.add_edge(&format!("m{i}"), &format!("m{}", i + 1), "input", None, 0);
        }
        g.link_new_edges();
        assert!(g.out.recent.is_empty());
        assert_eq!(walk(&g, "n0", Direction::Downstream), before);
        assert_eq!(walk(&g, "new", Direction::Upstream), up);
        assert_eq!(walk(&g, "m0", Direction::Downstream).len(), 20);
    }
}
