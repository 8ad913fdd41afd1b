//! The HTTP endpoint: OpenLineage ingest where Marquez has it, so `OPENLINEAGE_URL` pointing
//! at prov9 is the whole integration for Airflow and Dagster.
//!
//! - `POST /api/v1/lineage`: one event (a JSON object), a batch (a JSON array, or NDJSON), plain
//!   or `Content-Encoding: gzip`. 201 once every event is durably committed (group commit, see
//!   [`crate::group_commit`]); 400 with a JSON body naming the event and field for a malformed
//!   one (nothing of that request is stored); 413 over the size limit; 401 without a valid API
//!   key when keys are configured; 503 with `Retry-After` when the commit queue is full.
//! - `GET /healthz`: the process is up. `GET /readyz`: the warehouse answers.

use std::future::Future;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prov9_ingest::{RawEvent, parse_event};
use prov9_store::Warehouse;
use ring::digest;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::ServerError;
use crate::group_commit::{GroupCommitOptions, GroupCommitter, SubmitError};

/// Settings of the HTTP endpoint.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body, compressed or not, and largest body after decompression.
    pub max_body_bytes: usize,
    /// SHA-256 digests (hex) of the API keys that may ingest; empty: no key needed (loopback).
    pub api_key_digests: Vec<String>,
    pub group_commit: GroupCommitOptions,
}

/// 16 MiB: a backfill batch of tens of thousands of events.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            api_key_digests: Vec::new(),
            group_commit: GroupCommitOptions::default(),
        }
    }
}

struct AppState {
    warehouse: Warehouse,
    committer: GroupCommitter,
    options: HttpOptions,
}

/// A bound HTTP endpoint.
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
}

/// The SHA-256 digest (hex) of an API key, as the config file stores it.
pub fn api_key_digest(key: &str) -> String {
    hex_lower(digest::digest(&digest::SHA256, key.as_bytes()).as_ref())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl HttpServer {
    pub async fn bind(
        warehouse: Warehouse,
        addr: &str,
        options: HttpOptions,
    ) -> Result<Self, ServerError> {
        let listener = crate::listen::bind(addr, !options.api_key_digests.is_empty(), |addr| {
            ServerError::IngestExposedWithoutKeys { addr }
        })
        .await?;
        let committer = GroupCommitter::start(warehouse.clone(), options.group_commit.clone())
            .await
            .map_err(|e| ServerError::Ingest(e.to_string()))?;
        let limit = options.max_body_bytes;
        let state = Arc::new(AppState {
            warehouse,
            committer,
            options,
        });
        let router = Router::new()
            .route("/api/v1/lineage", post(ingest))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(ready))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(state);
        Ok(HttpServer { listener, router })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until `shutdown` resolves; requests in flight finish (their commits too).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn authorized(headers: &HeaderMap, options: &HttpOptions) -> bool {
    if options.api_key_digests.is_empty() {
        return true;
    }
    let Some(key) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let digest = api_key_digest(key.trim());
    options.api_key_digests.contains(&digest)
}

/// A refusal: the status and what to tell the client.
type Refusal = (StatusCode, String);

/// The body as text, gunzipped if it says so, within the size limit.
fn body_text(headers: &HeaderMap, body: &Bytes, limit: usize) -> Result<String, Refusal> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body.as_ref())
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}")))?;
        if out.len() > limit {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the decompressed body is over the limit of {limit} bytes"),
            ));
        }
        out
    } else {
        body.to_vec()
    };
    String::from_utf8(bytes).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not UTF-8: {}", e.utf8_error()),
        )
    })
}

/// The events of a body: one object, an array of them, or one per line.
fn split_events(text: &str) -> Result<Vec<String>, Refusal> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(trimmed)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid JSON array: {e}")))?;
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

async fn ingest(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers, &state.options) {
        let mut response = problem(
            StatusCode::UNAUTHORIZED,
            "a valid API key is required: Authorization: Bearer <key>",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let events = match body_text(&headers, &body, state.options.max_body_bytes)
        .and_then(|text| split_events(&text))
    {
        Ok(events) => events,
        Err((status, message)) => return problem(status, message),
    };
    if events.is_empty() {
        return problem(StatusCode::BAD_REQUEST, "no event in the body");
    }
    let several = events.len() > 1;
    let mut raw = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        if let Err(reason) = parse_event(&event) {
            let at = if several {
                format!("event {}: ", i + 1)
            } else {
                String::new()
            };
            return problem(StatusCode::BAD_REQUEST, format!("{at}{reason}"));
        }
        raw.push(RawEvent {
            text: event,
            source: format!("http:{}", i + 1),
        });
    }
    let count = raw.len();
    match state.committer.submit(raw).await {
        Ok(()) => (
            StatusCode::CREATED,
            axum::Json(json!({ "accepted": count })),
        )
            .into_response(),
        Err(SubmitError::QueueFull) => {
            let mut response = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the commit queue is full; retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.warehouse.version("events").await {
        Ok(version) => (
            StatusCode::OK,
            format!("ready (events table version {version})\n"),
        )
            .into_response(),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, format!("warehouse: {e}")),
    }
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

    #[test]
    fn api_keys_are_checked_by_digest() {
        let options = HttpOptions {
            api_key_digests: vec![api_key_digest("k1")],
            ..HttpOptions::default()
        };
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, &options));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k2"));
        assert!(!authorized(&headers, &options));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        assert!(authorized(&headers, &options));
        assert!(authorized(&HeaderMap::new(), &HttpOptions::default()));
    }
}
