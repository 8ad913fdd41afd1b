//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Provenance-9: a provenance warehouse for ML data, queried in SQL over the Postgres protocol.
#[derive(Debug, Parser)]
#[command(name = "prov9", version, about)]
pub struct Cli {
    /// Warehouse location: a directory, file://, s3://bucket/prefix, gs://, az:// or memory://
    /// [default: ./prov9-data, or `data` in the serve config file].
    #[arg(long, global = true, env = "PROV9_DATA")]
    pub data: Option<String>,

    /// More logging (-v info, -vv debug); PROV9_LOG takes a full tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the warehouse: SQL over the Postgres wire protocol, OpenLineage ingest over HTTP.
    Serve(ServeArgs),
    /// Bulk-load OpenLineage NDJSON files or directories (idempotent).
    Load(LoadArgs),
    /// Run one SQL query and print the result.
    Sql(SqlArgs),
    /// Draw a node's lineage (upstream and downstream) as Mermaid, DOT, SVG or JSON.
    Lineage(LineageArgs),
    /// Compact the tables' small files and write checkpoints now (`serve` does it by itself).
    Optimize(MaintainArgs),
    /// Delete files, log entries and warehouse commits older than the retention window (time
    /// travel then reaches back that far).
    Vacuum(MaintainArgs),
    /// Read a password from standard input and print its SCRAM-SHA-256 verifier, the form
    /// `[[users]] password` takes in the config file.
    HashPassword,
}

/// Where the warehouse is when neither --data, PROV9_DATA nor a config file says.
pub const DEFAULT_DATA: &str = "./prov9-data";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (users, TLS, limits); flags given here override it.
    #[arg(long, env = "PROV9_CONFIG")]
    pub config: Option<PathBuf>,
    /// Postgres wire address [default: 127.0.0.1:5433]. Anything but loopback needs users.
    #[arg(long, env = "PROV9_PG_LISTEN")]
    pub pg_listen: Option<String>,
    /// HTTP address for OpenLineage ingest (POST /api/v1/lineage) and Marquez's read API
    /// (GET /api/v1/…) [default: 127.0.0.1:5000].
    /// Anything but loopback needs API keys.
    #[arg(long, env = "PROV9_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// Load the bundled example pipeline first, so there is something to query.
    #[arg(long)]
    pub demo: bool,
    /// Maximum concurrent Postgres connections [default: 100].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Default statement_timeout of every session, e.g. 30s or 5min [default: none].
    #[arg(long)]
    pub statement_timeout: Option<String>,
    /// Memory one connection's query may use, e.g. 512MiB [default: 2GiB].
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// How far back time travel reaches: background vacuum deletes what is older, e.g. 7d, 12h.
    #[arg(long, default_value = "7d")]
    pub retention: String,
    /// No background maintenance (compaction, checkpoints, vacuum); run `prov9 optimize` and
    /// `prov9 vacuum` yourself.
    #[arg(long)]
    pub no_maintenance: bool,
    /// How often background maintenance looks at the tables (compacting those with many small
    /// files, checkpointing); vacuum runs hourly.
    #[arg(long, default_value = "60s")]
    pub maintenance_every: String,
    /// Small files a table gathers (per size tier) before background maintenance compacts
    /// them: fewer keeps scans faster, more rewrites less (and keeps less for time travel).
    #[arg(long, default_value_t = 16)]
    pub compact_files: usize,
    /// Longest an acknowledged event waits in the durable log before it is folded into the
    /// tables (queries see it at once either way).
    #[arg(long, default_value = "10s")]
    pub fold_every: String,
    /// Unfolded events that start a fold-in early.
    #[arg(long, default_value_t = 20_000)]
    pub fold_events: usize,
}

#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// How far back time travel must keep reaching, e.g. 7d, 12h, 0s (vacuum keeps only the
    /// newest version then).
    #[arg(long, default_value = "7d")]
    pub retention: String,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Files or directories (.ndjson, .jsonl, .json, optionally .gz), bucket prefixes of them
    /// (s3://bucket/prefix/, gs://…, az://…), or MLflow stores (mlflow.db, sqlite:///…,
    /// postgresql://…, mlruns/).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// Skip up to N bad lines (written to the rejects file) instead of stopping at the first.
    #[arg(long, default_value_t = 0)]
    pub max_errors: usize,
    /// Where skipped lines go.
    #[arg(long, default_value = "prov9-rejects.ndjson")]
    pub rejects: PathBuf,
    /// Events per commit.
    #[arg(long, default_value_t = 100_000)]
    pub batch_size: usize,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// An MLflow store when a path is one, OpenLineage events otherwise.
    Auto,
    /// OpenLineage events: NDJSON or JSON documents, optionally gzip.
    Openlineage,
    /// MLflow stores: tracking databases and `mlruns/` directories.
    Mlflow,
}

impl From<InputFormat> for prov9_ingest::InputFormat {
    fn from(f: InputFormat) -> Self {
        match f {
            InputFormat::Auto => prov9_ingest::InputFormat::Auto,
            InputFormat::Openlineage => prov9_ingest::InputFormat::OpenLineage,
            InputFormat::Mlflow => prov9_ingest::InputFormat::Mlflow,
        }
    }
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query; `-` reads it from standard input.
    #[arg(allow_hyphen_values = true, required_unless_present = "file")]
    pub query: Option<String>,
    /// Read the query from a file instead (e.g. sql/examples/upstream.sql).
    #[arg(short, long, conflicts_with = "query")]
    pub file: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Answer as the warehouse was at this time (commit time), e.g. 2026-11-02T00:00:00Z.
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// The node, as `lineage_edges` names it: dataset:<namespace>:<name>@<version>,
    /// run:<run id>, model:<namespace>:<name>@<version>, deployment:…
    pub node: String,
    /// Only what the node was made from.
    #[arg(long, conflicts_with = "downstream")]
    pub upstream: bool,
    /// Only what was made from the node.
    #[arg(long)]
    pub downstream: bool,
    /// Hops to follow [default: all].
    #[arg(long)]
    pub depth: Option<u32>,
    /// Output format: mermaid (GitHub and GitLab draw it), dot (Graphviz), svg or json.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
    /// Answer as the warehouse was at this time (commit time), e.g. 2026-11-02T00:00:00Z.
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    Svg,
    Json,
}

impl From<GraphFormat> for prov9_graph::Format {
    fn from(f: GraphFormat) -> Self {
        match f {
            GraphFormat::Mermaid => prov9_graph::Format::Mermaid,
            GraphFormat::Dot => prov9_graph::Format::Dot,
            GraphFormat::Svg => prov9_graph::Format::Svg,
            GraphFormat::Json => prov9_graph::Format::Json,
        }
    }
}
