//! `/node?id=…&depth=N`: one node's graph and what it is.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use prov9_graph::{Direction, Limits, WalkError, walk, xml};

use super::{node_link, page, table};
use crate::marquez::rows::{Row, literal, query, text};
use crate::marquez::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
pub(crate) struct NodeQuery {
    id: Option<String>,
    depth: Option<u32>,
}

/// Hops drawn each way unless the page asks for more.
const DEFAULT_DEPTH: u32 = 3;
/// Rows of a node's runs or versions.
const LISTED: usize = 20;

fn cell(row: &Row, column: &str) -> String {
    xml(text(row, column).unwrap_or(""))
}

pub(crate) async fn node(
    State(marquez): State<Arc<Marquez>>,
    Query(q): Query<NodeQuery>,
) -> Result<Html<String>, ApiError> {
    let id = q.id.unwrap_or_default();
    let depth = q.depth.unwrap_or(DEFAULT_DEPTH);
    let graph = match walk(
        &marquez.engine,
        &id,
        &[Direction::Upstream, Direction::Downstream],
        Some(depth),
    )
    .await
    {
        Ok(graph) => graph,
        Err(e @ WalkError::UnknownNode(_)) => return Err(ApiError::not_found(e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let start = graph.start();
    let limits = Limits {
        max_per_column: 40,
        link_prefix: Some(format!("/node?depth={depth}&id=")),
    };
    let depths: Vec<String> = [1, 2, 3, 5, 10]
        .iter()
        .map(|d| {
            let link = format!(
                r#"<a href="/node?depth={d}&amp;id={}">{d}</a>"#,
                prov9_graph::percent_encode(&id)
            );
            if *d == depth {
                format!("<b>{link}</b>")
            } else {
                link
            }
        })
        .collect();
    let mut body = format!(
        r#"<p class="muted">{kind} · <code>{id}</code> · {up} upstream, {down} downstream · depth {depths}</p>
<div class="graph">{svg}</div>"#,
        kind = xml(start.kind_or_other()),
        id = xml(&id),
        up = graph
            .nodes
            .iter()
            .filter(|n| n.direction == Direction::Upstream)
            .count(),
        down = graph
            .nodes
            .iter()
            .filter(|n| n.direction == Direction::Downstream)
            .count(),
        depths = depths.join(" "),
        svg = graph.svg(&limits),
    );
    let details = match start.kind_or_other() {
        "run" => run_details(&marquez, &id).await?,
        "dataset_version" => dataset_details(&marquez, &id).await?,
        "model_version" => model_details(&marquez, &id).await?,
        _ => String::new(),
    };
    body.push_str(&details);
    Ok(page(&start.label(), &body))
}

/// A run: its job's runs, newest first, with states, times and errors.
async fn run_details(marquez: &Marquez, run_id: &str) -> Result<String, ApiError> {
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT r.run_id, r.state, CAST(r.started_at AS VARCHAR) AS started, \
             CAST(r.ended_at AS VARCHAR) AS ended, r.error_message, j.namespace || ':' || j.name AS job \
             FROM runs r JOIN jobs j ON j.job_id = r.job_id \
             WHERE r.job_id = (SELECT job_id FROM runs WHERE run_id = {}) \
             ORDER BY r.started_at DESC NULLS LAST LIMIT {LISTED}",
            literal(run_id)
        ),
    )
    .await?;
    let job = rows.first().map(|r| cell(r, "job")).unwrap_or_default();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let id = text(r, "run_id").unwrap_or_default();
            let state = text(r, "state").unwrap_or_default();
            let this = if id == run_id { " (this run)" } else { "" };
            vec![
                format!(
                    "{}{this}",
                    node_link(id, id.strip_prefix("run:").unwrap_or(id))
                ),
                format!(r#"<span class="state-{0}">{0}</span>"#, xml(state)),
                cell(r, "started"),
                cell(r, "ended"),
                cell(r, "error_message"),
            ]
        })
        .collect();
    Ok(format!(
        "<h2>Runs of {job}</h2>{}",
        table(&["run", "state", "started", "ended", "error"], &cells)
    ))
}

