//! Runs: `…/jobs/{job}/runs`, `/jobs/runs/{id}` and `/jobs/runs/{id}/facets`, and the Run
//! object every job carries. A Marquez run id is prov9's without the `run:` prefix.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::DateTime;
use serde_json::{Map, Value, json};

use super::rows::{Row, literal, query, query_keys, text, value};
use super::{ApiError, Marquez, Page};

/// The columns [`run_json`] reads, from `runs r JOIN jobs j`.
pub(crate) const RUN_COLUMNS: &str = "r.run_id, r.job_id, r.state, r.started_at, r.ended_at, \
     r.updated_at, j.namespace AS job_namespace, j.name AS job_name";

/// Marquez's run state for an OpenLineage event type.
pub(crate) fn marquez_state(event_type: &str) -> &'static str {
    match event_type {
        "COMPLETE" => "COMPLETED",
        "FAIL" => "FAILED",
        "ABORT" => "ABORTED",
        "START" | "RUNNING" => "RUNNING",
        _ => "OTHER",
    }
}

fn millis(ts: &Value) -> Option<i64> {
    DateTime::parse_from_rfc3339(ts.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The dataset versions runs read and wrote, by run id: (inputs, outputs).
pub(crate) type RunIo = HashMap<String, (Vec<Value>, Vec<Value>)>;

pub(crate) async fn run_io(marquez: &Marquez, run_ids: &[&str]) -> Result<RunIo, ApiError> {
    let mut io = RunIo::new();
    if run_ids.is_empty() {
        return Ok(io);
    }
    let keys = marquez.engine.key_set(run_ids.iter().copied()).await;
    let sql = format!(
        "SELECT e.dst AS run_id, 'input' AS side, d.namespace, d.name, v.version FROM lineage_edges e \
         JOIN dataset_versions v ON v.version_id = e.src JOIN datasets d ON d.dataset_id = v.dataset_id \
         WHERE e.edge_type = 'input' AND {} \
         UNION ALL \
         SELECT e.src, 'output', d.namespace, d.name, v.version FROM lineage_edges e \
         JOIN dataset_versions v ON v.version_id = e.dst JOIN datasets d ON d.dataset_id = v.dataset_id \
         WHERE e.edge_type = 'output' AND {} \
         ORDER BY 1, 2, 3, 4",
        keys.condition("e.dst"),
        keys.condition("e.src")
    );
    for row in query_keys(&marquez.engine, &sql, &keys, "run_id").await? {
        let Some(run) = text(&row, "run_id") else {
            continue;
        };
        let version = json!({
            "datasetVersionId": {
                "namespace": value(&row, "namespace"),
                "name": value(&row, "name"),
                "version": value(&row, "version"),
            },
            "facets": {},
        });
        let sides = io.entry(run.to_string()).or_default();
        match text(&row, "side") {
            Some("input") => sides.0.push(version),
            _ => sides.1.push(version),
        }
    }
    Ok(io)
}

/// A Marquez Run from a row of [`RUN_COLUMNS`].
pub(crate) fn run_json(row: &Row, io: &RunIo, facets: Value) -> Value {
    let id = text(row, "run_id").unwrap_or_default();
    let (started, ended, updated) = (
        value(row, "started_at"),
        value(row, "ended_at"),
        value(row, "updated_at"),
    );
    let first = |values: [&Value; 3]| {
        values
            .into_iter()
            .find(|v| !v.is_null())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let duration = match (millis(&started), millis(&ended)) {
        (Some(s), Some(e)) => json!(e - s),
        _ => Value::Null,
    };
    let (inputs, outputs) = io.get(id).cloned().unwrap_or_default();
    json!({
        "id": id.strip_prefix("run:").unwrap_or(id),
        "createdAt": first([&started, &updated, &ended]),
        "updatedAt": first([&updated, &ended, &started]),
        "nominalStartTime": null,
        "nominalEndTime": null,
        "state": marquez_state(text(row, "state").unwrap_or_default()),
        "startedAt": started,
        "endedAt": ended,
        "durationMs": duration,
        "args": {},
        "jobVersion": null,
        "inputDatasetVersions": inputs,
        "outputDatasetVersions": outputs,
        "context": {},
        "facets": facets,
    })
}

/// `GET /api/v1/namespaces/{ns}/jobs/{job}/runs`: newest first.
pub(crate) async fn of_job(
    State(marquez): State<Arc<Marquez>>,
    Path((namespace, job)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let job_id = super::jobs::existing_job(&marquez, &namespace, &job).await?;
    let limit = page.sql()?;
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.job_id = r.job_id \
             WHERE r.job_id = {} ORDER BY r.started_at DESC NULLS LAST, r.run_id {limit}",
            literal(&job_id)
        ),
    )
    .await?;
    let total = query(
        &marquez.engine,
        &format!(
            "SELECT count(*) AS n FROM runs WHERE job_id = {}",
            literal(&job_id)
        ),
    )
    .await?;
    let ids: Vec<&str> = rows.iter().filter_map(|r| text(r, "run_id")).collect();
    let io = run_io(&marquez, &ids).await?;
    let runs: Vec<Value> = rows.iter().map(|r| run_json(r, &io, json!({}))).collect();
    Ok(Json(
        json!({"runs": runs, "totalCount": value(&total[0], "n")}),
    ))
}

/// The facets a run's events sent, merged in event order (the later wins per facet name):
/// `run` or `job` facets.
async fn merged_facets(marquez: &Marquez, run_id: &str, of: &str) -> Result<Value, ApiError> {
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT payload FROM events WHERE run_id = {} ORDER BY event_time, event_id",
            literal(run_id)
        ),
    )
    .await?;
    let mut facets = Map::new();
    for row in rows {
        let Some(event) = text(&row, "payload").and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            continue;
        };
        if let Some(sent) = event[of]["facets"].as_object() {
            facets.extend(sent.clone());
        }
    }
    Ok(Value::Object(facets))
}

async fn existing_run(marquez: &Marquez, id: &str) -> Result<Row, ApiError> {
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.job_id = r.job_id WHERE r.run_id = {}",
            literal(&format!("run:{id}"))
        ),
    )
    .await?;
    rows.into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("Run '{id}' not found.")))
}

/// `GET /api/v1/jobs/runs/{id}`.
pub(crate) async fn one(
    State(marquez): State<Arc<Marquez>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let row = existing_run(&marquez, &id).await?;
    let run_id = format!("run:{id}");
    let io = run_io(&marquez, &[&run_id]).await?;
    let facets = merged_facets(&marquez, &run_id, "run").await?;
    Ok(Json(run_json(&row, &io, facets)))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct FacetsOf {
    #[serde(rename = "type")]
    of: Option<String>,
}

/// `GET /api/v1/jobs/runs/{id}/facets?type=run|job`.
pub(crate) async fn facets(
    State(marquez): State<Arc<Marquez>>,
    Path(id): Path<String>,
    Query(FacetsOf { of }): Query<FacetsOf>,
) -> Result<Json<Value>, ApiError> {
    let of = match of.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("run") => "run",
        Some("job") => "job",
        Some("dataset") => "",
        _ => {
            return Err(ApiError::bad_request(
                "query param type must be one of [RUN, JOB, DATASET]",
            ));
        }
    };
    existing_run(&marquez, &id).await?;
    let facets = match of {
        "" => json!({}),
        of => merged_facets(&marquez, &format!("run:{id}"), of).await?,
    };
    Ok(Json(json!({"runId": id, "facets": facets})))
}
