//! `prov9 optimize` and `prov9 vacuum`: the maintenance `serve` runs in the background, now,
//! with a progress bar over the tables.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use prov9_model::tables::TABLE_NAMES;
use prov9_store::{MaintenanceOptions, Warehouse};

use crate::args::MaintainArgs;
use crate::config::parse_duration;

pub async fn optimize(data: &str, args: MaintainArgs) -> anyhow::Result<()> {
    let (warehouse, options, bar) = prepare(data, &args).await?;
    let report = warehouse
        .optimize(&options, true, &|table| advance(&bar, table))
        .await;
    bar.finish_and_clear();
    println!("optimized: {}", report?);
    Ok(())
}

pub async fn vacuum(data: &str, args: MaintainArgs) -> anyhow::Result<()> {
    let (warehouse, options, bar) = prepare(data, &args).await?;
    let report = warehouse
        .vacuum(&options, &|table| advance(&bar, table))
        .await;
    bar.finish_and_clear();
    println!("vacuumed (retention {}): {}", args.retention, report?);
    Ok(())
}

async fn prepare(
    data: &str,
    args: &MaintainArgs,
) -> anyhow::Result<(Warehouse, MaintenanceOptions, ProgressBar)> {
    let options = MaintenanceOptions {
        retention: parse_duration(&args.retention).map_err(anyhow::Error::msg)?,
        ..MaintenanceOptions::default()
    };
    let warehouse = Warehouse::open_existing(data).await?;
    let bar = if std::io::stderr().is_terminal() && !args.no_progress {
        let bar = ProgressBar::new(TABLE_NAMES.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tables {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    Ok((warehouse, options, bar))
}

fn advance(bar: &ProgressBar, table: &str) {
    bar.set_message(table.to_string());
    bar.inc(1);
}
