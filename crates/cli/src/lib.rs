//! The `prov9` command line: `serve`, `load`, `sql`, `lineage`, `optimize`, `vacuum`,
//! `hash-password`.
//!
//! Each command lives in its own module and calls into the library crates; this crate only
//! parses arguments and the config file, reports progress and errors, and picks exit codes.
//! It is also where the server is composed ([`App`]): both listeners bound and checked for
//! exposure in one place, both front ends started on them, one shutdown token for both.

mod app;
mod args;
mod config;
mod hash_password;
mod lineage;
mod listen;
mod load;
mod maintain;
mod output;
mod serve;
mod sql;

use std::process::ExitCode;

use clap::Parser;

pub use app::{App, AppConfig};
pub use args::{Cli, Command};

/// Stack of each runtime thread (the main thread's is 8 MiB).
pub const THREAD_STACK_BYTES: usize = 16 << 20;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    // One TLS provider for the process, ring: what takes the process default (Delta kernel's
    // HTTP client, see patches/ in the workspace) gets it rather than a second crypto library.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Planning walks expression trees recursively (DataFusion's and delta-rs's rewrites);
        // a query with thousands of values in a list nests that deep. 2 MiB, tokio's default,
        // aborted the server on such a query; the memory is only reserved, not used.
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("prov9: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prov9: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(cli.data, args).await,
        Command::Load(args) => load::run(&data(cli.data), args).await,
        Command::Sql(args) => sql::run(&data(cli.data), args).await,
        Command::Lineage(args) => lineage::run(&data(cli.data), args).await,
        Command::Optimize(args) => maintain::optimize(&data(cli.data), args).await,
        Command::Vacuum(args) => maintain::vacuum(&data(cli.data), args).await,
        Command::HashPassword => hash_password::run(),
    }
}

fn data(flag: Option<String>) -> String {
    flag.unwrap_or_else(|| args::DEFAULT_DATA.to_string())
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        // delta-rs warns on every MERGE that one of its own metrics is missing: not the
        // user's concern.
        0 => {
            "warn,prov9=info,prov9_cli=info,prov9_pgwire=info,prov9_http=info,deltalake_core::operations::merge=error"
        }
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROV9_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
