//! MLflow records as OpenLineage events with prov9's facets, so that history imported from
//! MLflow goes through the same normalisation, deduplication and audit trail (`events`) as
//! every other producer's events.
//!
//! | MLflow | event |
//! |---|---|
//! | experiment | JobEvent (namespace `mlflow`, name = the experiment's) |
//! | run start | START (job = the experiment, namespace `mlflow`) |
//! | run end / current state | COMPLETE, FAIL or ABORT (RUNNING while it runs) with `prov9_run` (params, tags, MLflow fields, the logged models it used as `inputModels`), inputs, parent, git commit |
//! | 1,000 lines of a metric file | OTHER with `prov9_metrics` |
//! | logged or registered model | OTHER with `prov9_training` |
//!
//! Every event is a pure function of the store's files, so importing the same store again
//! produces the same events (same ids) and adds nothing; a grown metric file only changes its
//! last chunk.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::meta::Bad;
use super::models::{self, ModelRecord};
use super::run::{Input, Point, Run, Status, read_metric};
use super::store::{Experiment, RunDir};
use crate::RawEvent;

/// The job namespace of MLflow experiments and the namespace of MLflow models.
pub const NAMESPACE: &str = "mlflow";
/// The `producer` of imported events.
pub const PRODUCER: &str =
    "https://github.com/provenance-9/prov9/tree/main/crates/ingest/src/mlflow";
const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// Metric points per OTHER event.
pub const POINTS_PER_EVENT: usize = 1000;

fn time(ms: i64, location: &str) -> Result<String, Bad> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .ok_or_else(|| Bad::new(location, format!("timestamp {ms} ms is out of range")))
}

fn job(experiment: &str, facets: Value) -> Value {
    json!({"namespace": NAMESPACE, "name": experiment, "facets": facets})
}

fn event(
    event_type: &str,
    at: String,
    run_id: &str,
    run_facets: Value,
    job: Value,
    inputs: Vec<Value>,
) -> String {
    json!({
        "eventType": event_type,
        "eventTime": at,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": run_facets},
        "job": job,
        "inputs": inputs,
        "outputs": [],
    })
    .to_string()
}

