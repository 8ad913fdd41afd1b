//! Facets: the standard OpenLineage facets prov9 reads, and prov9's own ML facets.
//!
//! OpenLineage has no standard facet for training, evaluation, deployment or preprocessing
//! steps, so prov9 defines custom facets (version 1), sent as ordinary facets on ordinary events,
//! named with the `prov9_` prefix as OpenLineage's custom-facet convention asks. They follow the
//! road of OpenLineage's open proposal "ML support for OpenLineage" (issue 4035): optional facets
//! on Run and Job, no change to the core model. Field names are camelCase like the spec's.
//!
//! | facet | on | fills |
//! |---|---|---|
//! | `prov9_job` | job | `jobs.job_type` |
//! | `prov9_run` | run | `runs.parameters`, `runs.environment`, edges model version -> run (`inputModels`) |
//! | `prov9_preprocessing` | run | `transformations` |
//! | `prov9_training` | run | `model_versions`, edges run -> model version, training metrics |
//! | `prov9_evaluation` | run | `metrics`, edge model version -> run |
//! | `prov9_deployment` | run | `deployments`, edge model version -> deployment |
//! | `prov9_metrics` | run | `metrics`: a run's metric history (key, value, step, timestamp) |
//!
//! Unknown facets are ignored (they stay in `events.payload`); a prov9 facet of the wrong shape
//! is an error naming the facet and field, since the producer meant it for us.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ModelError;
use crate::openlineage::Facets;

/// The `_schemaURL` prefix of prov9's facets; the version is part of the path.
pub const FACET_SCHEMA_BASE: &str =
    "https://github.com/provenance-9/prov9/blob/main/sql/facets/1-0-0/";

pub const JOB_FACET: &str = "prov9_job";
pub const RUN_FACET: &str = "prov9_run";
pub const PREPROCESSING_FACET: &str = "prov9_preprocessing";
pub const TRAINING_FACET: &str = "prov9_training";
pub const EVALUATION_FACET: &str = "prov9_evaluation";
pub const DEPLOYMENT_FACET: &str = "prov9_deployment";
pub const METRICS_FACET: &str = "prov9_metrics";

/// Read one of prov9's facets, if present.
pub fn custom<T: DeserializeOwned>(
    facets: &Facets,
    name: &str,
    path: &str,
) -> Result<Option<T>, ModelError> {
    match facets.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| ModelError::field(format!("{path}.{name}"), e.to_string())),
    }
}

/// The values of `jobs.job_type`.
pub const JOB_TYPES: [&str; 6] = [
    "ingestion",
    "preprocessing",
    "training",
    "evaluation",
    "deployment",
    "other",
];

/// `prov9_job`: what kind of work a job does.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobFacet {
    /// ingestion, preprocessing, training, evaluation, deployment or other.
    pub job_type: String,
}

/// `prov9_run`: free-form run parameters and environment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunFacet {
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub environment: Option<Map<String, Value>>,
    /// Model versions the run read (an evaluation, fine-tuning from a base model, batch
    /// inference): edges model version -> run.
    #[serde(default)]
    pub input_models: Vec<ModelRef>,
}

/// A model (version) referenced by a facet; the namespace defaults to the job's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    pub version: String,
}

/// A dataset (version) referenced by a facet; without a version, the latest at the event's time.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRef {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// `prov9_preprocessing`: the steps a run applied, in order.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PreprocessingFacet {
    pub steps: Vec<PreprocessingStep>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PreprocessingStep {
    /// cleaning, normalisation, feature_engineering, filtering, join, …
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub input_columns: Vec<String>,
    #[serde(default)]
    pub output_columns: Vec<String>,
}

/// `prov9_training`: the model version a run trained.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrainingFacet {
    pub model: ModelRef,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub framework: Option<String>,
    #[serde(default)]
    pub hyperparameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub artifact_uri: Option<String>,
    /// Final training metrics (loss, …), recorded against the new model version.
    #[serde(default)]
    pub metrics: Map<String, Value>,
}

