//! `GET /api/v1/column-lineage?nodeId=&depth=&withDownstream=`: the column-level graph around a
//! dataset's fields (`dataset:<ns>:<name>`) or one field (`datasetField:<ns>:<name>:<field>`),
//! from `column_lineage` with versions collapsed into their datasets. Upstream always,
//! downstream with `withDownstream=true`, `depth` field hops (default 20).
//!
//! As in Marquez, a node's `inEdges` point from itself to the fields it came from: Marquez's UI
//! follows `destination` in both lists.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::rows::{key_set, query, query_keys, text};
use super::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ColumnLineageQuery {
    node_id: Option<String>,
    depth: Option<u32>,
    with_downstream: Option<bool>,
}

/// A field: (namespace, dataset name, field name).
type Field = (String, String, String);

/// A field a field was made from, and how (the transformation).
type Input = (Field, Option<String>);

fn field_id((namespace, dataset, field): &Field) -> String {
    format!("datasetField:{namespace}:{dataset}:{field}")
}

/// One collapsed column edge, from an input field to the field made from it.
struct ColumnEdge {
    from: Field,
    to: Field,
    transformation: Option<String>,
}

/// `DIRECT/IDENTITY` -> (description, type): OpenLineage's type and subtype, as Marquez shows.
fn transformation(transformation: &Option<String>) -> (Value, Value) {
    match transformation {
        Some(t) => {
            let kind = t.split('/').next().unwrap_or(t);
            (json!(t), json!(kind))
        }
        None => (Value::Null, Value::Null),
    }
}

/// Every column edge between datasets (versions collapsed): the route's graph, and each
/// dataset's `columnLineage`.
const COLUMN_EDGES: &str = "SELECT DISTINCT s.namespace AS src_namespace, s.name AS src_name, \
     c.src_column, dv.dataset_id AS dst_dataset_id, d.namespace AS dst_namespace, \
     d.name AS dst_name, c.dst_column, c.transformation FROM column_lineage c \
     JOIN dataset_versions sv ON sv.version_id = c.src_dataset_version \
     JOIN datasets s ON s.dataset_id = sv.dataset_id \
     JOIN dataset_versions dv ON dv.version_id = c.dst_dataset_version \
     JOIN datasets d ON d.dataset_id = dv.dataset_id";

pub(crate) async fn column_lineage(
    State(marquez): State<Arc<Marquez>>,
    Query(q): Query<ColumnLineageQuery>,
) -> Result<Json<Value>, ApiError> {
    let node_id = super::required(q.node_id, "nodeId")?;
    let downstream = q.with_downstream.unwrap_or(false);
    if node_id.contains('#') && downstream {
        return Err(ApiError::bad_request(
            "withDownstream is not supported for a versioned node",
        ));
    }
    let depth = q.depth.unwrap_or(super::DEFAULT_DEPTH) as usize;
    let entity = node_id.split('#').next().unwrap_or_default();
    let rows = query(&marquez.engine, COLUMN_EDGES).await?;
    let field = |row, side: &str| -> Option<Field> {
        Some((
            text(row, &format!("{side}_namespace"))?.to_string(),
            text(row, &format!("{side}_name"))?.to_string(),
            text(row, &format!("{side}_column"))?.to_string(),
        ))
    };
    let edges: Vec<ColumnEdge> = rows
        .iter()
        .filter_map(|r| {
            Some(ColumnEdge {
                from: field(r, "src")?,
                to: field(r, "dst")?,
                transformation: text(r, "transformation").map(str::to_string),
            })
        })
        .collect();
    let matches = |f: &Field| field_id(f) == entity || format!("dataset:{}:{}", f.0, f.1) == entity;
    let starts: BTreeSet<Field> = edges
        .iter()
        .flat_map(|e| [&e.from, &e.to])
        .filter(|f| matches(f))
        .cloned()
        .collect();
    if starts.is_empty() {
        return Err(ApiError::not_found("Could not find node"));
    }
    // Each field's edges in and out, so the walk and the graph look up, not scan.
    let mut into: HashMap<&Field, Vec<&ColumnEdge>> = HashMap::new();
    let mut out_of: HashMap<&Field, Vec<&ColumnEdge>> = HashMap::new();
    for e in &edges {
        into.entry(&e.to).or_default().push(e);
        out_of.entry(&e.from).or_default().push(e);
    }
    // Breadth first, upstream (and downstream), `depth` hops.
    let mut reached: BTreeSet<Field> = starts.clone();
    let mut frontier: VecDeque<(Field, usize)> = starts.into_iter().map(|f| (f, 0)).collect();
    while let Some((f, hops)) = frontier.pop_front() {
        if hops == depth {
            continue;
        }
        let read_from = edges_of(&into, &f).iter().map(|e| &e.from);
        let written_to = edges_of(&out_of, &f)
            .iter()
            .filter(|_| downstream)
            .map(|e| &e.to);
        for next in read_from.chain(written_to) {
            if reached.insert(next.clone()) {
                frontier.push_back((next.clone(), hops + 1));
            }
        }
    }
    let mut graph: BTreeMap<String, Value> = BTreeMap::new();
    for f in &reached {
        let id = field_id(f);
        let inputs = edges_of(&into, f);
        let input_fields: Vec<Value> = inputs
            .iter()
            .map(|e| {
                let (description, kind) = transformation(&e.transformation);
                json!({
                    "namespace": e.from.0, "dataset": e.from.1, "datasetVersion": null,
                    "field": e.from.2, "transformationDescription": description,
                    "transformationType": kind,
                })
            })
            .collect();
        let (description, kind) = inputs
            .first()
            .map(|e| transformation(&e.transformation))
            .unwrap_or((Value::Null, Value::Null));
        let edge = |other: &Field| json!({"origin": id, "destination": field_id(other)});
        let in_edges: Vec<Value> = inputs
            .iter()
            .filter(|e| reached.contains(&e.from))
            .map(|e| edge(&e.from))
            .collect();
        let out_edges: Vec<Value> = edges_of(&out_of, f)
            .iter()
            .filter(|e| reached.contains(&e.to))
            .map(|e| edge(&e.to))
            .collect();
        graph.insert(
            id.clone(),
            json!({
                "id": id,
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": f.0, "dataset": f.1, "datasetVersion": null, "field": f.2,
                    "fieldType": "", "transformationDescription": description,
                    "transformationType": kind, "inputFields": input_fields,
                },
                "inEdges": in_edges,
                "outEdges": out_edges,
            }),
        );
    }
    Ok(Json(
        json!({"graph": graph.into_values().collect::<Vec<_>>()}),
    ))
}

