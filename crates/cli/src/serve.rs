//! `prov9 serve`: flags and the config file into an [`AppConfig`], the app run until a signal.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use prov9_http::{DEFAULT_MAX_BODY_BYTES, HttpOptions};
use prov9_ingest::GroupCommitOptions;
use prov9_pgwire::PgServerOptions;

use crate::app::{App, AppConfig, MaintenanceSchedule};
use crate::args::{DEFAULT_DATA, ServeArgs};
use crate::config::{ServeConfig, parse_duration, parse_size};

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
    let _: SocketAddr = pg_listen.parse().with_context(|| {
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
    let http = HttpOptions {
        api_key_digests: config.api_key_digests.clone(),
        reader_key_digests: config.reader_key_digests.clone(),
        max_body_bytes: config.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        group_commit: GroupCommitOptions {
            fold_interval: duration_flag("fold-every", &args.fold_every)?,
            fold_events: args.fold_events.max(1),
            ..GroupCommitOptions::default()
        },
    };
    let app = App::start(AppConfig {
        data,
        pg_listen,
        http_listen,
        demo: args.demo,
        pg: options,
        http,
        maintenance: (!args.no_maintenance)
            .then(|| -> anyhow::Result<MaintenanceSchedule> {
                let mut schedule = MaintenanceSchedule::default();
                schedule.options.retention = duration_flag("retention", &args.retention)?;
                schedule.every = duration_flag("maintenance-every", &args.maintenance_every)?;
                schedule.options.max_small_files = args.compact_files.max(2);
                if schedule.every.is_zero() {
                    bail!("--maintenance-every must be more than 0 (use --no-maintenance to turn it off)");
                }
                Ok(schedule)
            })
            .transpose()?,
    })
    .await?;
    tracing::info!("warehouse {} ready", app.warehouse.location());
    let authenticates = !config.users.is_empty();
    let security = match (authenticates, config.tls.is_some()) {
        (false, _) => "trusted loopback, no password",
        (true, false) => "SCRAM-SHA-256 passwords",
        (true, true) => "SCRAM-SHA-256 passwords, TLS",
    };
    let addr = app.pg_addr;
    // On 0.0.0.0 or ::, loopback is the address to try from this machine.
    let try_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let try_user = if authenticates { " -U <user>" } else { "" };
    eprintln!(
        "prov9: serving {} on postgresql://{addr}/ ({security}; try: psql -h {try_host} -p {}{try_user} prov9 -c '\\dt')",
        app.warehouse.location(),
        addr.port()
    );
    eprintln!(
        "prov9: OpenLineage ingest on http://{0}/api/v1/lineage; lineage page on http://{0}/ (Marquez's read API under /api/v1)",
        app.http_addr
    );
    if cfg!(debug_assertions) {
        // `cargo run` builds this; fine for the demo, slow for a real history.
        eprintln!(
            "prov9: this is a debug build, for trying prov9 out and for its tests; for real data \
             build it optimised (cargo build --release): loads about 5x and queries 3-9x faster"
        );
    }
    // One signal stops both servers.
    let stop = app.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    app.wait().await?;
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

/// A duration flag's value, or an error naming the flag.
fn duration_flag(flag: &str, value: &str) -> anyhow::Result<std::time::Duration> {
    parse_duration(value).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}
