//! `GET /api/v1/events/lineage?before&after&sortDirection&limit&offset`: the run events as
//! received, newest first by default.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use chrono::DateTime;
use serde_json::{Value, json};

use super::rows::{query, text, value};
use super::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsQuery {
    before: Option<String>,
    after: Option<String>,
    sort_direction: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// An ISO-8601 time with a zone, as microseconds since 1970.
pub(crate) fn micros(param: &str, text: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "query param {param} must be an ISO-8601 time with a zone: {e}"
            ))
        })
}

pub(crate) async fn lineage_events(
    State(marquez): State<Arc<Marquez>>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let before = micros(
        "before",
        q.before.as_deref().unwrap_or("2030-01-01T00:00:00+00:00"),
    )?;
    let after = micros(
        "after",
        q.after.as_deref().unwrap_or("1970-01-01T00:00:00+00:00"),
    )?;
    let direction = match q
        .sort_direction
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("desc") => "DESC",
        Some("asc") => "ASC",
        Some(_) => {
            return Err(ApiError::bad_request(
                "query param sortDirection must be one of [DESC, ASC]",
            ));
        }
    };
    let (limit, offset) = (q.limit.unwrap_or(100), q.offset.unwrap_or(0));
    if limit < 0 || offset < 0 {
        return Err(ApiError::bad_request(
            "limit and offset must be greater than or equal to 0",
        ));
    }
    let range = format!(
        "event_time >= to_timestamp_micros({after}) AND event_time < to_timestamp_micros({before})"
    );
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT payload FROM events WHERE {range} AND run_id IS NOT NULL \
             ORDER BY event_time {direction}, event_id LIMIT {limit} OFFSET {offset}"
        ),
    )
    .await?;
    let total = query(
        &marquez.engine,
        &format!("SELECT count(*) AS n FROM events WHERE {range}"),
    )
    .await?;
    let events: Vec<Value> = rows
        .iter()
        .filter_map(|r| serde_json::from_str(text(r, "payload")?).ok())
        .collect();
    Ok(Json(
        json!({"totalCount": value(&total[0], "n"), "events": events}),
    ))
}
