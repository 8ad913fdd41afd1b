//! The whole server in one process: the warehouse, the engine, the Postgres and HTTP endpoints
//! on their bound listeners, and one shutdown token for both. `prov9 serve` runs it until a
//! signal; tests start it in-process on port 0.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use prov9_http::{HttpOptions, HttpServer};
use prov9_ingest::{LoadOptions, Loader};
use prov9_pgwire::{PgServer, PgServerOptions};
use prov9_query::Engine;
use prov9_store::{MaintenanceOptions, Warehouse};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::listen::{Endpoint, bind};

/// Everything `prov9 serve` needs to start, after flags and the config file are read.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The warehouse location (a path or URL); created empty if missing.
    pub data: String,
    pub pg_listen: String,
    pub http_listen: String,
    /// Load the bundled demo pipeline first.
    pub demo: bool,
    pub pg: PgServerOptions,
    pub http: HttpOptions,
    /// Background maintenance (compaction, checkpoints, vacuum); `None`: off.
    pub maintenance: Option<MaintenanceSchedule>,
}

/// When `serve` maintains the tables by itself.
#[derive(Debug, Clone)]
pub struct MaintenanceSchedule {
    pub options: MaintenanceOptions,
    /// How often tables are looked at (compaction when they need it, checkpoints).
    pub every: Duration,
    /// How often vacuum runs.
    pub vacuum_every: Duration,
}

impl Default for MaintenanceSchedule {
    fn default() -> Self {
        MaintenanceSchedule {
            options: MaintenanceOptions::default(),
            every: Duration::from_secs(60),
            vacuum_every: Duration::from_secs(3600),
        }
    }
}

impl AppConfig {
    /// Both endpoints on free loopback ports, trusted, with default limits: what tests and a
    /// first try need.
    pub fn local(data: impl Into<String>) -> Self {
        AppConfig {
            data: data.into(),
            pg_listen: "127.0.0.1:0".into(),
            http_listen: "127.0.0.1:0".into(),
            demo: false,
            pg: PgServerOptions::default(),
            http: HttpOptions::default(),
            maintenance: Some(MaintenanceSchedule::default()),
        }
    }
}

/// A running server.
pub struct App {
    pub pg_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub warehouse: Warehouse,
    shutdown: CancellationToken,
    servers: JoinHandle<anyhow::Result<()>>,
}

impl App {
    /// Bind both listeners (refusing to expose either without credentials), open the
    /// warehouse, and start serving.
    pub async fn start(config: AppConfig) -> anyhow::Result<App> {
        let pg_listener = bind(
            &config.pg_listen,
            Endpoint::Postgres,
            !config.pg.users.is_empty(),
        )
        .await;
        let http_listener = bind(
            &config.http_listen,
            Endpoint::Http,
            !config.http.api_key_digests.is_empty() || !config.http.reader_key_digests.is_empty(),
        )
        .await;
        // Both problems at once, so that fixing one does not just reveal the other.
        let (pg_listener, http_listener) = match (pg_listener, http_listener) {
            (Ok(pg), Ok(http)) => (pg, http),
            (Err(pg), Err(http)) => anyhow::bail!("{pg:#}\nprov9: {http:#}"),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let warehouse = Warehouse::open(&config.data)
            .await
            .with_context(|| format!("opening warehouse {}", config.data))?;
        if config.demo {
            let mut loader = Loader::new(warehouse.clone(), LoadOptions::default()).await?;
            let summary = loader.load_events(prov9_ingest::demo::events()).await?;
            tracing::info!(
                "demo pipeline: {} new events ({})",
                summary.events_new,
                summary.rows
            );
        }
        let engine = Engine::new(&warehouse).await?;
        build_lineage_index_in_background(&engine);
        let http = HttpServer::new(http_listener, warehouse.clone(), &engine, config.http).await?;
        let pg = PgServer::new(pg_listener, &engine, config.pg)?;
        let (pg_addr, http_addr) = (pg.local_addr()?, http.local_addr()?);
        let shutdown = CancellationToken::new();
        if let Some(schedule) = config.maintenance.clone() {
            tokio::spawn(maintain(warehouse.clone(), schedule, shutdown.clone()));
        }
        let servers = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                let (pg, http) = tokio::join!(pg.run(shutdown.clone()), http.run(shutdown));
                pg?;
                http?;
                Ok(())
            }
        });
        Ok(App {
            pg_addr,
            http_addr,
            warehouse,
            shutdown,
            servers,
        })
    }

    /// The token that stops both servers.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Wait until both servers have stopped (after the shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.servers.await.context("the servers' task failed")?
    }

    /// Stop both servers gracefully and wait for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Build the lineage index while clients connect rather than in the first lineage query.
fn build_lineage_index_in_background(engine: &Engine) {
    let index = engine.lineage_index().clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match index.refresh().await {
            Ok(()) => {
                let graph = index.graph().await;
                tracing::info!(
                    "lineage index: {} edges, {} nodes in {:.2}s",
                    graph.edge_count(),
                    graph.node_count(),
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => tracing::warn!("lineage index: {e}"),
        }
    });
}

/// Maintenance in the background until shutdown: compaction and checkpoints every
/// `schedule.every`, vacuum every `schedule.vacuum_every`.
async fn maintain(warehouse: Warehouse, schedule: MaintenanceSchedule, stop: CancellationToken) {
    let mut last_vacuum = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(schedule.every) => {}
        }
        match warehouse.optimize(&schedule.options, false, &|_| {}).await {
            Ok(report) => tracing::debug!("maintenance: {report}"),
            Err(e) => tracing::warn!("maintenance (compaction) failed, will retry: {e}"),
        }
        if last_vacuum.elapsed() >= schedule.vacuum_every {
            last_vacuum = tokio::time::Instant::now();
            match warehouse.vacuum(&schedule.options, &|_| {}).await {
                Ok(report) => tracing::info!("maintenance: {report}"),
                Err(e) => tracing::warn!("maintenance (vacuum) failed, will retry: {e}"),
            }
        }
    }
}
