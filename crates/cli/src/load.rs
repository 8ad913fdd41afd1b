//! `prov9 load PATH...`: bulk-load with a progress bar and a summary line.

use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use prov9_ingest::{LoadOptions, LoadProgress, Loader, RowCounts};
use prov9_store::Warehouse;

use crate::args::LoadArgs;

struct Bar(ProgressBar);

impl LoadProgress for Bar {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn committed(&self, events: usize, _rows: &RowCounts) {
        self.0.set_message(format!("committed {events} events"));
    }
}

pub async fn run(data: &str, args: LoadArgs) -> anyhow::Result<()> {
    let warehouse = Warehouse::open(data)
        .await
        .with_context(|| format!("opening warehouse {data}"))?;
    let options = LoadOptions {
        max_errors: args.max_errors,
        rejects_path: args.rejects.clone(),
        batch_events: args.batch_size.max(1),
        format: args.format.into(),
        ..LoadOptions::default()
    };
    let mut loader = Loader::new(warehouse, options).await?;
    let bar = if std::io::stderr().is_terminal() && !args.no_progress {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress = Bar(bar.clone());
    let result = loader.load_paths(&args.paths, &progress).await;
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            println!("{summary}");
            Ok(())
        }
        Err(e) => {
            let done = loader.summary();
            if done.events_new > 0 {
                eprintln!(
                    "prov9: committed before the error: {} events ({})",
                    done.events_new, done.rows
                );
            }
            Err(e.into())
        }
    }
}
