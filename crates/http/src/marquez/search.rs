//! `GET /api/v1/search?q=&filter=&sort=&limit=&namespace=`: jobs and datasets whose name holds
//! `q`, case-insensitively.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::rows::{literal, query, text, value};
use super::with_models::{DATASETS, VERSIONS};
use super::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
pub(crate) struct SearchQuery {
    q: Option<String>,
    filter: Option<String>,
    sort: Option<String>,
    limit: Option<i64>,
    namespace: Option<String>,
}

pub(crate) async fn search(
    State(marquez): State<Arc<Marquez>>,
    Query(s): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = s.q.as_deref().map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return Err(ApiError::bad_request("query param q must not be blank"));
    }
    let limit = s.limit.unwrap_or(10);
    if limit < 0 {
        return Err(ApiError::bad_request(
            "query param limit must be greater than or equal to 0",
        ));
    }
    let filter = s.filter.as_deref().map(str::to_ascii_uppercase);
    let (jobs, datasets) = match filter.as_deref() {
        None | Some("") => (true, true),
        Some("JOB") => (true, false),
        Some("DATASET") => (false, true),
        Some(_) => {
            return Err(ApiError::bad_request(
                "query param filter must be one of [DATASET, JOB]",
            ));
        }
    };
    let order = match s.sort.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("NAME") => "name, namespace",
        Some("UPDATE_AT") | Some("UPDATED_AT") => "updated_at DESC NULLS LAST, name",
        Some(_) => {
            return Err(ApiError::bad_request(
                "query param sort must be one of [NAME, UPDATE_AT]",
            ));
        }
    };
    // LIKE with the text as a literal: `%` and `_` in `q` match anything, as in Marquez.
    let pattern = literal(&format!("%{}%", q.to_lowercase()));
    let ns = s
        .namespace
        .as_deref()
        .map(|n| format!("AND namespace = {}", literal(n)))
        .unwrap_or_default();
    let mut parts = Vec::new();
    if jobs {
        parts.push(format!(
            "SELECT 'JOB' AS type, j.name, j.namespace, j.job_id AS node_id, \
             max(COALESCE(r.updated_at, r.ended_at, r.started_at)) AS updated_at \
             FROM jobs j LEFT JOIN runs r ON r.job_id = j.job_id \
             WHERE lower(j.name) LIKE {pattern} {ns} GROUP BY j.name, j.namespace, j.job_id"
        ));
    }
    if datasets {
        parts.push(format!(
            "SELECT 'DATASET' AS type, d.name, d.namespace, d.dataset_id AS node_id, \
             max(v.created_at) AS updated_at \
             FROM {DATASETS} d LEFT JOIN {VERSIONS} v ON v.dataset_id = d.dataset_id \
             WHERE lower(d.name) LIKE {pattern} {ns} GROUP BY d.name, d.namespace, d.dataset_id"
        ));
    }
    let sql = format!(
        "SELECT * FROM ({}) ORDER BY {order} LIMIT {limit}",
        parts.join(" UNION ALL ")
    );
    let results: Vec<Value> = query(&marquez.engine, &sql)
        .await?
        .iter()
        .map(|r| {
            json!({
                "type": value(r, "type"),
                "name": value(r, "name"),
                "updatedAt": match value(r, "updated_at") {
                    Value::Null => json!(super::jobs::NO_TIME),
                    t => t,
                },
                "namespace": value(r, "namespace"),
                "nodeId": text(r, "node_id"),
            })
        })
        .collect();
    Ok(Json(
        json!({"totalCount": results.len(), "results": results}),
    ))
}
