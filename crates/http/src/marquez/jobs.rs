//! Jobs: `/jobs`, `/namespaces/{ns}/jobs` (newest first, `lastRunStates` filter) and
//! `/namespaces/{ns}/jobs/{job}`, each with its latest run and up to ten latest runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use serde_json::{Value, json};

use super::rows::{Row, key_set, literal, query, query_keys, text, value};
use super::runs::{RUN_COLUMNS, Run, RunDatasetVersion, run_io};
use super::with_models::DATASETS;
use super::{ApiError, Empty, EntityId, Marquez};

/// The time Marquez would show for something prov9 has no time for (a job never run).
pub(crate) const NO_TIME: &str = "1970-01-01T00:00:00Z";

const JOB_COLUMNS: &str = "j.job_id, j.namespace, j.name, j.description, \
     j.source_code_location, j.processing_type, j.tags, \
     min(COALESCE(r.started_at, r.updated_at, r.ended_at)) AS created_at, \
     max(COALESCE(r.updated_at, r.ended_at, r.started_at)) AS updated_at";

/// Whether anything (a job or a dataset) lives in the namespace.
pub(crate) async fn namespace_exists(marquez: &Marquez, namespace: &str) -> Result<bool, ApiError> {
    let ns = literal(namespace);
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT 1 FROM jobs WHERE namespace = {ns} UNION ALL SELECT 1 FROM {DATASETS} d WHERE namespace = {ns} LIMIT 1"
        ),
    )
    .await?;
    Ok(!rows.is_empty())
}

/// The job's id, or Marquez's 404 for its namespace or itself.
pub(crate) async fn existing_job(
    marquez: &Marquez,
    namespace: &str,
    name: &str,
) -> Result<String, ApiError> {
    let job_id = prov9_model::ids::job_id(namespace, name);
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT job_id FROM jobs WHERE job_id = {}",
            literal(&job_id)
        ),
    )
    .await?;
    if !rows.is_empty() {
        return Ok(job_id);
    }
    if !namespace_exists(marquez, namespace).await? {
        return Err(ApiError::not_found(format!(
            "Namespace '{namespace}' not found."
        )));
    }
    Err(ApiError::not_found(format!("Job '{name}' not found.")))
}

/// Tag names of a `tags` column (`[{"key", "value"}]`): the keys.
pub(crate) fn tag_names(row: &Row) -> Vec<Value> {
    let Some(tags) = text(row, "tags").and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return Vec::new();
    };
    tags.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["key"].as_str())
        .map(|k| Value::String(k.to_string()))
        .collect()
}

/// Marquez lists up to this many latest runs of a job.
const LATEST_RUNS: usize = 10;

/// Marquez's Job, or the lineage graph's JobData (see [`JobView`]).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Job {
    pub id: EntityId,
    #[serde(rename = "type")]
    kind: &'static str,
    name: Value,
    simple_name: Value,
    parent_job_name: (),
    parent_job_uuid: (),
    created_at: Value,
    updated_at: Value,
    namespace: Value,
    inputs: Vec<EntityId>,
    outputs: Vec<EntityId>,
    location: Value,
    description: Value,
    latest_run: Option<Run>,
    #[serde(flatten)]
    view: JobView,
}

/// What a job list shows of a job beyond what the lineage graph does, and the other way round.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum JobView {
    Listed(Listed),
    InGraph(InGraph),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    latest_runs: Option<Vec<Run>>,
    facets: Empty,
    current_version: (),
    labels: [(); 0],
    tags: Vec<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InGraph {
    current_run_uuid: Option<String>,
}

/// How many latest runs to read per job: a list shows ten, the lineage graph the latest only
/// (reading the I/O of ten runs per job for it was work thrown away).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shown {
    Listed,
    InGraph,
}

