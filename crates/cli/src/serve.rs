//! `prov9 serve`: the Postgres endpoint, optionally after loading the demo.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use prov9_ingest::{LoadOptions, Loader};
use prov9_query::Engine;
use prov9_server::config::{parse_duration, parse_size};
use prov9_server::{
    DEFAULT_MAX_BODY_BYTES, HttpOptions, HttpServer, PgServer, PgServerOptions, ServeConfig,
};
use prov9_store::Warehouse;

use crate::args::{DEFAULT_DATA, ServeArgs};

const DEFAULT_PG_LISTEN: &str = "127.0.0.1:5433";
const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:5000";

pub async fn run(data: Option<String>, args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => ServeConfig::from_file(path)?,
        None => ServeConfig::default(),
    };
    // Flags (and their environment variables) first, then the file, then defaults.
    let data = data
        .or(config.data.clone())
        .unwrap_or_else(|| DEFAULT_DATA.to_string());
    let pg_listen = args
        .pg_listen
        .or(config.pg_listen.clone())
        .unwrap_or_else(|| DEFAULT_PG_LISTEN.to_string());
    let http_listen = args
        .http_listen
        .or(config.http_listen.clone())
        .unwrap_or_else(|| DEFAULT_HTTP_LISTEN.to_string());
    let pg_addr: SocketAddr = pg_listen.parse().with_context(|| {
        format!("pg_listen {pg_listen:?} is not an address like 127.0.0.1:5433")
    })?;
    let _: SocketAddr = http_listen
        .parse()
        .with_context(|| format!("http_listen {http_listen:?} is not an address"))?;
    let defaults = PgServerOptions::default();
    let statement_timeout = match args.statement_timeout.as_deref() {
        Some(t) => Some(parse_duration(t).map_err(anyhow::Error::msg)?),
        None => config.statement_timeout,
    };
    let memory_limit = match args.memory_limit.as_deref() {
        Some(m) => parse_size(m).map_err(anyhow::Error::msg)?,
        None => config.memory_limit.unwrap_or(defaults.memory_limit),
    };
    if memory_limit == 0 {
        bail!("memory_limit must be more than 0");
    }
    let options = PgServerOptions {
        max_connections: args
            .max_connections
            .or(config.max_connections)
            .unwrap_or(defaults.max_connections),
        shutdown_grace: config.shutdown_grace.unwrap_or(defaults.shutdown_grace),
        users: config.users.clone(),
        tls: config.tls.clone(),
        statement_timeout: statement_timeout.filter(|t| !t.is_zero()),
        memory_limit,
    };
    if options.users.is_empty() && !pg_addr.ip().is_loopback() {
        bail!(prov9_server::ServerError::ExposedWithoutUsers {
            addr: pg_addr.to_string()
        });
    }

    let warehouse = Warehouse::open(&data)
        .await
        .with_context(|| format!("opening warehouse {data}"))?;
    if args.demo {
        let mut loader = Loader::new(warehouse.clone(), LoadOptions::default()).await?;
        let summary = loader.load_events(prov9_ingest::demo::events()).await?;
        tracing::info!(
            "demo pipeline: {} new events ({})",
            summary.events_new,
            summary.rows
        );
    }
    let engine = Engine::new(&warehouse).await?;
    // Build the lineage index while clients connect rather than in the first lineage query.
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
    let http_options = HttpOptions {
        api_key_digests: config.api_key_digests.clone(),
        max_body_bytes: config.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        ..HttpOptions::default()
    };
    let http = HttpServer::bind(warehouse.clone(), &http_listen, http_options).await?;
    let http_addr = http.local_addr()?;
    let server = PgServer::bind(&engine, &pg_listen, options).await?;
    let addr = server.local_addr()?;
    tracing::info!("warehouse {} ready", warehouse.location());
    let security = match (server.authenticates(), server.tls()) {
        (false, _) => "trusted loopback, no password",
        (true, false) => "SCRAM-SHA-256 passwords",
        (true, true) => "SCRAM-SHA-256 passwords, TLS",
    };
    // On 0.0.0.0 or ::, loopback is the address to try from this machine.
    let try_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let try_user = if server.authenticates() {
        " -U <user>"
    } else {
        ""
    };
    eprintln!(
        "prov9: serving {} on postgresql://{addr}/ ({security}; try: psql -h {try_host} -p {}{try_user} prov9 -c '\\dt')",
        warehouse.location(),
        addr.port()
    );
    eprintln!("prov9: OpenLineage ingest on http://{http_addr}/api/v1/lineage");
    // One signal stops both servers.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let (pg, http) = tokio::join!(server.run(wait(stopping.clone())), http.run(wait(stopping)));
    pg?;
    http?;
    eprintln!("prov9: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        // Without a handler there is no Ctrl-C to wait for; never mistake that for one.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