/// A field's edges in `map` (into it or out of it).
fn edges_of<'m, 'e>(
    map: &'m HashMap<&Field, Vec<&'e ColumnEdge>>,
    f: &Field,
) -> &'m [&'e ColumnEdge] {
    map.get(f).map_or(&[], Vec::as_slice)
}

/// Each dataset's `columnLineage` as Marquez's dataset routes give it: every field made from
/// other fields, with those inputs (one hop, versions collapsed); datasets with none are absent.
pub(crate) async fn fields_lineage(
    marquez: &Marquez,
    dataset_ids: &[&str],
) -> Result<HashMap<String, Value>, ApiError> {
    let keys = key_set(
        &marquez.engine,
        "column_lineage",
        dataset_ids.iter().copied(),
    )
    .await?;
    let sql = format!(
        "SELECT dst_dataset_id AS dataset_id, dst_column, src_namespace AS namespace, \
         src_name AS name, src_column, transformation FROM ({COLUMN_EDGES}) e \
         WHERE {} ORDER BY 1, 2, 3, 4, 5",
        keys.condition("e.dst_dataset_id")
    );
    let rows = query_keys(&marquez.engine, &sql, &keys, "dataset_id").await?;
    // dataset -> field -> its input edges, in the rows' order.
    let mut inputs: BTreeMap<&str, BTreeMap<&str, Vec<Input>>> = BTreeMap::new();
    for row in &rows {
        let (Some(dataset), Some(field), Some(namespace), Some(name), Some(source)) = (
            text(row, "dataset_id"),
            text(row, "dst_column"),
            text(row, "namespace"),
            text(row, "name"),
            text(row, "src_column"),
        ) else {
            continue;
        };
        let from = (namespace.to_string(), name.to_string(), source.to_string());
        let transformation = text(row, "transformation").map(str::to_string);
        inputs
            .entry(dataset)
            .or_default()
            .entry(field)
            .or_default()
            .push((from, transformation));
    }
    Ok(inputs
        .into_iter()
        .map(|(dataset, fields)| {
            let fields: Vec<Value> = fields
                .into_iter()
                .map(|(field, edges)| {
                    let input_fields: Vec<Value> = edges
                        .iter()
                        .map(|(from, how)| {
                            let (description, kind) = transformation(how);
                            json!({
                                "namespace": from.0, "dataset": from.1, "field": from.2,
                                "transformationDescription": description,
                                "transformationType": kind,
                            })
                        })
                        .collect();
                    let (description, kind) = edges
                        .first()
                        .map(|(_, how)| transformation(how))
                        .unwrap_or((Value::Null, Value::Null));
                    json!({
                        "name": field,
                        "inputFields": input_fields,
                        "transformationDescription": description,
                        "transformationType": kind,
                    })
                })
                .collect();
            (dataset.to_string(), Value::Array(fields))
        })
        .collect())
}