/// `prov9_evaluation`: metrics of a model version on an evaluation dataset.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationFacet {
    pub model: ModelRef,
    /// The evaluation dataset; defaults to the run's only input, if it has exactly one.
    #[serde(default)]
    pub dataset: Option<DatasetRef>,
    pub metrics: Map<String, Value>,
}

/// `prov9_deployment`: a model version put into service.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentFacet {
    pub model: ModelRef,
    /// staging, prod, …
    pub environment: String,
    /// Where it runs: an endpoint, a cluster service, a device fleet.
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub runtime: Option<Value>,
    #[serde(default)]
    pub hardware: Option<Value>,
    #[serde(default)]
    pub packages: Option<Value>,
    #[serde(default)]
    pub deployed_by: Option<String>,
    /// active (default), retired, rolled_back, …
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub retired_at: Option<String>,
}

/// `prov9_metrics`: metric points a run logged as it went (an experiment tracker's history),
/// recorded against the run alone.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricsFacet {
    pub points: Vec<MetricPoint>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricPoint {
    pub key: String,
    /// A number, or a numeric string (`"NaN"`, `"Infinity"`: JSON has no such numbers).
    pub value: Value,
    #[serde(default)]
    pub step: Option<i64>,
    /// ISO 8601.
    pub timestamp: String,
}

/// A metric value: a JSON number (or a numeric string); anything else is an error.
pub fn metric_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

// ---- standard facets -------------------------------------------------------------------------

fn get<'a>(facets: &'a Facets, facet: &str, field: &str) -> Option<&'a Value> {
    facets.get(facet)?.get(field)
}

fn get_str(facets: &Facets, facet: &str, field: &str) -> Option<String> {
    get(facets, facet, field)?.as_str().map(str::to_string)
}

