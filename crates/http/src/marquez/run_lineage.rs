//! `GET /api/v1/runlineage/upstream?runId=&depth=`: a run, the runs that wrote what it read,
//! and so on up, `depth` runs deep (default 20) — walked on the lineage index (a run two hops
//! up is the writer of one of its inputs).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use prov9_query::lineage::Direction;
use serde_json::{Value, json};

use super::rows::{Row, key_set, query_keys, text, value};
use super::runs::marquez_state;
use super::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunLineageQuery {
    run_id: Option<String>,
    depth: Option<u32>,
}

pub(crate) async fn upstream(
    State(marquez): State<Arc<Marquez>>,
    Query(q): Query<RunLineageQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = super::required(q.run_id, "runId")?;
    let start = format!("run:{id}");
    let depth = q.depth.unwrap_or(super::DEFAULT_DEPTH);
    let mut runs = vec![start.clone()];
    {
        let graph = marquez.lineage_graph().await?;
        if let Some(node) = graph.node(&start) {
            for r in graph.traverse(node, Direction::Upstream, Some(2 * depth)) {
                let name = graph.name(r.node);
                if name.starts_with("run:") {
                    runs.push(name.to_string());
                }
            }
        }
    }
    let keys = key_set(&marquez.engine, "runs", runs.iter().map(String::as_str)).await?;
    let rows = query_keys(
        &marquez.engine,
        &format!(
            "SELECT r.run_id, r.state, r.started_at, r.ended_at, j.namespace, j.name \
             FROM runs r JOIN jobs j ON j.job_id = r.job_id WHERE {}",
            keys.condition("r.run_id")
        ),
        &keys,
        "run_id",
    )
    .await?;
    if !rows
        .iter()
        .any(|r| text(r, "run_id") == Some(start.as_str()))
    {
        return Err(ApiError::not_found(format!("Run '{id}' not found.")));
    }
    let inputs = query_keys(
        &marquez.engine,
        &format!(
            "SELECT e.dst AS run_id, d.namespace, d.name, v.version, v.created_by_run \
             FROM lineage_edges e JOIN dataset_versions v ON v.version_id = e.src \
             JOIN datasets d ON d.dataset_id = v.dataset_id \
             WHERE e.edge_type = 'input' AND {} ORDER BY d.namespace, d.name",
            keys.condition("e.dst")
        ),
        &keys,
        "run_id",
    )
    .await?;
    let strip = |run: Option<&str>| run.map(|r| r.strip_prefix("run:").unwrap_or(r).to_string());
    let row_of: HashMap<&str, &Row> = rows
        .iter()
        .filter_map(|r| Some((text(r, "run_id")?, r)))
        .collect();
    let mut inputs_of: HashMap<&str, Vec<&Row>> = HashMap::new();
    for input in &inputs {
        if let Some(run) = text(input, "run_id") {
            inputs_of.entry(run).or_default().push(input);
        }
    }
    // The requested run first, then the others in the order the walk reached them.
    let mut out = Vec::new();
    for run_id in &runs {
        let Some(row) = row_of.get(run_id.as_str()) else {
            continue;
        };
        let read: Vec<Value> = inputs_of
            .get(run_id.as_str())
            .into_iter()
            .flatten()
            .map(|i| {
                json!({
                    "namespace": value(i, "namespace"),
                    "name": value(i, "name"),
                    "version": value(i, "version"),
                    "producedByRunId": strip(text(i, "created_by_run")),
                })
            })
            .collect();
        out.push(json!({
            "job": {"namespace": value(row, "namespace"), "name": value(row, "name"), "version": null},
            "run": {
                "id": strip(Some(run_id)),
                "start": value(row, "started_at"),
                "end": value(row, "ended_at"),
                "status": marquez_state(text(row, "state").unwrap_or_default()),
            },
            "inputs": read,
        }));
    }
    Ok(Json(json!({ "runs": out })))
}