/// A dataset version: the dataset's versions, newest first, and who wrote each.
async fn dataset_details(marquez: &Marquez, version_id: &str) -> Result<String, ApiError> {
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT v.version_id, v.version, CAST(v.created_at AS VARCHAR) AS created, \
             CAST(v.row_count AS VARCHAR) AS row_count, v.created_by_run \
             FROM dataset_versions v \
             WHERE v.dataset_id = (SELECT dataset_id FROM dataset_versions WHERE version_id = {}) \
             ORDER BY v.created_at DESC LIMIT {LISTED}",
            literal(version_id)
        ),
    )
    .await?;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let id = text(r, "version_id").unwrap_or_default();
            vec![
                node_link(id, text(r, "version").unwrap_or_default()),
                cell(r, "created"),
                cell(r, "row_count"),
                text(r, "created_by_run")
                    .map(|run| node_link(run, run.strip_prefix("run:").unwrap_or(run)))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    Ok(format!(
        "<h2>Versions</h2>{}",
        table(&["version", "created", "rows", "written by"], &cells)
    ))
}

/// A model version: the data its training run read, its metrics, its deployments.
async fn model_details(marquez: &Marquez, version_id: &str) -> Result<String, ApiError> {
    let id = literal(version_id);
    let training = query(
        &marquez.engine,
        &format!(
            "SELECT e.src AS version_id, d.namespace || ':' || d.name || '@' || v.version AS label \
             FROM model_versions m JOIN lineage_edges e ON e.dst = m.training_run_id AND e.edge_type = 'input' \
             JOIN dataset_versions v ON v.version_id = e.src JOIN datasets d ON d.dataset_id = v.dataset_id \
             WHERE m.version_id = {id} ORDER BY label"
        ),
    )
    .await?;
    let metrics = query(
        &marquez.engine,
        &format!(
            "SELECT \"key\", CAST(value AS VARCHAR) AS value, run_id, \
             COALESCE(dataset_version_id, '') AS dataset_version_id \
             FROM metrics WHERE model_version_id = {id} ORDER BY \"key\", run_id"
        ),
    )
    .await?;
    let deployments = query(
        &marquez.engine,
        &format!(
            "SELECT deployment_id, environment, target, status, CAST(deployed_at AS VARCHAR) AS deployed \
             FROM deployments WHERE model_version_id = {id} ORDER BY deployed_at DESC"
        ),
    )
    .await?;
    let training: Vec<Vec<String>> = training
        .iter()
        .map(|r| {
            vec![node_link(
                text(r, "version_id").unwrap_or_default(),
                text(r, "label").unwrap_or_default(),
            )]
        })
        .collect();
    let metrics: Vec<Vec<String>> = metrics
        .iter()
        .map(|r| {
            let run = text(r, "run_id").unwrap_or_default();
            let data = text(r, "dataset_version_id").unwrap_or_default();
            vec![
                cell(r, "key"),
                cell(r, "value"),
                node_link(run, run.strip_prefix("run:").unwrap_or(run)),
                if data.is_empty() {
                    String::new()
                } else {
                    node_link(data, data)
                },
            ]
        })
        .collect();
    let deployments: Vec<Vec<String>> = deployments
        .iter()
        .map(|r| {
            vec![
                node_link(
                    text(r, "deployment_id").unwrap_or_default(),
                    text(r, "environment").unwrap_or_default(),
                ),
                cell(r, "target"),
                cell(r, "status"),
                cell(r, "deployed"),
            ]
        })
        .collect();
    Ok(format!(
        "<h2>Trained on</h2>{}<h2>Metrics</h2>{}<h2>Deployments</h2>{}",
        table(&["dataset version"], &training),
        table(&["metric", "value", "run", "on"], &metrics),
        table(
            &["environment", "target", "status", "deployed"],
            &deployments
        ),
    ))
}
