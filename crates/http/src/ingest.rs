//! `POST /api/v1/lineage`: one event (a JSON object), a batch (a JSON array, or NDJSON), plain
//! or `Content-Encoding: gzip`, answered 201 once every event is durably committed.
//!
//! `POST /api/v1/lineage/batch`: OpenLineage's standard batch endpoint (spec 1.40): a JSON array
//! of events, answered 200 once every event is durably committed. Either way a request is all or
//! nothing: one malformed event rejects the request and stores none of it.

use std::io::Read;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prov9_ingest::{GroupCommitter, IngestError, ParsedEvent};
use serde_json::{Value, json};

use crate::api_keys::authorized;
use crate::problem::Problem;

/// What the ingest route needs.
pub(crate) struct Ingest {
    pub committer: GroupCommitter,
    pub max_body_bytes: usize,
    /// SHA-256 digests (hex) of the API keys that may ingest.
    pub api_key_digests: Vec<String>,
    /// Whether any key (ingest or read) is configured; if not, no key is needed.
    pub keys_configured: bool,
}

pub(crate) async fn ingest(
    State(state): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let text = authorized_text(&state, &headers, &body)?;
    let events = split_events(&text)?;
    if events.is_empty() {
        return Err(Problem::bad_request("no event in the body"));
    }
    commit(&state, events, StatusCode::CREATED).await
}

/// OpenLineage's `postEventBatch`: the body is a JSON array of events; 200 when committed.
pub(crate) async fn ingest_batch(
    State(state): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let text = authorized_text(&state, &headers, &body)?;
    if !text.trim_start().starts_with('[') {
        return Err(Problem::bad_request(
            "the batch endpoint takes a JSON array of events; send a single event to /api/v1/lineage",
        ));
    }
    let events = split_events(&text)?;
    if events.is_empty() {
        return Ok((StatusCode::OK, axum::Json(json!({ "accepted": 0 }))).into_response());
    }
    commit(&state, events, StatusCode::OK).await
}

/// Parse every event (naming the first bad one), then commit them all durably, or none.
async fn commit(
    state: &Ingest,
    events: Vec<String>,
    success: StatusCode,
) -> Result<Response, Problem> {
    let several = events.len() > 1;
    let mut parsed = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        match ParsedEvent::parse(event, format!("http:{}", i + 1)) {
            Ok(event) => parsed.push(event),
            Err(reason) => {
                let at = if several {
                    format!("event {}: ", i + 1)
                } else {
                    String::new()
                };
                return Err(Problem::bad_request(format!("{at}{reason}")));
            }
        }
    }
    let count = parsed.len();
    match state.committer.submit(parsed).await {
        Ok(()) => Ok((success, axum::Json(json!({ "accepted": count }))).into_response()),
        Err(IngestError::CommitQueueFull) => Err(Problem::busy()),
        Err(e) => Err(Problem::internal(e.to_string())),
    }
}

/// The body as text, once the request's API key is checked.
fn authorized_text(state: &Ingest, headers: &HeaderMap, body: &Bytes) -> Result<String, Problem> {
    let no_ingest_key = state.keys_configured && state.api_key_digests.is_empty();
    if no_ingest_key || !authorized(headers, &state.api_key_digests) {
        return Err(Problem::unauthorized());
    }
    body_text(headers, body, state.max_body_bytes)
}

/// The body as text, gunzipped if it says so, within the size limit.
fn body_text(headers: &HeaderMap, body: &Bytes, limit: usize) -> Result<String, Problem> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body.as_ref())
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Problem::bad_request(format!("invalid gzip body: {e}")))?;
        if out.len() > limit {
            return Err(Problem::too_large(format!(
                "the decompressed body is over the limit of {limit} bytes"
            )));
        }
        out
    } else {
        body.to_vec()
    };
    String::from_utf8(bytes)
        .map_err(|e| Problem::bad_request(format!("the body is not UTF-8: {}", e.utf8_error())))
}

/// The events of a body: one object, an array of them, or one per line.
fn split_events(text: &str) -> Result<Vec<String>, Problem> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(trimmed)
            .map_err(|e| Problem::bad_request(format!("invalid JSON array: {e}")))?;
        return Ok(values.iter().map(Value::to_string).collect());
    }
    // A single (possibly pretty-printed) object, else NDJSON.
    if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        return Ok(vec![value.to_string()]);
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_into_events() {
        assert_eq!(split_events(r#"{"a": 1}"#).unwrap(), vec![r#"{"a":1}"#]);
        assert_eq!(
            split_events("{\n  \"a\": 1\n}\n").unwrap(),
            vec![r#"{"a":1}"#]
        );
        assert_eq!(
            split_events(r#"[{"a":1},{"b":2}]"#).unwrap(),
            vec![r#"{"a":1}"#, r#"{"b":2}"#]
        );
        assert_eq!(
            split_events("{\"a\":1}\n\n{\"b\":2}\n").unwrap(),
            vec![r#"{"a":1}"#, r#"{"b":2}"#]
        );
    }
}
