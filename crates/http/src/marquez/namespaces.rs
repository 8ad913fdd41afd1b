//! Namespaces (every namespace a job or dataset lives in) and tags (the keys of the tags
//! facets of jobs and datasets).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::jobs::{NO_TIME, tag_names};
use super::rows::{Row, literal, query, value};
use super::with_models::{DATASETS, VERSIONS};
use super::{ApiError, Marquez, Page};

/// Each namespace with the first and last time anything in it happened.
async fn namespace_rows(
    marquez: &Marquez,
    only: Option<&str>,
    limit: &str,
) -> Result<Vec<Row>, ApiError> {
    let filter = only
        .map(|ns| format!("WHERE namespace = {}", literal(ns)))
        .unwrap_or_default();
    query(
        &marquez.engine,
        &format!(
            "SELECT namespace, min(first_at) AS created_at, max(last_at) AS updated_at FROM ( \
             SELECT j.namespace, min(COALESCE(r.started_at, r.updated_at)) AS first_at, \
             max(COALESCE(r.updated_at, r.ended_at, r.started_at)) AS last_at \
             FROM jobs j LEFT JOIN runs r ON r.job_id = j.job_id GROUP BY j.namespace \
             UNION ALL \
             SELECT d.namespace, min(v.created_at), max(v.created_at) \
             FROM {DATASETS} d LEFT JOIN {VERSIONS} v ON v.dataset_id = d.dataset_id GROUP BY d.namespace \
             ) t {filter} GROUP BY namespace ORDER BY namespace {limit}"
        ),
    )
    .await
}

fn namespace_json(row: &Row) -> Value {
    let time = |column: &str| match value(row, column) {
        Value::Null => json!(NO_TIME),
        t => t,
    };
    json!({
        "name": value(row, "namespace"),
        "createdAt": time("created_at"),
        "updatedAt": time("updated_at"),
        "ownerName": "anonymous",
        "description": null,
        "isHidden": false,
    })
}

/// `GET /api/v1/namespaces`: by name.
pub(crate) async fn list(
    State(marquez): State<Arc<Marquez>>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let rows = namespace_rows(&marquez, None, &page.sql()?).await?;
    let namespaces: Vec<Value> = rows.iter().map(namespace_json).collect();
    Ok(Json(json!({ "namespaces": namespaces })))
}

/// `GET /api/v1/namespaces/{ns}`.
pub(crate) async fn one(
    State(marquez): State<Arc<Marquez>>,
    Path(namespace): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = namespace_rows(&marquez, Some(&namespace), "").await?;
    rows.first()
        .map(|r| Json(namespace_json(r)))
        .ok_or_else(|| ApiError::not_found(format!("Namespace '{namespace}' not found.")))
}

/// `GET /api/v1/tags`: by name.
pub(crate) async fn tags(
    State(marquez): State<Arc<Marquez>>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    page.sql()?;
    let rows = query(
        &marquez.engine,
        "SELECT tags FROM jobs WHERE tags IS NOT NULL UNION ALL SELECT tags FROM datasets WHERE tags IS NOT NULL",
    )
    .await?;
    let names: BTreeSet<String> = rows
        .iter()
        .flat_map(tag_names)
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let tags: Vec<Value> = names
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .map(|name| json!({"name": name, "description": null}))
        .collect();
    Ok(Json(json!({ "tags": tags })))
}
