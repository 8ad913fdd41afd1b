//! The dashboard's numbers: `/stats/lineage-events` (events per state per hour of the last day,
//! or per day of the last week) and `/stats/{jobs,datasets,sources}` (how many existed by the
//! end of each hour or day). Always 24 or 7 buckets: Marquez's UI reads the last one. Buckets
//! are in UTC (`timezone` is accepted; days start at midnight UTC).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{Value, json};

use super::rows::{iso, query, text, value};
use super::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
pub(crate) struct StatsQuery {
    period: Option<String>,
    // `timezone` is accepted and not used: buckets are UTC.
}

/// The buckets' starts (microseconds) and their length.
fn buckets(period: Option<&str>) -> Result<(Vec<i64>, i64), ApiError> {
    let (count, step) = match period.map(str::to_ascii_uppercase).as_deref() {
        Some("DAY") => (24, TimeDelta::hours(1)),
        Some("WEEK") => (7, TimeDelta::days(1)),
        _ => return Err(ApiError::bad_request("Invalid period")),
    };
    let now: DateTime<Utc> = Utc::now();
    let last = now.duration_trunc(step).map_err(ApiError::internal)?;
    let step_micros = step.num_microseconds().unwrap_or(0);
    let last = last.timestamp_micros();
    Ok((
        (0..count).rev().map(|i| last - i * step_micros).collect(),
        step_micros,
    ))
}

fn parse(ts: &Value) -> Option<i64> {
    DateTime::parse_from_rfc3339(ts.as_str()?)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// `GET /api/v1/stats/lineage-events?period=DAY|WEEK`.
pub(crate) async fn lineage_events(
    State(marquez): State<Arc<Marquez>>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
    let (starts, step) = buckets(q.period.as_deref())?;
    let rows = query(
        &marquez.engine,
        &format!(
            "SELECT event_time, event_type FROM events WHERE event_time >= to_timestamp_micros({}) \
             AND event_type IN ('START', 'COMPLETE', 'FAIL', 'ABORT')",
            starts[0]
        ),
    )
    .await?;
    let mut counts: HashMap<(usize, &str), i64> = HashMap::new();
    for row in &rows {
        let (Some(at), Some(kind)) = (parse(&value(row, "event_time")), text(row, "event_type"))
        else {
            continue;
        };
        let bucket = ((at - starts[0]) / step) as usize;
        *counts.entry((bucket, kind)).or_default() += 1;
    }
    let out: Vec<Value> = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let n = |kind| counts.get(&(i, kind)).copied().unwrap_or(0);
            json!({
                "startInterval": iso(start),
                "endInterval": iso(start + step),
                "fail": n("FAIL"),
                "start": n("START"),
                "complete": n("COMPLETE"),
                "abort": n("ABORT"),
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

/// `GET /api/v1/stats/{jobs,datasets,sources}?period=DAY|WEEK`: running totals.
pub(crate) async fn counts(
    State(marquez): State<Arc<Marquez>>,
    Path(what): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
    let sql = match what.as_str() {
        "jobs" => {
            "SELECT min(COALESCE(r.started_at, r.updated_at)) AS first_at FROM jobs j \
                   LEFT JOIN runs r ON r.job_id = j.job_id GROUP BY j.job_id"
        }
        "datasets" => {
            "SELECT min(v.created_at) AS first_at FROM datasets d \
                       LEFT JOIN dataset_versions v ON v.dataset_id = d.dataset_id GROUP BY d.dataset_id"
        }
        "sources" => {
            "SELECT min(v.created_at) AS first_at FROM datasets d \
                      LEFT JOIN dataset_versions v ON v.dataset_id = d.dataset_id \
                      GROUP BY COALESCE(d.source_uri, d.namespace)"
        }
        _ => return Err(ApiError::not_found("HTTP 404 Not Found")),
    };
    let (starts, step) = buckets(q.period.as_deref())?;
    let firsts: Vec<Option<i64>> = query(&marquez.engine, sql)
        .await?
        .iter()
        .map(|r| parse(&value(r, "first_at")))
        .collect();
    let out: Vec<Value> = starts
        .iter()
        .map(|&start| {
            let end = start + step;
            // Something prov9 has no time for existed all along.
            let count = firsts.iter().filter(|t| t.is_none_or(|t| t < end)).count();
            json!({"startInterval": iso(start), "endInterval": iso(end), "count": count})
        })
        .collect();
    Ok(Json(Value::Array(out)))
}
