//! The walk a drawing shows: the lineage table functions' rows for a node, asked of the query
//! engine in SQL (so a drawing holds exactly what `lineage_upstream` / `lineage_downstream`
//! answer), each node then named as `lineage_nodes` names it.
//!
//! Names come from key lookups of the nodes reached (`dataset_versions`, `runs`, …, by key; a
//! table is read whole when the walk reached many of its rows), not from joining the
//! `lineage_nodes` view, which gathers every node id of `lineage_edges` first: on a warehouse
//! of a million edges that took seconds per drawing.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use prov9_query::{Engine, QueryError, string_literal as literal};

use crate::{Direction, Edge, LineageGraph, Node};

/// Why a walk has no graph.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error(
        "{0} is not in the lineage graph; node ids look like dataset:<namespace>:<name>@<version>, \
         run:<run id>, model:<namespace>:<name>@<version> (list them: SELECT node_id, kind, name FROM lineage_nodes)"
    )]
    UnknownNode(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// The node's graph: `lineage_upstream` / `lineage_downstream` rows, named.
pub async fn walk(
    engine: &Engine,
    node: &str,
    directions: &[Direction],
    depth: Option<u32>,
) -> Result<LineageGraph, WalkError> {
    let mut reached: Vec<(Direction, i64, Edge, String)> = Vec::new();
    for &direction in directions {
        let function = match direction {
            Direction::Downstream => "lineage_downstream",
            _ => "lineage_upstream",
        };
        let call = match depth {
            Some(d) => format!("{function}({}, {d})", literal(node)),
            None => format!("{function}({})", literal(node)),
        };
        let sql = format!(
            "SELECT node, depth, src, dst, edge_type, run_id FROM {call} ORDER BY depth, node"
        );
        let (_, batches) = engine.query(&sql).await?;
        for batch in &batches {
            let text = Texts::of(batch);
            for row in 0..batch.num_rows() {
                let depth = text.get(1, row).and_then(|d| d.parse().ok()).unwrap_or(0);
                let edge = Edge {
                    src: text.get(2, row).unwrap_or_default(),
                    dst: text.get(3, row).unwrap_or_default(),
                    edge_type: text.get(4, row).unwrap_or_default(),
                    run_id: text.get(5, row),
                };
                let id = text.get(0, row).unwrap_or_default();
                reached.push((direction, depth, edge, id));
            }
        }
    }
    if reached.is_empty() && !has_edges(engine, node).await? {
        return Err(WalkError::UnknownNode(node.to_string()));
    }
    let ids = std::iter::once(node).chain(reached.iter().map(|r| r.3.as_str()));
    let names = describe(engine, ids).await?;
    let named = |id: String, depth: i64, direction: Direction| {
        let name = names.get(&id).cloned().unwrap_or_default();
        Node {
            id,
            kind: name.kind,
            namespace: name.namespace,
            name: name.name,
            version: name.version,
            depth,
            direction,
        }
    };
    let mut graph = LineageGraph::new(named(node.to_string(), 0, Direction::Start));
    for (direction, depth, edge, id) in reached {
        graph.reach(named(id, depth, direction), edge);
    }
    Ok(graph)
}

/// Whether `node` is in `lineage_edges` at all (a node with an edge has a neighbour one hop
/// up or down), asked of the lineage index.
async fn has_edges(engine: &Engine, node: &str) -> Result<bool, WalkError> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT node FROM lineage_upstream({n}, 1) \
         UNION ALL SELECT node FROM lineage_downstream({n}, 1))",
        n = literal(node)
    );
    let (_, batches) = engine.query(&sql).await?;
    let count = batches
        .first()
        .and_then(|b| Texts::of(b).get(0, 0))
        .and_then(|n| n.parse::<u64>().ok());
    Ok(count.unwrap_or(0) > 0)
}

/// What `lineage_nodes` says of a node.
#[derive(Debug, Clone, Default)]
struct Described {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    version: Option<String>,
}

