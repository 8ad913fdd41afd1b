//! Marquez's read API (0.51), so Marquez's web UI (`marquez-web` pointed at prov9 with
//! `MARQUEZ_HOST`/`MARQUEZ_PORT`) and scripts written against Marquez work unchanged.
//!
//! prov9 keeps versions; Marquez shows datasets and jobs. Each route reads the warehouse in SQL
//! through the query engine and collapses versions the way Marquez does: a dataset version is
//! its dataset, a run is its job. Shapes follow Marquez exactly (list envelopes
//! `{<plural>: [...], totalCount}`, errors `{code, message}`, run states COMPLETED / FAILED /
//! ABORTED, node ids `dataset:<ns>:<name>` — which are prov9's own dataset and job ids — and
//! nulls written out). One file per resource, holding its route and its Marquez shapes as typed structs (serialised
//! straight to the answer: building `serde_json::Value` trees was most of a 50,000-node lineage
//! answer's cost); [`rows`] turns query results into rows of values.

mod column_lineage;
mod datasets;
mod error;
mod events;
mod jobs;
mod lineage;
mod namespaces;
pub(crate) mod rows;
mod run_lineage;
mod runs;
mod search;
mod stats;
mod with_models;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use prov9_query::Engine;
use serde_json::Value;

use crate::api_keys::authorized;
pub(crate) use error::ApiError;

/// What the read routes share.
pub(crate) struct Marquez {
    pub engine: Engine,
    /// Digests of the keys that may read (ingest keys and reader keys); empty: no key needed.
    pub reader_key_digests: Vec<String>,
}

/// The read routes, under `/api/v1`.
pub(crate) fn router(state: Arc<Marquez>) -> Router {
    Router::new()
        .route("/api/v1/namespaces", get(namespaces::list))
        .route("/api/v1/namespaces/{namespace}", get(namespaces::one))
        .route("/api/v1/tags", get(namespaces::tags))
        .route("/api/v1/jobs", get(jobs::all))
        .route(
            "/api/v1/namespaces/{namespace}/jobs",
            get(jobs::of_namespace),
        )
        .route("/api/v1/namespaces/{namespace}/jobs/{job}", get(jobs::one))
        .route(
            "/api/v1/namespaces/{namespace}/jobs/{job}/runs",
            get(runs::of_job),
        )
        .route("/api/v1/jobs/runs/{run}", get(runs::one))
        .route("/api/v1/jobs/runs/{run}/facets", get(runs::facets))
        .route(
            "/api/v1/namespaces/{namespace}/datasets",
            get(datasets::list),
        )
        .route(
            "/api/v1/namespaces/{namespace}/datasets/{dataset}",
            get(datasets::one),
        )
        .route(
            "/api/v1/namespaces/{namespace}/datasets/{dataset}/versions",
            get(datasets::versions),
        )
        .route("/api/v1/lineage", get(lineage::lineage))
        .route("/api/v1/lineage/", get(lineage::lineage))
        .route(
            "/api/v1/column-lineage",
            get(column_lineage::column_lineage),
        )
        .route(
            "/api/v1/column-lineage/",
            get(column_lineage::column_lineage),
        )
        .route("/api/v1/runlineage/upstream", get(run_lineage::upstream))
        .route("/api/v1/search", get(search::search))
        .route("/api/v1/events/lineage", get(events::lineage_events))
        .route("/api/v1/stats/lineage-events", get(stats::lineage_events))
        .route("/api/v1/stats/{what}", get(stats::counts))
        .merge(crate::page::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), readers_only))
        .with_state(state)
}

/// Reads need a key when keys are configured, as ingest does.
async fn readers_only(
    State(state): State<Arc<Marquez>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !authorized(request.headers(), &state.reader_key_digests) {
        return Err(ApiError::unauthorized());
    }
    Ok(next.run(request).await)
}

impl Marquez {
    /// The lineage index, caught up with the newest commit.
    pub(crate) async fn lineage_graph(
        &self,
    ) -> Result<tokio::sync::RwLockReadGuard<'_, prov9_query::lineage::Graph>, ApiError> {
        self.engine
            .lineage_index()
            .current()
            .await
            .map_err(ApiError::internal)
    }
}

/// `limit` and `offset` of a list, as Marquez takes them (defaults 100 and 0).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Page {
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default)]
    pub offset: i64,
}

fn default_limit() -> i64 {
    100
}

impl Page {
    /// `LIMIT … OFFSET …`, refusing negative values as Marquez does.
    pub fn sql(&self) -> Result<String, ApiError> {
        if self.limit < 0 || self.offset < 0 {
            return Err(ApiError::bad_request(
                "limit and offset must be greater than or equal to 0",
            ));
        }
        Ok(format!("LIMIT {} OFFSET {}", self.limit, self.offset))
    }
}

/// A query parameter Marquez requires (`nodeId`, `runId`): 400 when missing or blank.
pub(crate) fn required(value: Option<String>, name: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("query param {name} must not be null")))
}

/// `{}`: the facets, args and context Marquez writes and prov9 has none of.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Empty {}

/// A job's or dataset's `{namespace, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub(crate) struct EntityId {
    pub namespace: Value,
    pub name: Value,
}

/// Marquez's default depth of its lineage routes.
pub(crate) const DEFAULT_DEPTH: u32 = 20;
