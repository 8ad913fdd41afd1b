//! `GET /api/v1/lineage?nodeId=&depth=`: the job- and dataset-level graph around a node, walked
//! on prov9's version-level lineage index and collapsed the way Marquez shows it: every version
//! of a dataset is the dataset, every run of a job is the job.
//!
//! The start is every version of the dataset (or the one `#version` names), or every run of
//! the job; the walk goes `2 × depth` version-level hops upstream and downstream from there
//! (dataset -> run -> dataset is one job hop), exactly the nodes `lineage_upstream` and
//! `lineage_downstream` reach from those starts, and the graph holds every edge between the
//! nodes reached. Model versions show as datasets (namespace and name of the model);
//! deployments, which Marquez has no place for, are left out.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use prov9_query::lineage::Direction;
use serde::Serialize;

use super::datasets::{DatasetData, dataset_sql};
use super::jobs::Job;
use super::rows::{key_set, literal, query, query_keys, text};
use super::with_models::{DATASETS, VERSIONS};
use super::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineageQuery {
    node_id: Option<String>,
    depth: Option<u32>,
}

/// Which Marquez node a version-level node collapses into (a model is a dataset, see
/// [`super::with_models`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Collapsed {
    Dataset(String),
    Job(String),
}

impl Collapsed {
    fn node_id(&self) -> String {
        match self {
            Collapsed::Dataset(id) | Collapsed::Job(id) => id.clone(),
        }
    }
}

pub(crate) async fn lineage(
    State(marquez): State<Arc<Marquez>>,
    Query(q): Query<LineageQuery>,
) -> Result<Json<LineageGraph>, ApiError> {
    let node_id = super::required(q.node_id, "nodeId")?;
    let depth = q.depth.unwrap_or(super::DEFAULT_DEPTH);
    let (entity, version) = match node_id.rsplit_once('#') {
        Some((entity, version)) => (entity.to_string(), Some(version.to_string())),
        None => (node_id.clone(), None),
    };
    let starts: Vec<String> = if entity.starts_with("dataset:") {
        let exists = query(
            &marquez.engine,
            &format!(
                "SELECT 1 FROM {DATASETS} d WHERE dataset_id = {}",
                literal(&entity)
            ),
        )
        .await?;
        if exists.is_empty() {
            return Err(ApiError::not_found(format!(
                "Dataset '{entity}' not found."
            )));
        }
        let mut condition = format!("dataset_id = {}", literal(&entity));
        if let Some(v) = &version {
            condition.push_str(&format!(" AND version = {}", literal(v)));
        }
        query(
            &marquez.engine,
            &format!("SELECT version_id AS id FROM {VERSIONS} v WHERE {condition}"),
        )
        .await?
        .iter()
        .filter_map(|r| text(r, "id").map(str::to_string))
        .collect()
    } else if entity.starts_with("job:") {
        let runs = query(
            &marquez.engine,
            &format!(
                "SELECT j.job_id, r.run_id AS id FROM jobs j LEFT JOIN runs r ON r.job_id = j.job_id \
                 WHERE j.job_id = {}",
                literal(&entity)
            ),
        )
        .await?;
        if runs.is_empty() {
            return Err(ApiError::not_found(format!("Job '{entity}' not found.")));
        }
        runs.iter()
            .filter_map(|r| text(r, "id").map(str::to_string))
            .collect()
    } else {
        return Err(ApiError::not_found(format!(
            "Node '{node_id}' must be of type dataset or job!"
        )));
    };

    // The walk, and every edge among the nodes it reached.
    let (nodes, edges) = {
        let graph = marquez.lineage_graph().await?;
        let start_ids: Vec<u32> = starts.iter().filter_map(|s| graph.node(s)).collect();
        let mut reached: BTreeSet<u32> = start_ids.iter().copied().collect();
        for direction in [Direction::Upstream, Direction::Downstream] {
            for r in graph.traverse_from(&start_ids, direction, Some(2 * depth)) {
                reached.insert(r.node);
            }
        }
        let mut edges = Vec::new();
        for &node in &reached {
            for hop in graph.adjacent(node, Direction::Downstream) {
                if reached.contains(&hop.far) {
                    edges.push((
                        graph.name(node).to_string(),
                        graph.name(hop.far).to_string(),
                    ));
                }
            }
        }
        let nodes: Vec<String> = reached.iter().map(|&n| graph.name(n).to_string()).collect();
        (nodes, edges)
    };

    let collapsed = collapse(&marquez, &nodes).await?;
    let mut members: BTreeSet<Collapsed> = collapsed.values().cloned().collect();
    if entity.starts_with("dataset:") {
        // A dataset no run wrote or read is a graph of itself.
        members.insert(Collapsed::Dataset(entity.clone()));
    } else {
        members.insert(Collapsed::Job(entity.clone()));
    }
    let mut links: BTreeSet<(String, String)> = BTreeSet::new();
    for (src, dst) in &edges {
        if let (Some(a), Some(b)) = (collapsed.get(src), collapsed.get(dst))
            && a != b
        {
            links.insert((a.node_id(), b.node_id()));
        }
    }
    let mut data = node_data(&marquez, &members).await?;
    // Each node's edges, grouped once: a fan-in of 25,000 made a scan of every link per node
    // the whole request's cost.
    let mut in_edges: HashMap<&str, Vec<Edge>> = HashMap::new();
    let mut out_edges: HashMap<&str, Vec<Edge>> = HashMap::new();
    for (origin, destination) in &links {
        let edge = Edge {
            origin: origin.clone(),
            destination: destination.clone(),
        };
        in_edges.entry(destination).or_default().push(edge.clone());
        out_edges.entry(origin).or_default().push(edge);
    }
    let graph = members
        .iter()
        .map(|member| {
            let id = member.node_id();
            let kind = match member {
                Collapsed::Job(_) => "JOB",
                _ => "DATASET",
            };
            Node {
                kind,
                data: data.remove(&id),
                in_edges: in_edges.remove(id.as_str()).unwrap_or_default(),
                out_edges: out_edges.remove(id.as_str()).unwrap_or_default(),
                id,
            }
        })
        .collect();
    Ok(Json(LineageGraph { graph }))
}

