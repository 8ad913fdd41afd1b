//! Datasets: `/namespaces/{ns}/datasets`, `…/datasets/{ds}` and `…/datasets/{ds}/versions`.
//! A dataset's current version is its newest; its fields are that version's schema.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use serde_json::{Value, json};

use super::jobs::{NO_TIME, namespace_exists, tag_names};
use super::rows::{Row, key_set, literal, query, query_keys, text, value};
use super::runs::{RUN_COLUMNS, Run, run_io};
use super::with_models::{DATASETS, VERSIONS};
use super::{ApiError, Empty, EntityId, Marquez, Page};

const DATASET_COLUMNS: &str = "d.dataset_id, d.namespace, d.name, d.source_uri, d.description, \
     d.tags, min(v.created_at) AS created_at, max(v.created_at) AS updated_at";
const DATASET_GROUP: &str =
    "d.dataset_id, d.namespace, d.name, d.source_uri, d.description, d.tags";

/// A field of a dataset version's schema.
#[derive(Debug, Serialize)]
struct Field {
    name: Value,
    #[serde(rename = "type")]
    kind: Value,
    tags: [(); 0],
    description: Value,
}

/// A `schema` column (the schema facet's fields) as Marquez fields.
fn fields(row: Option<&Row>) -> Vec<Field> {
    let Some(schema) = row
        .and_then(|r| text(r, "schema"))
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return Vec::new();
    };
    let Value::Array(schema) = schema else {
        return Vec::new();
    };
    schema
        .into_iter()
        .map(|mut f| {
            let mut take = |key: &str| f.get_mut(key).map(Value::take).unwrap_or(Value::Null);
            Field {
                name: take("name"),
                kind: take("type"),
                tags: [],
                description: take("description"),
            }
        })
        .collect()
}

fn time(row: &Row, column: &str) -> Value {
    match value(row, column) {
        Value::Null => json!(NO_TIME),
        t => t,
    }
}

/// What Marquez's Dataset and the lineage graph's dataset data share.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DatasetData {
    id: EntityId,
    #[serde(rename = "type")]
    kind: &'static str,
    name: Value,
    physical_name: Value,
    created_at: Value,
    updated_at: Value,
    namespace: Value,
    source_name: String,
    fields: Vec<Field>,
    tags: Vec<Value>,
    last_modified_at: Value,
    description: Value,
    last_lifecycle_state: (),
}

impl DatasetData {
    /// The dataset of a row of [`DATASET_COLUMNS`], with the fields of its `current` version.
    pub(crate) fn new(row: &Row, current: Option<&Row>) -> DatasetData {
        DatasetData {
            id: EntityId {
                namespace: value(row, "namespace"),
                name: value(row, "name"),
            },
            kind: "DB_TABLE",
            name: value(row, "name"),
            physical_name: value(row, "name"),
            created_at: time(row, "created_at"),
            updated_at: time(row, "updated_at"),
            namespace: value(row, "namespace"),
            source_name: text(row, "source_uri").unwrap_or("default").to_string(),
            fields: fields(current),
            tags: tag_names(row),
            last_modified_at: value(row, "updated_at"),
            description: value(row, "description"),
            last_lifecycle_state: (),
        }
    }
}

/// Marquez's Dataset.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Dataset {
    #[serde(flatten)]
    data: DatasetData,
    current_version: Value,
    column_lineage: Value,
    facets: Empty,
    deleted: bool,
}

/// Each dataset's newest version: dataset id -> (version, schema).
async fn current_versions(
    marquez: &Marquez,
    dataset_ids: &[&str],
) -> Result<HashMap<String, Row>, ApiError> {
    let keys = key_set(
        &marquez.engine,
        "dataset_versions",
        dataset_ids.iter().copied(),
    )
    .await?;
    let sql = format!(
        "SELECT dataset_id, version, schema FROM (SELECT dataset_id, version, schema, \
         row_number() OVER (PARTITION BY dataset_id ORDER BY created_at DESC, version DESC) AS n \
         FROM {VERSIONS} v WHERE {}) WHERE n = 1",
        keys.condition("dataset_id")
    );
    let rows = query_keys(&marquez.engine, &sql, &keys, "dataset_id").await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((text(&r, "dataset_id")?.to_string(), r)))
        .collect())
}

/// Rows of [`DATASET_COLUMNS`] as Marquez Datasets.
pub(crate) async fn datasets_json(
    marquez: &Marquez,
    rows: &[Row],
) -> Result<Vec<Dataset>, ApiError> {
    let ids: Vec<&str> = rows.iter().filter_map(|r| text(r, "dataset_id")).collect();
    let current = current_versions(marquez, &ids).await?;
    let mut column_lineage = super::column_lineage::fields_lineage(marquez, &ids).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let id = text(row, "dataset_id").unwrap_or_default();
            let newest = current.get(id);
            Dataset {
                data: DatasetData::new(row, newest),
                current_version: newest.map(|v| value(v, "version")).unwrap_or(Value::Null),
                column_lineage: column_lineage.remove(id).unwrap_or(Value::Null),
                facets: Empty {},
                deleted: false,
            }
        })
        .collect())
}