fn strings(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The JobEvent declaring an experiment as a job (so experiments without runs are jobs too).
pub fn experiment_event(experiment: &Experiment) -> Result<RawEvent, Bad> {
    let location = experiment.location.clone();
    let text = json!({
        "eventTime": time(experiment.created.unwrap_or(0), &location)?,
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": job(&experiment.name, json!({})),
        "inputs": [],
        "outputs": [],
    })
    .to_string();
    Ok(RawEvent {
        text,
        source: location,
    })
}

/// One metric's points of a run, in the order they were logged, and where they were read
/// (a point's location is `{location}:{line}`).
pub struct MetricSeries {
    pub key: String,
    pub points: Vec<Point>,
    pub location: String,
}

/// All events of one run of a file store: START, its state, its metric history, models logged
/// by MLflow 2.
pub fn run_events(dir: &RunDir) -> Result<(Run, Vec<RawEvent>), Bad> {
    let run = Run::read(dir)?;
    let metrics = run
        .metric_files
        .iter()
        .map(|(key, path)| {
            Ok(MetricSeries {
                key: key.clone(),
                points: read_metric(path)?,
                location: path.display().to_string(),
            })
        })
        .collect::<Result<Vec<_>, Bad>>()?;
    let locations = RunLocations {
        run: dir.dir.join("meta.yaml").display().to_string(),
        model_history: dir
            .dir
            .join("tags")
            .join("mlflow.log-model.history")
            .display()
            .to_string(),
    };
    let events = events_of_run(&dir.experiment, &run, &metrics, &locations)?;
    Ok((run, events))
}

/// Where a run's records were read, for error messages and `events.source`.
pub struct RunLocations {
    /// The run's own record (its `meta.yaml`, its database row).
    pub run: String,
    /// Its `mlflow.log-model.history` tag.
    pub model_history: String,
}

/// The events of a run read from any store.
pub fn events_of_run(
    experiment: &Experiment,
    run: &Run,
    metrics: &[MetricSeries],
    locations: &RunLocations,
) -> Result<Vec<RawEvent>, Bad> {
    let meta_location = locations.run.clone();
    let mut out = Vec::new();
    let mut push = |text: String, source: String| out.push(RawEvent { text, source });

    let parent = run.tags.get("mlflow.parentRunId").map(|p| {
        json!({"parent": {"run": {"runId": p}, "job": {"namespace": NAMESPACE, "name": experiment.name}}})
    });
    let base_facets = parent.clone().unwrap_or_else(|| json!({}));
    let start = run.start.or(run.end).or(experiment.created).unwrap_or(0);
    if let Some(started) = run.start {
        push(
            event(
                "START",
                time(started, &meta_location)?,
                &run.run_id,
                base_facets.clone(),
                job(&experiment.name, json!({})),
                vec![],
            ),
            meta_location.clone(),
        );
    }

    // The state event carries everything about the run that may still change.
    let (state, at) = match run.status {
        Status::Finished => ("COMPLETE", run.end.unwrap_or(start)),
        Status::Failed => ("FAIL", run.end.unwrap_or(start)),
        Status::Killed => ("ABORT", run.end.unwrap_or(start)),
        Status::Running | Status::Scheduled => ("RUNNING", start),
    };
    let mut mlflow = Map::new();
    let mut field = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            mlflow.insert(k.to_string(), v);
        }
    };
    field("experimentId", Some(json!(experiment.id)));
    field("experimentName", Some(json!(experiment.name)));
    field("runName", run.run_name.clone().map(Value::String));
    field("status", Some(json!(run.status.name())));
    field(
        "lifecycleStage",
        Some(json!(if run.deleted { "deleted" } else { "active" })),
    );
    if run.deleted {
        let deleted_at = run
            .deleted_time
            .map(|t| time(t, &meta_location))
            .transpose()?;
        field("deletedAt", deleted_at.map(Value::String));
    }
    field("user", run.user.clone().map(Value::String));
    field("sourceType", run.source_type.clone().map(Value::String));
    field("sourceName", run.source_name.clone().map(Value::String));
    field("entryPoint", run.entry_point.clone().map(Value::String));
    field("artifactUri", run.artifact_uri.clone().map(Value::String));
    let mut facets = base_facets.as_object().cloned().unwrap_or_default();
    let mut run_facet = json!({"parameters": strings(&run.params), "environment": {"mlflow": mlflow, "tags": strings(&run.tags)}});
    if !run.input_models.is_empty() {
        let models = run
            .input_models
            .iter()
            .map(|m| json!({"namespace": NAMESPACE, "name": m.name, "version": m.model_id}));
        run_facet["inputModels"] = Value::Array(models.collect());
    }
    facets.insert("prov9_run".into(), run_facet);
    let commit = run
        .tags
        .get("mlflow.source.git.commit")
        .or(run.source_version.as_ref());
    let job_facets = match commit {
        Some(commit) => json!({"sourceCodeLocation": {
            "type": "git",
            "url": run.tags.get("mlflow.source.git.repoURL").or(run.source_name.as_ref()),
            "version": commit,
        }}),
        None => json!({}),
    };
    let inputs = run
        .inputs
        .iter()
        .map(|i| input_dataset(&experiment.name, i))
        .collect();
    push(
        event(
            state,
            time(at, &meta_location)?,
            &run.run_id,
            Value::Object(facets),
            job(&experiment.name, job_facets),
            inputs,
        ),
        meta_location.clone(),
    );

    for MetricSeries {
        key,
        points,
        location: at,
    } in metrics
    {
        for chunk in points.chunks(POINTS_PER_EVENT) {
            let location = format!("{at}:{}", chunk[0].line);
            let latest = chunk.iter().map(|p| p.timestamp).max().unwrap_or(start);
            let points: Vec<Value> = chunk
                .iter()
                .map(|p| {
                    Ok(json!({
                        "key": key,
                        "value": metric_value(p.value),
                        "step": p.step,
                        "timestamp": time(p.timestamp, &format!("{at}:{}", p.line))?,
                    }))
                })
                .collect::<Result<_, Bad>>()?;
            push(
                event(
                    "OTHER",
                    time(latest, &location)?,
                    &run.run_id,
                    json!({"prov9_metrics": {"points": points}}),
                    job(&experiment.name, json!({})),
                    vec![],
                ),
                location,
            );
        }
    }

    if let Some(history) = run.tags.get("mlflow.log-model.history") {
        let location = &locations.model_history;
        for model in models::logged_by_tag(&experiment.name, &run.run_id, history, location) {
            let text = model_event_text(&experiment.name, &run.run_id, &model, start, location)?;
            push(text, location.clone());
        }
    }
    Ok(out)
}

/// The OTHER event recording that a run produced a model version.
pub fn model_event(
    experiment: &str,
    model: &ModelRecord,
    location: &str,
) -> Result<Option<RawEvent>, Bad> {
    let Some(run_id) = &model.run_id else {
        return Ok(None);
    };
    let text = model_event_text(experiment, run_id, model, 0, location)?;
    Ok(Some(RawEvent {
        text,
        source: location.to_string(),
    }))
}

