//! prov9's HTTP front end: OpenLineage ingest where Marquez has it, so `OPENLINEAGE_URL` pointing
//! at prov9 is the whole integration for Airflow and Dagster.
//!
//! - `POST /api/v1/lineage`: one event (a JSON object), a batch (a JSON array, or NDJSON), plain
//!   or `Content-Encoding: gzip`. 201 once every event is durably committed (group commit, see
//!   [`prov9_ingest::GroupCommitter`]); 400 with a JSON body naming the event and field for a
//!   malformed one (nothing of that request is stored); 413 over the size limit; 401 without a
//!   valid API key when keys are configured; 503 with `Retry-After` when the commit queue is full.
//! - `POST /api/v1/lineage/batch`: OpenLineage's standard batch endpoint: a JSON array of
//!   events, 200 `{"accepted": n}` once all are durably committed; otherwise as above.
//! - `GET /api/v1/namespaces`, `/jobs`, `/lineage`, … : Marquez's read API ([`marquez`]), so
//!   Marquez's web UI and clients work unchanged against prov9.
//! - `GET /`, `/node?id=`: prov9's own lineage page ([`page`]): search, a node's graph as SVG.
//! - `GET /healthz`: the process is up. `GET /readyz`: the warehouse answers.
//!
//! [`HttpServer`] serves a listener the caller bound (and checked: see `prov9-cli`'s exposure
//! check) until a shutdown token is cancelled. Every error answer is a [`Problem`].

mod api_keys;
mod error;
mod ingest;
mod marquez;
mod page;
mod problem;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prov9_ingest::{CommitterTask, GroupCommitOptions, GroupCommitter};
use prov9_query::Engine;
use prov9_store::Warehouse;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use api_keys::api_key_digest;
pub use error::HttpError;
pub use problem::Problem;

/// Settings of the HTTP endpoint.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body, compressed or not, and largest body after decompression.
    pub max_body_bytes: usize,
    /// SHA-256 digests (hex) of the API keys that may ingest (and read); empty, with no reader
    /// keys either: no key needed (loopback).
    pub api_key_digests: Vec<String>,
    /// SHA-256 digests (hex) of the API keys that may only read.
    pub reader_key_digests: Vec<String>,
    pub group_commit: GroupCommitOptions,
}

/// 16 MiB: a backfill batch of tens of thousands of events.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            api_key_digests: Vec::new(),
            reader_key_digests: Vec::new(),
            group_commit: GroupCommitOptions::default(),
        }
    }
}

/// The HTTP endpoint on a bound listener.
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    committer: CommitterTask,
}

impl HttpServer {
    /// Serve `listener`, committing events to `warehouse` (the committer starts now) and
    /// answering reads with `engine`.
    pub async fn new(
        listener: TcpListener,
        warehouse: Warehouse,
        engine: &Engine,
        options: HttpOptions,
    ) -> Result<Self, HttpError> {
        let (committer, committer_task) =
            GroupCommitter::start(warehouse.clone(), options.group_commit.clone())
                .await
                .map_err(HttpError::StartIngest)?;
        let ingest = Arc::new(ingest::Ingest {
            committer,
            max_body_bytes: options.max_body_bytes,
            api_key_digests: options.api_key_digests.clone(),
            // Reader keys alone lock ingest too: a key is then needed, and none may write.
            keys_configured: !options.api_key_digests.is_empty()
                || !options.reader_key_digests.is_empty(),
        });
        let mut readers = options.api_key_digests.clone();
        readers.extend(options.reader_key_digests.iter().cloned());
        let marquez = Arc::new(marquez::Marquez {
            engine: engine.clone(),
            reader_key_digests: readers,
        });
        let router = Router::new()
            .route("/api/v1/lineage", post(ingest::ingest))
            .route("/api/v1/lineage/batch", post(ingest::ingest_batch))
            .with_state(ingest)
            .merge(
                Router::new()
                    .route("/healthz", get(|| async { "ok\n" }))
                    .route("/readyz", get(ready))
                    .with_state(warehouse),
            )
            .merge(marquez::router(marquez))
            .fallback(|| async { marquez::ApiError::not_found("HTTP 404 Not Found") })
            .layer(DefaultBodyLimit::max(options.max_body_bytes));
        Ok(HttpServer {
            listener,
            router,
            committer: committer_task,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, HttpError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until `shutdown` is cancelled; requests in flight finish (their commits too), then
    /// every acknowledged event is folded into the tables.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), HttpError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        // The router, and with it the last committer handle, is gone: the committer folds in.
        self.committer.finished().await;
        Ok(())
    }
}

async fn ready(State(warehouse): State<Warehouse>) -> Result<Response, Problem> {
    match warehouse.version("events").await {
        Ok(version) => Ok((
            StatusCode::OK,
            format!("ready (events table version {version})\n"),
        )
            .into_response()),
        Err(e) => Err(Problem::unavailable(format!("warehouse: {e}"))),
    }
}