/// Rows of [`DATASET_COLUMNS`] for the datasets matching `condition` (on `d`).
pub(crate) async fn dataset_rows(
    marquez: &Marquez,
    condition: &str,
    limit: &str,
) -> Result<Vec<Row>, ApiError> {
    query(&marquez.engine, &dataset_sql(condition, limit)).await
}

/// The query of [`dataset_rows`].
pub(crate) fn dataset_sql(condition: &str, limit: &str) -> String {
    format!(
        "SELECT {DATASET_COLUMNS} FROM {DATASETS} d LEFT JOIN {VERSIONS} v \
         ON v.dataset_id = d.dataset_id WHERE {condition} GROUP BY {DATASET_GROUP} \
         ORDER BY d.name, d.dataset_id {limit}"
    )
}

/// `GET /api/v1/namespaces/{ns}/datasets`: by name.
pub(crate) async fn list(
    State(marquez): State<Arc<Marquez>>,
    Path(namespace): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.sql()?;
    if !namespace_exists(&marquez, &namespace).await? {
        return Err(ApiError::not_found(format!(
            "Namespace '{namespace}' not found."
        )));
    }
    let ns = literal(&namespace);
    let rows = dataset_rows(&marquez, &format!("d.namespace = {ns}"), &limit).await?;
    let total = query(
        &marquez.engine,
        &format!("SELECT count(*) AS n FROM {DATASETS} d WHERE namespace = {ns}"),
    )
    .await?;
    let datasets = datasets_json(&marquez, &rows).await?;
    Ok(Json(
        json!({"datasets": datasets, "totalCount": value(&total[0], "n")}),
    ))
}

async fn existing_dataset(marquez: &Marquez, namespace: &str, name: &str) -> Result<Row, ApiError> {
    let id = prov9_model::ids::dataset_id(namespace, name);
    let rows = dataset_rows(marquez, &format!("d.dataset_id = {}", literal(&id)), "").await?;
    if let Some(row) = rows.into_iter().next() {
        return Ok(row);
    }
    if !namespace_exists(marquez, namespace).await? {
        return Err(ApiError::not_found(format!(
            "Namespace '{namespace}' not found."
        )));
    }
    Err(ApiError::not_found(format!("Dataset '{name}' not found.")))
}

/// `GET /api/v1/namespaces/{ns}/datasets/{ds}`.
pub(crate) async fn one(
    State(marquez): State<Arc<Marquez>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Dataset>, ApiError> {
    let row = existing_dataset(&marquez, &namespace, &name).await?;
    let mut datasets = datasets_json(&marquez, &[row]).await?;
    Ok(Json(datasets.remove(0)))
}

/// `GET /api/v1/namespaces/{ns}/datasets/{ds}/versions`: newest first, each with the run that
/// wrote it.
pub(crate) async fn versions(
    State(marquez): State<Arc<Marquez>>,
    Path((namespace, name)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.sql()?;
    let dataset = existing_dataset(&marquez, &namespace, &name).await?;
    let id = literal(text(&dataset, "dataset_id").unwrap_or_default());
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT v.version, v.created_at AS version_created_at, v.schema, {RUN_COLUMNS} \
             FROM {VERSIONS} v LEFT JOIN runs r ON r.run_id = v.created_by_run \
             LEFT JOIN jobs j ON j.job_id = r.job_id WHERE v.dataset_id = {id} \
             ORDER BY v.created_at DESC, v.version DESC {limit}"
        ),
    )
    .await?;
    let total = query(
        &marquez.engine,
        &format!("SELECT count(*) AS n FROM {VERSIONS} v WHERE dataset_id = {id}"),
    )
    .await?;
    let runs: Vec<&str> = rows.iter().filter_map(|r| text(r, "run_id")).collect();
    let io = run_io(&marquez, &runs).await?;
    let versions: Vec<Value> = rows
        .iter()
        .map(|v| {
            let created_by = text(v, "run_id").map(|_| Run::new(v, &io, json!({})));
            json!({
                "id": {"namespace": namespace, "name": name},
                "type": "DB_TABLE",
                "name": name,
                "physicalName": name,
                "createdAt": value(v, "version_created_at"),
                "version": value(v, "version"),
                "namespace": namespace,
                "sourceName": text(&dataset, "source_uri").unwrap_or("default"),
                "fields": fields(Some(v)),
                "tags": tag_names(&dataset),
                "lifecycleState": null,
                "description": value(&dataset, "description"),
                "currentSchemaVersion": null,
                "createdByRun": created_by,
                "facets": {},
            })
        })
        .collect();
    Ok(Json(
        json!({"versions": versions, "totalCount": value(&total[0], "n")}),
    ))
}