fn get_i64(facets: &Facets, facet: &str, field: &str) -> Option<i64> {
    let v = get(facets, facet, field)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// `errorMessage.message`
pub fn error_message(run: &Facets) -> Option<String> {
    get_str(run, "errorMessage", "message")
}

/// `parent.run.runId`
pub fn parent_run_id(run: &Facets) -> Option<String> {
    get(run, "parent", "run")?
        .get("runId")?
        .as_str()
        .map(str::to_string)
}

/// `sourceCodeLocation.url` (or `repoUrl`)
pub fn source_code_location(job: &Facets) -> Option<String> {
    get_str(job, "sourceCodeLocation", "url")
        .or_else(|| get_str(job, "sourceCodeLocation", "repoUrl"))
}

/// `sourceCodeLocation.version` (a commit) or `.tag`
pub fn code_version(job: &Facets) -> Option<String> {
    get_str(job, "sourceCodeLocation", "version")
        .or_else(|| get_str(job, "sourceCodeLocation", "tag"))
}

/// `documentation.description`
pub fn description(facets: &Facets) -> Option<String> {
    get_str(facets, "documentation", "description")
}

/// `parent.root.run.runId`: the root of a run hierarchy (the DAG run above a task's parent).
pub fn root_run_id(run: &Facets) -> Option<String> {
    get(run, "parent", "root")?
        .get("run")?
        .get("runId")?
        .as_str()
        .map(str::to_string)
}

/// `jobType.processingType` (BATCH, STREAMING)
pub fn processing_type(job: &Facets) -> Option<String> {
    get_str(job, "jobType", "processingType")
}

/// `jobType.integration` (AIRFLOW, DBT, SPARK, …)
pub fn integration(job: &Facets) -> Option<String> {
    get_str(job, "jobType", "integration")
}

/// `jobType.jobType` (DAG, TASK, QUERY, MODEL, …)
pub fn integration_job_type(job: &Facets) -> Option<String> {
    get_str(job, "jobType", "jobType")
}

/// `sql.query`
pub fn sql(job: &Facets) -> Option<String> {
    get_str(job, "sql", "query")
}

/// `sourceCode.language`
pub fn source_code_language(job: &Facets) -> Option<String> {
    get_str(job, "sourceCode", "language")
}

/// `sourceCode.sourceCode`
pub fn source_code(job: &Facets) -> Option<String> {
    get_str(job, "sourceCode", "sourceCode")
}

/// `ownership.owners`, as JSON text.
pub fn owners(facets: &Facets) -> Option<String> {
    non_empty_list(get(facets, "ownership", "owners")?)
}

/// `tags.tags` (job, run or dataset), as JSON text.
pub fn tags(facets: &Facets) -> Option<String> {
    non_empty_list(get(facets, "tags", "tags")?)
}

fn non_empty_list(v: &Value) -> Option<String> {
    v.as_array()
        .filter(|a| !a.is_empty())
        .map(|_| v.to_string())
}

/// `datasetType.datasetType`, with `/subType` when there is one (`TABLE`, `VIEW/materialized`).
pub fn dataset_type(dataset: &Facets) -> Option<String> {
    let kind = get_str(dataset, "datasetType", "datasetType").filter(|k| !k.is_empty())?;
    Some(
        match get_str(dataset, "datasetType", "subType").filter(|s| !s.is_empty()) {
            Some(sub) => format!("{kind}/{sub}"),
            None => kind,
        },
    )
}

/// `executionParameters.parameters` as one JSON object (`key` → `value`), for runs whose
/// producer states its parameters this way (Spark, dbt).
pub fn execution_parameters(run: &Facets) -> Option<Map<String, Value>> {
    let parameters = get(run, "executionParameters", "parameters")?.as_array()?;
    let map: Map<String, Value> = parameters
        .iter()
        .filter_map(|p| {
            let key = p.get("key").or_else(|| p.get("name"))?.as_str()?;
            Some((
                key.to_string(),
                p.get("value").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect();
    (!map.is_empty()).then_some(map)
}

/// One entry of a `dataQualityAssertions` facet.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub assertion: String,
    pub name: Option<String>,
    pub success: Option<bool>,
    pub column: Option<String>,
    pub severity: Option<String>,
    pub failures: Option<i64>,
    pub actual: Option<String>,
    pub expected: Option<String>,
}

/// The assertions of a `dataQualityAssertions` facet (input facets first, as the spec puts it;
/// the dataset's own facets too). Entries without an `assertion` name are skipped.
pub fn quality_assertions(io: &Facets, dataset: &Facets) -> Vec<Assertion> {
    let Some(list) = get(io, "dataQualityAssertions", "assertions")
        .or_else(|| get(dataset, "dataQualityAssertions", "assertions"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let text = |v: &Value, field: &str| match v.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    list.iter()
        .filter_map(|a| {
            Some(Assertion {
                assertion: a.get("assertion")?.as_str()?.to_string(),
                name: text(a, "name"),
                success: a.get("success").and_then(Value::as_bool),
                column: a
                    .get("column")
                    .and_then(Value::as_str)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
                severity: text(a, "severity"),
                failures: a.get("failures").and_then(Value::as_i64),
                actual: text(a, "actual").or_else(|| text(a, "actualValue")),
                expected: text(a, "expected").or_else(|| text(a, "expectedValue")),
            })
        })
        .collect()
}

/// `processing_engine` (name, version) as environment.
pub fn processing_engine(run: &Facets) -> Option<&Value> {
    run.get("processing_engine")
}

/// `version.datasetVersion`
pub fn dataset_version(dataset: &Facets) -> Option<String> {
    let v = get(dataset, "version", "datasetVersion")?;
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `dataSource.uri` (or its name)
pub fn source_uri(dataset: &Facets) -> Option<String> {
    get_str(dataset, "dataSource", "uri").or_else(|| get_str(dataset, "dataSource", "name"))
}

/// `storage.fileFormat`
pub fn format(dataset: &Facets) -> Option<String> {
    get_str(dataset, "storage", "fileFormat")
}

/// `schema.fields`, as JSON text.
pub fn schema_fields(dataset: &Facets) -> Option<String> {
    get(dataset, "schema", "fields").map(Value::to_string)
}

/// Row count from `outputStatistics`, `inputStatistics` or `dataQualityMetrics`.
pub fn row_count(io: &Facets) -> Option<i64> {
    get_i64(io, "outputStatistics", "rowCount")
        .or_else(|| get_i64(io, "inputStatistics", "rowCount"))
        .or_else(|| get_i64(io, "dataQualityMetrics", "rowCount"))
}

/// Byte size from `outputStatistics.size`, `inputStatistics.size` or `dataQualityMetrics.bytes`.
pub fn byte_size(io: &Facets) -> Option<i64> {
    get_i64(io, "outputStatistics", "size")
        .or_else(|| get_i64(io, "inputStatistics", "size"))
        .or_else(|| get_i64(io, "dataQualityMetrics", "bytes"))
}

/// `dataQualityMetrics` (and `dataQualityAssertions`), as JSON text.
pub fn quality(io: &Facets, dataset: &Facets) -> Option<String> {
    let mut out = Map::new();
    for facet in ["dataQualityMetrics", "dataQualityAssertions"] {
        if let Some(v) = io.get(facet).or_else(|| dataset.get(facet)) {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.retain(|k, _| !k.starts_with('_'));
            }
            out.insert(facet.to_string(), v);
        }
    }
    (!out.is_empty()).then(|| Value::Object(out).to_string())
}

/// One column-lineage entry: output column <- input (namespace, name, column).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnEdge {
    pub output_column: String,
    pub input_namespace: String,
    pub input_name: String,
    pub input_column: String,
    pub transformation: Option<String>,
}

/// The `columnLineage` facet of an output dataset.
pub fn column_lineage(dataset: &Facets) -> Vec<ColumnEdge> {
    let Some(fields) = get(dataset, "columnLineage", "fields").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (column, spec) in fields {
        let default_transformation = spec
            .get("transformationDescription")
            .or_else(|| spec.get("transformationType"))
            .and_then(Value::as_str);
        for input in spec
            .get("inputFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(ns), Some(name), Some(col)) =
                (field("namespace"), field("name"), field("field"))
            else {
                continue;
            };
            let transformation = input
                .get("transformations")
                .and_then(Value::as_array)
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| {
                            let kind = t.get("type").and_then(Value::as_str)?;
                            Some(match t.get("subtype").and_then(Value::as_str) {
                                Some(sub) => format!("{kind}/{sub}"),
                                None => kind.to_string(),
                            })
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .or_else(|| default_transformation.map(str::to_string));
            out.push(ColumnEdge {
                output_column: column.clone(),
                input_namespace: ns,
                input_name: name,
                input_column: col,
                transformation,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facets(v: Value) -> Facets {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn standard_facets() {
        let d = facets(json!({
            "schema": {"fields": [{"name": "id", "type": "INT"}]},
            "version": {"datasetVersion": 42},
            "columnLineage": {"fields": {"total": {"inputFields": [
                {"namespace": "n", "name": "a", "field": "price", "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}]},
                {"namespace": "n", "name": "a", "field": "qty"}
            ], "transformationDescription": "price*qty"}}}
        }));
        assert_eq!(dataset_version(&d).as_deref(), Some("42"));
        assert_eq!(
            schema_fields(&d).as_deref(),
            Some(r#"[{"name":"id","type":"INT"}]"#)
        );
        let edges = column_lineage(&d);
        assert_eq!(edges.len(), 2);
        assert_eq!(
            edges[0].transformation.as_deref(),
            Some("DIRECT/AGGREGATION")
        );
        assert_eq!(edges[1].transformation.as_deref(), Some("price*qty"));
        let io = facets(json!({"outputStatistics": {"rowCount": 10, "size": 2048}}));
        assert_eq!((row_count(&io), byte_size(&io)), (Some(10), Some(2048)));
    }

    #[test]
    fn custom_facet_errors_name_the_field() {
        let run = facets(json!({"prov9_training": {"model": {"name": "m"}}}));
        let err = custom::<TrainingFacet>(&run, TRAINING_FACET, "run.facets")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("run.facets.prov9_training: missing field `version`"),
            "{err}"
        );
        let ok = facets(
            json!({"prov9_training": {"model": {"name": "m", "version": "1"}, "hyperparameters": {"lr": 0.1}, "_producer": "x"}}),
        );
        let t: TrainingFacet = custom(&ok, TRAINING_FACET, "run.facets").unwrap().unwrap();
        assert_eq!(t.hyperparameters.unwrap()["lr"], 0.1);
    }
}
