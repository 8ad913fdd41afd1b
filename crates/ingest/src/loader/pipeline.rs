//! The three-stage batch pipeline: parse, normalise, commit.
//!
//! Lines are parsed as they are read (on a thread of their own, see `lines.rs`) and normalised
//! in batches of a bounded number of events. A batch commits (a task of its own) while the next
//! one is normalised, and at most one commit is in flight, so memory stays bounded whatever the
//! file size; three stages — parse, normalise, commit — keep both cores busy.

use std::time::Instant;

use prov9_model::tables::EventRow;
use prov9_store::Warehouse;

use super::{LoadProgress, Loader};
use crate::changes::{Changes, RowCounts};
use crate::lines::{Line, parse_event, parse_text};
use crate::normalize::ParsedEvent;
use crate::{IngestError, Normalizer, WarehouseState};

/// What one batch's commit added.
pub(super) struct Committed {
    events: usize,
    rows: RowCounts,
    /// Every table's version right after the commit.
    table_versions: Vec<i64>,
    /// Another writer's commit won a race: the batch was normalised again and committed.
    raced: bool,
}

impl Loader {
    /// One event's text (a line, a value of a JSON document, an MLflow event) into the batch;
    /// blank text is skipped.
    pub(super) async fn add_line(
        &mut self,
        line: &str,
        source: String,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        match parse_text(line, source) {
            Some(line) => self.add(line, progress).await,
            None => Ok(()),
        }
    }

    /// Take one parsed line into the batch (unless stored already), or reject it.
    pub(super) async fn add(
        &mut self,
        line: Line,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        self.summary.events_read += 1;
        match line {
            Line::Event {
                event,
                event_id,
                text,
                source,
            } => {
                if self.state.has_event(&event_id) {
                    return Ok(());
                }
                self.batch_bytes += text.len();
                self.batch.push(ParsedEvent {
                    event,
                    event_id,
                    payload: text,
                    source,
                });
                if self.batch.len() >= self.options.batch_events
                    || self.batch_bytes >= self.options.batch_bytes
                {
                    self.flush(progress).await?;
                }
                Ok(())
            }
            Line::Bad {
                text,
                source,
                reason,
            } => self.reject(&text, source, reason),
        }
    }

    /// Normalise the pending batch and start its commit once the previous one has landed.
    ///
    /// The batch is normalised while the previous batch commits. If another writer committed
    /// meanwhile (the state normalisation used may lack its rows), the state is read again and
    /// the batch normalised again from its events' text before it commits.
    pub(super) async fn flush(&mut self, progress: &dyn LoadProgress) -> Result<(), IngestError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if self.committing.is_none() {
            self.read_other_writers().await?;
        }
        let began = Instant::now();
        let normalised = self.normalise(batch);
        tracing::debug!(elapsed = ?began.elapsed(), "batch normalised");
        if self.committing.is_some() {
            self.finish_commit(progress).await?;
            let changes = normalised?;
            let changes = if self.read_other_writers().await? {
                self.normalise(reparse(changes.events)?)?
            } else {
                changes
            };
            self.start_commit(changes);
        } else {
            self.start_commit(normalised?);
        }
        Ok(())
    }

    pub(crate) fn normalise(&mut self, batch: Vec<ParsedEvent>) -> Result<Changes, IngestError> {
        normalise(&mut self.state, batch)
    }

    fn start_commit(&mut self, changes: Changes) {
        let warehouse = self.warehouse.clone();
        self.committing = Some(tokio::spawn(async move {
            let began = Instant::now();
            let _batch = warehouse.batch_lock().await;
            let (changes, rows, raced) = commit_despite_races(&warehouse, changes).await?;
            let events = changes.events.len();
            warehouse
                .publish(prov9_store::source::LOAD, rows.by_table(), None, None)
                .await?;
            // Our own commits moved the versions; recorded at once (without another round of
            // listings), so that a commit made later by another writer shows as a difference.
            let table_versions = table_versions(&warehouse, false).await?;
            tracing::debug!(events, elapsed = ?began.elapsed(), "batch committed");
            Ok(Committed {
                events,
                rows,
                table_versions,
                raced,
            })
        }));
    }

    /// Wait for the commit in flight, if any, and count what it added.
    pub(super) async fn finish_commit(
        &mut self,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let Some(commit) = self.committing.take() else {
            return Ok(());
        };
        let Committed {
            events,
            rows,
            table_versions,
            raced,
        } = commit.await.map_err(IngestError::CommitTask)??;
        // After a race the state lacks the other writer's rows: an empty list differs from
        // any, so the next batch reads the state again before it commits.
        self.table_versions = if raced { Vec::new() } else { table_versions };
        self.summary.events_new += events;
        self.summary.rows.add(&rows);
        progress.committed(events, &rows);
        Ok(())
    }

    /// Read the state again if another writer committed since this load last looked; true if
    /// it did.
    async fn read_other_writers(&mut self) -> Result<bool, IngestError> {
        let now = table_versions(&self.warehouse, true).await?;
        if now == self.table_versions {
            return Ok(false);
        }
        tracing::info!(
            "the warehouse changed under this load (another writer); reading its state again"
        );
        self.state = WarehouseState::load(&self.warehouse).await?;
        self.table_versions = now;
        Ok(true)
    }
}

/// Events into the rows they add to the warehouse `state` describes.
fn normalise(state: &mut WarehouseState, batch: Vec<ParsedEvent>) -> Result<Changes, IngestError> {
    let mut normalizer = Normalizer::new(state);
    normalizer
        .apply_batch(batch)
        .map_err(|(location, e)| IngestError::BadEvent {
            location,
            reason: e.to_string(),
        })?;
    Ok(normalizer.finish())
}

/// Commit a batch. When another writer commits to a table first (Delta refuses ours), read the
/// warehouse's state again, normalise the batch's events against it and commit again: rows
/// this batch had already committed are then known, and not added twice. Returns the changes
/// committed, their rows, and whether a race was lost.
async fn commit_despite_races(
    warehouse: &Warehouse,
    mut changes: Changes,
) -> Result<(Changes, RowCounts, bool), IngestError> {
    let mut attempt = 1;
    loop {
        match changes.commit(warehouse).await {
            Ok(rows) => return Ok((changes, rows, attempt > 1)),
            Err(e) if e.is_conflict() && attempt < crate::error::RACE_ATTEMPTS => {
                tracing::info!("another writer committed first, normalising the batch again: {e}");
                let mut state = WarehouseState::load(warehouse).await?;
                changes = normalise(&mut state, reparse(changes.events)?)?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Events normalised against an outdated state, back as they were read (their text is kept
/// verbatim as the payload).
fn reparse(events: Vec<EventRow>) -> Result<Vec<ParsedEvent>, IngestError> {
    events
        .into_iter()
        .map(|row| {
            let (event, event_id) =
                parse_event(&row.payload).map_err(|reason| IngestError::BadEvent {
                    location: row.source.clone(),
                    reason,
                })?;
            Ok(ParsedEvent {
                event,
                event_id,
                payload: row.payload,
                source: row.source,
            })
        })
        .collect()
}

/// Every table's version: the newest in the store (`fresh`), or as this process last saw it.
pub(crate) async fn table_versions(
    warehouse: &Warehouse,
    fresh: bool,
) -> Result<Vec<i64>, IngestError> {
    let mut versions = Vec::with_capacity(prov9_model::tables::TABLE_NAMES.len());
    for table in prov9_model::tables::TABLE_NAMES {
        versions.push(if fresh {
            warehouse.version(table).await?
        } else {
            warehouse.known_version(table).await?
        });
    }
    Ok(versions)
}