/// Jobs (rows of [`JOB_COLUMNS`]) as Marquez shows them, with their latest runs.
async fn jobs_json(marquez: &Marquez, jobs: &[Row], shown: Shown) -> Result<Vec<Job>, ApiError> {
    let runs_per_job = match shown {
        Shown::Listed => LATEST_RUNS,
        Shown::InGraph => 1,
    };
    let ids = jobs.iter().filter_map(|j| text(j, "job_id"));
    let keys = key_set(&marquez.engine, "runs", ids).await?;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs r JOIN jobs j ON j.job_id = r.job_id WHERE {} \
         ORDER BY COALESCE(r.updated_at, r.ended_at, r.started_at) DESC NULLS LAST, r.run_id",
        keys.condition("r.job_id")
    );
    let runs = query_keys(&marquez.engine, &sql, &keys, "job_id").await?;
    let mut latest: HashMap<&str, Vec<&Row>> = HashMap::new();
    for run in &runs {
        let list = latest
            .entry(text(run, "job_id").unwrap_or_default())
            .or_default();
        if list.len() < runs_per_job {
            list.push(run);
        }
    }
    let shown_runs: Vec<&str> = latest
        .values()
        .flatten()
        .filter_map(|r| text(r, "run_id"))
        .collect();
    let io = run_io(marquez, &shown_runs).await?;
    Ok(jobs
        .iter()
        .map(|job| {
            let id = text(job, "job_id").unwrap_or_default();
            let mut runs: Vec<Run> = latest
                .get(id)
                .into_iter()
                .flatten()
                .map(|r| Run::new(r, &io, json!({})))
                .collect();
            // The datasets of the latest run, each once.
            let datasets = |versions: Option<&Vec<RunDatasetVersion>>| -> Vec<EntityId> {
                let mut seen = HashSet::new();
                let mut datasets = Vec::new();
                for v in versions.into_iter().flatten() {
                    let id = &v.dataset_version_id;
                    if seen.insert((&id.namespace, &id.name)) {
                        datasets.push(EntityId {
                            namespace: id.namespace.clone(),
                            name: id.name.clone(),
                        });
                    }
                }
                datasets
            };
            let inputs = datasets(runs.first().map(|r| &r.input_dataset_versions));
            let outputs = datasets(runs.first().map(|r| &r.output_dataset_versions));
            let time = |column: &str| match value(job, column) {
                Value::Null => json!(NO_TIME),
                t => t,
            };
            let kind = match text(job, "processing_type") {
                Some(t) if t.eq_ignore_ascii_case("streaming") => "STREAM",
                _ => "BATCH",
            };
            let (latest_run, view) = match shown {
                Shown::Listed => (
                    runs.first().cloned(),
                    JobView::Listed(Listed {
                        latest_runs: (!runs.is_empty()).then_some(runs),
                        facets: Empty {},
                        current_version: (),
                        labels: [],
                        tags: tag_names(job),
                    }),
                ),
                Shown::InGraph => {
                    let latest = (!runs.is_empty()).then(|| runs.swap_remove(0));
                    let current_run_uuid = latest.as_ref().map(|r| r.id.clone());
                    (latest, JobView::InGraph(InGraph { current_run_uuid }))
                }
            };
            Job {
                id: EntityId {
                    namespace: value(job, "namespace"),
                    name: value(job, "name"),
                },
                kind,
                name: value(job, "name"),
                simple_name: value(job, "name"),
                parent_job_name: (),
                parent_job_uuid: (),
                created_at: time("created_at"),
                updated_at: time("updated_at"),
                namespace: value(job, "namespace"),
                inputs,
                outputs,
                location: value(job, "source_code_location"),
                description: value(job, "description"),
                latest_run,
                view,
            }
        })
        .collect())
}

/// `limit`, `offset` and the repeatable `lastRunStates` of a job list.
struct JobListQuery {
    limit: usize,
    offset: usize,
    states: Vec<String>,
}

fn job_list_query(raw: Option<String>) -> Result<JobListQuery, ApiError> {
    let mut q = JobListQuery {
        limit: 100,
        offset: 0,
        states: Vec::new(),
    };
    let number = |key: &str, v: &str| {
        v.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "query param {key} must be greater than or equal to 0"
            ))
        })
    };
    for (key, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "limit" => q.limit = number("limit", &v)?,
            "offset" => q.offset = number("offset", &v)?,
            "lastRunStates" => q.states.push(v.trim().to_ascii_uppercase()),
            _ => {}
        }
    }
    Ok(q)
}