/// Marquez's lineage graph: `{"graph": [node, …]}`.
#[derive(Debug, Serialize)]
pub(crate) struct LineageGraph {
    graph: Vec<Node>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    data: Option<NodeData>,
    in_edges: Vec<Edge>,
    out_edges: Vec<Edge>,
}

/// A node's `data`: JobData for jobs, DatasetData for datasets (and models).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum NodeData {
    // Boxed: both are hundreds of bytes, and nodes are moved into the answer.
    Job(Box<Job>),
    Dataset(Box<DatasetData>),
}

#[derive(Debug, Clone, Serialize)]
struct Edge {
    origin: String,
    destination: String,
}

/// Version-level node -> the Marquez node it collapses into (deployments have none).
async fn collapse(
    marquez: &Marquez,
    nodes: &[String],
) -> Result<HashMap<String, Collapsed>, ApiError> {
    let mut out = HashMap::new();
    // A version's id names its dataset or model, unless an `@` makes it ambiguous: a graph of
    // 12,000 versions looked up by key took 0.4 s. (Deployments match no kind below: they
    // collapse into nothing.)
    let mut ambiguous = Vec::new();
    for node in nodes.iter().filter(|n| !n.starts_with("run:")) {
        let owner = prov9_model::ids::version_owner(node);
        if let Some(dataset) = owner.filter(|o| o.starts_with("dataset:")) {
            out.insert(node.clone(), Collapsed::Dataset(dataset.to_string()));
        } else if let Some(model) = owner.and_then(|o| o.strip_prefix("model:")) {
            out.insert(node.clone(), Collapsed::Dataset(format!("dataset:{model}")));
        } else {
            ambiguous.push(node.as_str());
        }
    }
    // Per kind of node id looked up: its table, what each collapses into (`id`, `entity`), and
    // the column its key is in.
    type Into = fn(String) -> Collapsed;
    let kinds: [(&str, &str, &str, &str, Into); 3] = [
        (
            "dataset:",
            "dataset_versions",
            "version_id AS id, dataset_id AS entity",
            "version_id",
            Collapsed::Dataset,
        ),
        (
            "run:",
            "runs",
            "run_id AS id, job_id AS entity",
            "run_id",
            Collapsed::Job,
        ),
        (
            "model:",
            "model_versions",
            "version_id AS id, concat('dataset:', substr(model_id, 7)) AS entity",
            "version_id",
            Collapsed::Dataset,
        ),
    ];
    for (prefix, table, columns, key, into) in kinds {
        let ids = nodes
            .iter()
            .map(String::as_str)
            .filter(|n| n.starts_with("run:"))
            .chain(ambiguous.iter().copied())
            .filter(|n| n.starts_with(prefix));
        let keys = key_set(&marquez.engine, table, ids).await?;
        if keys.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {}",
            keys.condition(key)
        );
        for row in query_keys(&marquez.engine, &sql, &keys, "id").await? {
            if let (Some(id), Some(entity)) = (text(&row, "id"), text(&row, "entity")) {
                out.insert(id.to_string(), into(entity.to_string()));
            }
        }
    }
    Ok(out)
}

/// Each node's `data`, by node id.
async fn node_data(
    marquez: &Marquez,
    members: &BTreeSet<Collapsed>,
) -> Result<HashMap<String, NodeData>, ApiError> {
    let mut out = HashMap::with_capacity(members.len());
    let dataset_ids = members.iter().filter_map(|m| match m {
        Collapsed::Dataset(id) => Some(id.as_str()),
        _ => None,
    });
    let keys = key_set(&marquez.engine, "datasets", dataset_ids).await?;
    let sql = dataset_sql(&keys.condition("d.dataset_id"), "");
    let rows = query_keys(&marquez.engine, &sql, &keys, "dataset_id").await?;
    for row in &rows {
        out.insert(
            text(row, "dataset_id").unwrap_or_default().to_string(),
            NodeData::Dataset(Box::new(DatasetData::new(row, None))),
        );
    }
    let job_ids: Vec<&str> = members
        .iter()
        .filter_map(|m| match m {
            Collapsed::Job(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    for (id, job) in super::jobs::job_data(marquez, &job_ids).await? {
        out.insert(id, NodeData::Job(Box::new(job)));
    }
    Ok(out)
}