/// `lineage_nodes`' kind, namespace, name and version of each id, by key lookups per kind of
/// id (an id no table describes is absent).
async fn describe<'a>(
    engine: &Engine,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Described>, WalkError> {
    let ids: Vec<&str> = ids.collect();
    let with_prefix = |prefix: &str| -> Vec<&str> {
        ids.iter()
            .copied()
            .filter(|i| i.starts_with(prefix))
            .collect()
    };
    let mut out = HashMap::new();
    // Versions and runs name the dataset or job they belong to: looked up by key in turn.
    let versions = rows(
        engine,
        "dataset_versions",
        &["version_id", "dataset_id", "version"],
        &with_prefix("dataset:"),
    )
    .await?;
    let runs = rows(engine, "runs", &["run_id", "job_id"], &with_prefix("run:")).await?;
    let datasets = owner_names(engine, "datasets", "dataset_id", &versions).await?;
    let jobs = owner_names(engine, "jobs", "job_id", &runs).await?;
    for v in &versions {
        let (namespace, name) = datasets.get(&v[1]).cloned().unwrap_or_default();
        out.insert(
            v[0].clone().unwrap_or_default(),
            Described {
                kind: Some("dataset_version".into()),
                namespace,
                name,
                version: v[2].clone(),
            },
        );
    }
    for r in &runs {
        let (namespace, name) = jobs.get(&r[1]).cloned().unwrap_or_default();
        out.insert(
            r[0].clone().unwrap_or_default(),
            Described {
                kind: Some("run".into()),
                namespace,
                name,
                version: None,
            },
        );
    }
    let models = rows(
        engine,
        "model_versions",
        &["version_id", "namespace", "name", "version"],
        &with_prefix("model:"),
    )
    .await?;
    let deployments = rows(
        engine,
        "deployments",
        &["deployment_id", "environment", "target", "NULL"],
        &with_prefix("deployment:"),
    )
    .await?;
    for (kind, found) in [("model_version", models), ("deployment", deployments)] {
        for m in found {
            out.insert(
                m[0].clone().unwrap_or_default(),
                Described {
                    kind: Some(kind.into()),
                    namespace: m[1].clone(),
                    name: m[2].clone(),
                    version: m[3].clone(),
                },
            );
        }
    }
    Ok(out)
}

/// (namespace, name) of the datasets or jobs the looked-up rows name in their second column.
async fn owner_names(
    engine: &Engine,
    table: &str,
    key: &str,
    rows_naming: &[Vec<Option<String>>],
) -> Result<HashMap<Option<String>, (Option<String>, Option<String>)>, WalkError> {
    let owners: Vec<&str> = rows_naming.iter().filter_map(|r| r[1].as_deref()).collect();
    Ok(rows(engine, table, &[key, "namespace", "name"], &owners)
        .await?
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
        .collect())
}

/// `columns` of `table`'s rows whose key (`columns[0]`) is one of `keys`, every column as text;
/// nothing for no keys. Many keys read the table whole (see [`prov9_query::KeySet`]): a
/// 50,000-node walk looked up row by row took seconds.
async fn rows(
    engine: &Engine,
    table: &str,
    columns: &[&str],
    keys: &[&str],
) -> Result<Vec<Vec<Option<String>>>, WalkError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let key = columns[0];
    let keys = engine.key_set(table, keys.iter().copied()).await?;
    let sql = format!(
        "SELECT {} FROM {table} WHERE {}",
        columns.join(", "),
        keys.condition(key)
    );
    let (_, batches) = engine.query_keys(&sql, &keys, key).await?;
    let mut out = Vec::new();
    for batch in &batches {
        let text = Texts::of(batch);
        for row in 0..batch.num_rows() {
            out.push((0..batch.num_columns()).map(|c| text.get(c, row)).collect());
        }
    }
    Ok(out)
}

/// A batch's columns as text, cast once (casting per cell made a walk quadratic).
struct Texts(Vec<Option<arrow::array::ArrayRef>>);

impl Texts {
    fn of(batch: &RecordBatch) -> Texts {
        Texts(
            batch
                .columns()
                .iter()
                .map(|c| arrow::compute::cast(c, &DataType::Utf8).ok())
                .collect(),
        )
    }

    fn get(&self, column: usize, row: usize) -> Option<String> {
        let array = self.0.get(column)?.as_ref()?.as_string::<i32>();
        (!array.is_null(row)).then(|| array.value(row).to_string())
    }
}