async fn list(
    marquez: &Marquez,
    namespace: Option<&str>,
    raw: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let q = job_list_query(raw)?;
    let filter = namespace
        .map(|ns| format!("WHERE j.namespace = {}", literal(ns)))
        .unwrap_or_default();
    let mut jobs = query(
        &marquez.engine,
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN runs r ON r.job_id = j.job_id {filter} \
             GROUP BY {JOB_GROUP} ORDER BY updated_at DESC NULLS LAST, j.job_id"
        ),
    )
    .await?;
    let total = jobs.len();
    if !q.states.is_empty() {
        // A job qualifies when its latest run is in one of the states, or it has no run.
        let latest = query(
            &marquez.engine,
            &format!(
                "SELECT job_id, state FROM (SELECT r.job_id, r.state, row_number() OVER \
                 (PARTITION BY r.job_id ORDER BY COALESCE(r.updated_at, r.ended_at, r.started_at) DESC) AS n \
                 FROM runs r JOIN jobs j ON j.job_id = r.job_id {filter}) WHERE n = 1"
            ),
        )
        .await?;
        let state_of: HashMap<&str, &str> = latest
            .iter()
            .filter_map(|r| Some((text(r, "job_id")?, text(r, "state")?)))
            .collect();
        let wanted = |job: &Row| match state_of.get(text(job, "job_id").unwrap_or_default()) {
            None => true,
            Some(s) => q.states.iter().any(|w| w == super::runs::marquez_state(s)),
        };
        jobs.retain(wanted);
    }
    let page: Vec<Row> = jobs.into_iter().skip(q.offset).take(q.limit).collect();
    let jobs = jobs_json(marquez, &page, Shown::Listed).await?;
    Ok(Json(json!({"jobs": jobs, "totalCount": total})))
}

/// `GET /api/v1/jobs`: every namespace's.
pub(crate) async fn all(
    State(marquez): State<Arc<Marquez>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list(&marquez, None, raw).await
}

/// `GET /api/v1/namespaces/{ns}/jobs` (an unknown namespace has none, as in Marquez).
pub(crate) async fn of_namespace(
    State(marquez): State<Arc<Marquez>>,
    Path(namespace): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list(&marquez, Some(&namespace), raw).await
}

const JOB_GROUP: &str = "j.job_id, j.namespace, j.name, j.description, \
     j.source_code_location, j.processing_type, j.tags";

/// The lineage graph's JobData of each job, by job id: a Job without its list-only fields, with
/// the id of its latest run.
pub(crate) async fn job_data(
    marquez: &Marquez,
    job_ids: &[&str],
) -> Result<HashMap<String, Job>, ApiError> {
    let keys = key_set(&marquez.engine, "jobs", job_ids.iter().copied()).await?;
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN runs r ON r.job_id = j.job_id \
         WHERE {} GROUP BY {JOB_GROUP}",
        keys.condition("j.job_id")
    );
    let rows = query_keys(&marquez.engine, &sql, &keys, "job_id").await?;
    let jobs = jobs_json(marquez, &rows, Shown::InGraph).await?;
    let ids = rows
        .iter()
        .map(|r| text(r, "job_id").unwrap_or_default().to_string());
    Ok(ids.zip(jobs).collect())
}

/// `GET /api/v1/namespaces/{ns}/jobs/{job}`.
pub(crate) async fn one(
    State(marquez): State<Arc<Marquez>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Job>, ApiError> {
    let job_id = existing_job(&marquez, &namespace, &name).await?;
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN runs r ON r.job_id = j.job_id \
             WHERE j.job_id = {} GROUP BY {JOB_GROUP}",
            literal(&job_id)
        ),
    )
    .await?;
    let mut jobs = jobs_json(&marquez, &rows, Shown::Listed).await?;
    Ok(Json(jobs.remove(0)))
}
