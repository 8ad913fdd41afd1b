//! prov9's ingest layer: OpenLineage events in, rows of the public schema out.
//!
//! * [`WarehouseState`] — what the warehouse already holds that normalisation needs: the keys of
//!   every stored row (so nothing is stored twice), the mutable rows (jobs, runs, datasets,
//!   dataset versions) and each dataset's versions in time order (to resolve unversioned inputs).
//! * [`Normalizer`] — turns parsed events into [`Changes`]: new rows per table.
//! * [`Changes::commit`] — writes them, one Delta commit per table, `events` last: an event only
//!   counts as ingested once everything derived from it is stored, and every derived row is
//!   deduplicated by key, so a load interrupted between commits is completed, not doubled, by
//!   running it again.
//! * [`Loader`] — the bulk loader behind `prov9 load`: NDJSON files (plain or gzip) and
//!   directories of them, streamed in bounded batches; MLflow file stores (`mlruns/`),
//!   translated into OpenLineage events with prov9's facets first. Each batch ends with a
//!   warehouse commit (`prov9_store::Warehouse::publish`).
//! * [`GroupCommitter`] — live ingest behind `POST /api/v1/lineage` (`live/`): requests grouped,
//!   logged durably, visible at once through the live tail, folded into the tables in large
//!   batches in the background.

mod changes;
mod error;
mod keys;
mod lines;
mod live;
mod loader;
mod mlflow;
mod normalize;
mod state;

pub mod demo;

pub use changes::{Changes, RowCounts};
pub use error::IngestError;
pub use lines::{event_id, parse_event};
pub use live::{CommitterTask, GroupCommitOptions, GroupCommitter};
pub use loader::{InputFormat, LoadOptions, LoadProgress, LoadSummary, Loader, RawEvent};
pub use normalize::{Normalizer, ParsedEvent};
pub use state::WarehouseState;
