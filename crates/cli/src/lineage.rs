//! `prov9 lineage NODE`: a node's upstream and downstream drawn as DOT, Mermaid, SVG or JSON,
//! from the same walk the SQL lineage functions answer.

use prov9_graph::{Direction, walk};
use prov9_query::Engine;
use prov9_store::Warehouse;

use crate::args::LineageArgs;

pub async fn run(data: &str, args: LineageArgs) -> anyhow::Result<()> {
    let warehouse = Warehouse::open_existing(data).await?;
    let engine = match &args.as_of {
        Some(time) => Engine::as_of(&warehouse, time).await?,
        None => Engine::new(&warehouse).await?,
    };
    let directions = match (args.upstream, args.downstream) {
        (true, false) => vec![Direction::Upstream],
        (false, true) => vec![Direction::Downstream],
        _ => vec![Direction::Upstream, Direction::Downstream],
    };
    let graph = walk(&engine, &args.node, &directions, args.depth).await?;
    print!("{}", graph.render(args.format.into()));
    Ok(())
}
