//! `prov9 sql "QUERY"`.

use anyhow::Context;
use prov9_query::Engine;
use prov9_store::Warehouse;

use crate::args::SqlArgs;
use crate::output;

pub async fn run(data: &str, args: SqlArgs) -> anyhow::Result<()> {
    let query = match (&args.query, &args.file) {
        (_, Some(file)) => {
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
        }
        (Some(q), None) if q == "-" => {
            std::io::read_to_string(std::io::stdin()).context("reading the query from stdin")?
        }
        (Some(q), None) => q.clone(),
        (None, None) => anyhow::bail!("no query given"),
    };
    let warehouse = Warehouse::open_existing(data).await?;
    let engine = match &args.as_of {
        Some(time) => Engine::as_of(&warehouse, time).await?,
        None => Engine::new(&warehouse).await?,
    };
    let (schema, batches) = engine.query(&query).await?;
    let text = output::render(&schema, &batches, args.format)?;
    print!("{text}");
    Ok(())
}
