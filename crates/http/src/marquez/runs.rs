//! Runs: `…/jobs/{job}/runs`, `/jobs/runs/{id}` and `/jobs/runs/{id}/facets`, and the Run
//! object every job carries. A Marquez run id is prov9's without the `run:` prefix.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::DateTime;
use prov9_query::lineage::Direction;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::rows::{Row, key_set, literal, query, query_keys, text, value};
use super::{ApiError, Empty, Marquez, Page};

/// The columns [`Run::new`] reads, from `runs r JOIN jobs j`.
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

/// A dataset version a run read or wrote, as Marquez's Run lists them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunDatasetVersion {
    pub dataset_version_id: DatasetVersionId,
    facets: Empty,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DatasetVersionId {
    pub namespace: Value,
    pub name: Value,
    version: Value,
}

/// The dataset versions runs read and wrote, by run id: (inputs, outputs).
pub(crate) type RunIo = HashMap<String, (Vec<RunDatasetVersion>, Vec<RunDatasetVersion>)>;

/// The dataset versions each run read and wrote, from the lineage index: a join of the edges
/// with every dataset version took 0.25 s for 350 runs of a month's warehouse.
pub(crate) async fn run_io(marquez: &Marquez, run_ids: &[&str]) -> Result<RunIo, ApiError> {
    let mut io = RunIo::new();
    if run_ids.is_empty() {
        return Ok(io);
    }
    // (run, is output, dataset version) per edge; model versions are not datasets here.
    let mut edges: Vec<(&str, bool, String)> = Vec::new();
    {
        let graph = marquez.lineage_graph().await?;
        for &run in run_ids {
            let Some(node) = graph.node(run) else {
                continue;
            };
            for (direction, side, output) in [
                (Direction::Upstream, "input", false),
                (Direction::Downstream, "output", true),
            ] {
                for hop in graph.adjacent(node, direction) {
                    let far = graph.name(hop.far);
                    if far.starts_with("dataset:")
                        && graph.edge_type(graph.edge(hop.edge)).as_ref() == side
                    {
                        edges.push((run, output, far.to_string()));
                    }
                }
            }
        }
    }
    let versions = dataset_versions(marquez, edges.iter().map(|e| e.2.as_str())).await?;
    let mut rows: Vec<(&str, bool, &(Value, Value, Value))> = edges
        .iter()
        .filter_map(|(run, output, version)| Some((*run, *output, versions.get(version)?)))
        .collect();
    // In the order Marquez lists them: by run, inputs first, then by namespace, name, version.
    rows.sort_by(|(run_a, out_a, a), (run_b, out_b, b)| {
        (run_a, out_a, a.0.as_str(), a.1.as_str(), a.2.as_str()).cmp(&(
            run_b,
            out_b,
            b.0.as_str(),
            b.1.as_str(),
            b.2.as_str(),
        ))
    });
    for (run, output, (namespace, name, version)) in rows {
        let version = RunDatasetVersion {
            dataset_version_id: DatasetVersionId {
                namespace: namespace.clone(),
                name: name.clone(),
                version: version.clone(),
            },
            facets: Empty {},
        };
        let sides = io.entry(run.to_string()).or_default();
        match output {
            false => sides.0.push(version),
            true => sides.1.push(version),
        }
    }
    Ok(io)
}

/// Dataset version id -> (namespace, name, version). The version and its dataset are read off
/// the id when it is unambiguous ([`prov9_model::ids::version_owner`]), else looked up.
async fn dataset_versions<'a>(
    marquez: &Marquez,
    version_ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, (Value, Value, Value)>, ApiError> {
    let mut owners: HashMap<&str, (String, String)> = HashMap::new();
    let mut ambiguous = Vec::new();
    for id in version_ids {
        match prov9_model::ids::version_owner(id) {
            Some(dataset) => {
                let version = &id[dataset.len() + 1..];
                owners.insert(id, (dataset.to_string(), version.to_string()));
            }
            None => ambiguous.push(id),
        }
    }
    let keys = key_set(
        &marquez.engine,
        "dataset_versions",
        ambiguous.iter().copied(),
    )
    .await?;
    let sql = format!(
        "SELECT version_id, dataset_id, version FROM dataset_versions WHERE {}",
        keys.condition("version_id")
    );
    let looked_up = query_keys(&marquez.engine, &sql, &keys, "version_id").await?;
    let ambiguous: HashSet<&str> = ambiguous.into_iter().collect();
    for row in &looked_up {
        if let (Some(id), Some(dataset), Some(version)) = (
            text(row, "version_id").and_then(|v| ambiguous.get(v).copied()),
            text(row, "dataset_id"),
            text(row, "version"),
        ) {
            owners.insert(id, (dataset.to_string(), version.to_string()));
        }
    }
    let keys = key_set(
        &marquez.engine,
        "datasets",
        owners.values().map(|(d, _)| d.as_str()),
    )
    .await?;
    let sql = format!(
        "SELECT dataset_id, namespace, name FROM datasets WHERE {}",
        keys.condition("dataset_id")
    );
    let datasets: HashMap<String, (Value, Value)> =
        query_keys(&marquez.engine, &sql, &keys, "dataset_id")
            .await?
            .iter()
            .filter_map(|r| {
                let id = text(r, "dataset_id")?.to_string();
                Some((id, (value(r, "namespace"), value(r, "name"))))
            })
            .collect();
    Ok(owners
        .into_iter()
        .filter_map(|(id, (dataset, version))| {
            let (namespace, name) = datasets.get(&dataset)?.clone();
            Some((id.to_string(), (namespace, name, Value::String(version))))
        })
        .collect())
}

/// Marquez's Run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Run {
    pub id: String,
    created_at: Value,
    updated_at: Value,
    nominal_start_time: (),
    nominal_end_time: (),
    state: &'static str,
    started_at: Value,
    ended_at: Value,
    duration_ms: Option<i64>,
    args: Empty,
    job_version: (),
    pub input_dataset_versions: Vec<RunDatasetVersion>,
    pub output_dataset_versions: Vec<RunDatasetVersion>,
    context: Empty,
    facets: Value,
}

impl Run {
    /// The run of a row of [`RUN_COLUMNS`], with its I/O from `io`.
    pub(crate) fn new(row: &Row, io: &RunIo, facets: Value) -> Run {
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
            (Some(s), Some(e)) => Some(e - s),
            _ => None,
        };
        let (inputs, outputs) = io.get(id).cloned().unwrap_or_default();
        Run {
            id: id.strip_prefix("run:").unwrap_or(id).to_string(),
            created_at: first([&started, &updated, &ended]),
            updated_at: first([&updated, &ended, &started]),
            nominal_start_time: (),
            nominal_end_time: (),
            state: marquez_state(text(row, "state").unwrap_or_default()),
            started_at: started,
            ended_at: ended,
            duration_ms: duration,
            args: Empty {},
            job_version: (),
            input_dataset_versions: inputs,
            output_dataset_versions: outputs,
            context: Empty {},
            facets,
        }
    }
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
    let runs: Vec<Run> = rows.iter().map(|r| Run::new(r, &io, json!({}))).collect();
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
) -> Result<Json<Run>, ApiError> {
    let row = existing_run(&marquez, &id).await?;
    let run_id = format!("run:{id}");
    let io = run_io(&marquez, &[&run_id]).await?;
    let facets = merged_facets(&marquez, &run_id, "run").await?;
    Ok(Json(Run::new(&row, &io, facets)))
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
