//! `prov9 serve`: the Postgres endpoint, optionally after loading the demo.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use prov9_ingest::{LoadOptions, Loader};
use prov9_query::Engine;
use prov9_server::{PgServer, PgServerOptions};
use prov9_store::Warehouse;

use crate::args::ServeArgs;

pub async fn run(data: &str, args: ServeArgs) -> anyhow::Result<()> {
    let pg_addr: SocketAddr = args.pg_listen.parse().with_context(|| {
        format!(
            "--pg-listen {:?} is not an address like 127.0.0.1:5433",
            args.pg_listen
        )
    })?;
    // Without users (a later release adds them), only loopback may connect: the server is trusted.
    if !pg_addr.ip().is_loopback() {
        bail!(
            "refusing to listen on {pg_addr}: connections are not authenticated yet, so prov9 only listens on loopback (127.0.0.1 or ::1)"
        );
    }
    let _: SocketAddr = args
        .http_listen
        .parse()
        .with_context(|| format!("--http-listen {:?} is not an address", args.http_listen))?;

    let warehouse = Warehouse::open(data)
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
    let options = PgServerOptions {
        max_connections: args.max_connections,
        ..PgServerOptions::default()
    };
    let server = PgServer::bind(&engine, &args.pg_listen, options).await?;
    let addr = server.local_addr()?;
    tracing::info!("warehouse {} ready", warehouse.location());
    eprintln!(
        "prov9: serving {} on postgresql://{addr}/ (try: psql -h {} -p {} -c '\\dt')",
        warehouse.location(),
        addr.ip(),
        addr.port()
    );
    server.run(shutdown_signal()).await?;
    eprintln!("prov9: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
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
