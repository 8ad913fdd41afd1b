//! `prov9 sql "QUERY"`.

use anyhow::Context;
use prov9_query::Engine;
use prov9_store::Warehouse;

use crate::args::SqlArgs;
use crate::output;

pub async fn run(data: &str, args: SqlArgs) -> anyhow::Result<()> {
    let warehouse = Warehouse::open(data).await.with_context(|| format!("opening warehouse {data}"))?;
    let engine = Engine::new(&warehouse).await?;
    let (schema, batches) = engine.query(&args.query).await?;
    let text = output::render(&schema, &batches, args.format)?;
    print!("{text}");
    Ok(())
}