fn model_event_text(
    experiment: &str,
    run_id: &str,
    model: &ModelRecord,
    fallback_time: i64,
    location: &str,
) -> Result<String, Bad> {
    let mut training = json!({
        "model": {"namespace": NAMESPACE, "name": model.name, "version": model.version},
    });
    let t = training.as_object_mut().expect("an object");
    if let Some(f) = &model.framework {
        t.insert("framework".into(), json!(f));
    }
    if let Some(a) = &model.artifact_uri {
        t.insert("artifactUri".into(), json!(a));
    }
    if !model.hyperparameters.is_empty() {
        t.insert("hyperparameters".into(), strings(&model.hyperparameters));
    }
    if !model.details.is_empty() {
        t.insert("mlflowRegistry".into(), strings(&model.details));
    }
    let at = time(model.created.unwrap_or(fallback_time), location)?;
    Ok(event(
        "OTHER",
        at,
        run_id,
        json!({"prov9_training": training}),
        job(experiment, json!({})),
        vec![],
    ))
}

/// JSON has no NaN or infinities; prov9's facets take them as numeric strings.
fn metric_value(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

/// A logged dataset as an OpenLineage input. A dataset with a location is named after it the
/// OpenLineage way (`s3://bucket` + `path/file.parquet`), so that MLflow's inputs join the
/// lineage of the pipelines that wrote them; one without is `mlflow` + `<experiment>/<name>`.
/// Its digest is the version.
fn input_dataset(experiment: &str, input: &Input) -> Value {
    let source: Option<Value> = input
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let uri = source
        .as_ref()
        .and_then(|s| s.get("uri").or_else(|| s.get("path")))
        .and_then(Value::as_str)
        .filter(|u| u.contains("://") || u.starts_with('/'));
    let (namespace, name) = match uri {
        Some(uri) => split_uri(uri),
        None => (
            NAMESPACE.to_string(),
            format!("{experiment}/{}", input.name),
        ),
    };
    let mut facets = Map::new();
    facets.insert("version".into(), json!({"datasetVersion": input.digest}));
    if let Some(uri) = uri {
        facets.insert("dataSource".into(), json!({"name": namespace, "uri": uri}));
    }
    let schema: Option<Value> = input
        .schema
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    if let Some(Value::Array(columns)) = schema.as_ref().and_then(|s| s.get("mlflow_colspec")) {
        let fields: Vec<Value> = columns
            .iter()
            .filter_map(|c| Some(json!({"name": c.get("name")?.as_str()?, "type": c.get("type")?})))
            .collect();
        facets.insert("schema".into(), json!({"fields": fields}));
    }
    let mut dataset = Map::new();
    for (k, v) in [
        ("name", Some(&input.name)),
        ("digest", Some(&input.digest)),
        ("sourceType", input.source_type.as_ref()),
        ("source", input.source.as_ref()),
        ("context", input.context.as_ref()),
    ] {
        if let Some(v) = v {
            dataset.insert(k.into(), json!(v));
        }
    }
    facets.insert("mlflow_dataset".into(), Value::Object(dataset));
    let mut input_facets = Map::new();
    let profile: Option<Value> = input
        .profile
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    if let Some(rows) = profile
        .as_ref()
        .and_then(|p| p.get("num_rows"))
        .and_then(Value::as_i64)
    {
        input_facets.insert("dataQualityMetrics".into(), json!({"rowCount": rows}));
    }
    json!({"namespace": namespace, "name": name, "facets": facets, "inputFacets": input_facets})
}

/// OpenLineage's dataset naming: `scheme://authority` is the namespace, the path the name;
/// local files are namespace `file` with the absolute path.
fn split_uri(uri: &str) -> (String, String) {
    if let Some(path) = uri.strip_prefix("file://") {
        return ("file".into(), path.to_string());
    }
    if uri.starts_with('/') {
        return ("file".into(), uri.to_string());
    }
    let (scheme, rest) = uri.split_once("://").unwrap_or(("file", uri));
    match rest.split_once('/') {
        Some((authority, path)) => (format!("{scheme}://{authority}"), path.to_string()),
        None => (format!("{scheme}://{rest}"), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_follow_openlineage() {
        assert_eq!(
            split_uri("s3://bucket/dir/train.parquet"),
            ("s3://bucket".into(), "dir/train.parquet".into())
        );
        assert_eq!(
            split_uri("file:///data/x.csv"),
            ("file".into(), "/data/x.csv".into())
        );
        assert_eq!(
            split_uri("/data/x.csv"),
            ("file".into(), "/data/x.csv".into())
        );
        assert_eq!(metric_value(f64::NAN), json!("NaN"));
        assert_eq!(metric_value(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(metric_value(0.25), json!(0.25));
    }
}
