//! Keeping the tables compact: compaction, checkpoints, log cleanup, vacuum.
//!
//! Live ingest commits a little every few seconds, so a table fed for months would be thousands
//! of small files and log entries, and every reader would pay for them.
//! - [`Warehouse::optimize`] bin-packs each table's small files into larger ones, in size tiers
//!   up to [`MaintenanceOptions::target_file_bytes`] (Delta's compaction: the rewrite removes
//!   the old files and adds the new in one commit, so readers see the same rows) and publishes a
//!   warehouse commit (source `maintenance`) per table it compacted, then writes a Delta
//!   checkpoint of every table written since its last one.
//! - [`Warehouse::vacuum`] deletes data files no version newer than the retention window
//!   needs, log entries older than it (down to a checkpoint), and the warehouse commits older
//!   than it: time travel reaches back exactly the retention window.
//!
//! A maintenance step holds the warehouse's batch lock while it commits and publishes, so it
//! never names another batch's half-committed tables. Within one process, ingest waits for it;
//! another process's conflicting commit makes Delta's optimistic concurrency fail one of the
//! two, and maintenance retries.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::checkpoints::{cleanup_expired_logs_for, create_checkpoint};
use prov9_model::tables::TABLE_NAMES;

use crate::commit_log::source;
use crate::writer_properties::writer_properties;
use crate::{StoreError, Warehouse};

/// How maintenance treats the tables.
#[derive(Debug, Clone)]
pub struct MaintenanceOptions {
    /// Size compaction packs files into.
    pub target_file_bytes: u64,
    /// Files small enough to merge (see [`compaction_tier`]) a table may have before it is
    /// compacted.
    pub max_small_files: usize,
    /// How long replaced files, log entries and warehouse commits are kept: the reach of
    /// time travel.
    pub retention: Duration,
}

impl Default for MaintenanceOptions {
    fn default() -> Self {
        MaintenanceOptions {
            target_file_bytes: 64 << 20,
            // Few enough that scans stay fast (at most this many per tier, three tiers), many
            // enough that a table's files are not rewritten every few fold-ins: what a
            // compaction replaces stays on disk for the retention window. (Delta's own auto
            // compaction waits for 50.)
            max_small_files: 16,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What one table's maintenance did.
#[derive(Debug, Default, Clone)]
pub struct TableMaintenance {
    pub files_removed: u64,
    pub files_added: u64,
    pub checkpointed: bool,
    pub files_vacuumed: usize,
    pub log_entries_removed: usize,
}

/// What maintenance did, per table.
#[derive(Debug, Default, Clone)]
pub struct MaintenanceReport {
    pub tables: BTreeMap<&'static str, TableMaintenance>,
    pub commits_forgotten: usize,
}

impl std::fmt::Display for MaintenanceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sum = |g: fn(&TableMaintenance) -> u64| self.tables.values().map(g).sum::<u64>();
        write!(
            f,
            "{} files compacted into {}, {} checkpoints, {} old files and {} log entries removed, {} warehouse commits forgotten",
            sum(|t| t.files_removed),
            sum(|t| t.files_added),
            sum(|t| u64::from(t.checkpointed)),
            sum(|t| t.files_vacuumed as u64),
            sum(|t| t.log_entries_removed as u64),
            self.commits_forgotten
        )
    }
}

/// Conflicting commits from another process are retried this often.
const ATTEMPTS: usize = 3;

impl Warehouse {
    /// Compact the tables that need it (`force`: every table with more than one small file)
    /// and checkpoint every table written since its last checkpoint. `progress` hears of each
    /// table as it is done.
    pub async fn optimize(
        &self,
        options: &MaintenanceOptions,
        force: bool,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<MaintenanceReport, StoreError> {
        let mut report = MaintenanceReport::default();
        let mut changed = false;
        for name in TABLE_NAMES {
            let done = report.tables.entry(name).or_default();
            let _batch = self.batch_lock().await;
            let mut attempt = 0;
            loop {
                attempt += 1;
                match self.compact(name, options, force).await {
                    Ok((removed, added)) => {
                        done.files_removed += removed;
                        done.files_added += added;
                        changed |= removed > 0;
                        break;
                    }
                    Err(e) if attempt < ATTEMPTS => {
                        tracing::info!(table = name, "compaction conflicted, retrying: {e}");
                        let _ = self.current(name).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            if changed {
                // Name the compacted versions now, while no batch can interleave.
                self.publish(source::MAINTENANCE, BTreeMap::new(), None, None)
                    .await?;
                changed = false;
            }
            done.checkpointed = self.checkpoint(name).await?;
            progress(name);
        }
        Ok(report)
    }

    /// Bin-pack one table's small files: (files removed, files added).
    async fn compact(
        &self,
        name: &'static str,
        options: &MaintenanceOptions,
        force: bool,
    ) -> Result<(u64, u64), StoreError> {
        let table = self.current(name).await?;
        let snapshot = table.snapshot().map_err(|e| StoreError::delta(name, e))?;
        let files: Vec<(u64, usize)> = snapshot
            .log_data()
            .iter()
            .map(|f| (f.size().max(0) as u64, f.num_records().unwrap_or(0)))
            .collect();
        let sizes: Vec<u64> = files.iter().map(|&(size, _)| size).collect();
        let Some(tier) = compaction_tier(&sizes, options, force) else {
            return Ok((0, 0));
        };
        let rows = files
            .iter()
            .filter(|&&(size, _)| size <= tier)
            .map(|&(_, rows)| rows)
            .sum();
        // Delta's compaction takes the files up to `tier` bytes and packs them into files of
        // about that size; larger files stay as they are.
        let target = NonZeroU64::new(tier).unwrap_or(NonZeroU64::MIN);
        let (compacted, metrics) = table
            .optimize()
            .with_target_size(target)
            .with_writer_properties(writer_properties(name, rows))
            .await
            .map_err(|e| StoreError::delta(name, e))?;
        self.replace_table(name, compacted).await?;
        tracing::info!(
            table = name,
            removed = metrics.num_files_removed,
            added = metrics.num_files_added,
            "compacted"
        );
        Ok((metrics.num_files_removed, metrics.num_files_added))
    }

    /// Write a checkpoint of the newest version unless it has one: readers then load the
    /// table from one Parquet file instead of replaying every log entry.
    async fn checkpoint(&self, name: &'static str) -> Result<bool, StoreError> {
        let table = self.current(name).await?;
        let Some(version) = table.version() else {
            return Ok(false);
        };
        let last = table.log_store().read_checkpoint_bytes_version(name).await;
        if version == 0 || last == Some(version) {
            return Ok(false);
        }
        create_checkpoint(&table, None)
            .await
            .map_err(|e| StoreError::delta(name, e))?;
        Ok(true)
    }

    /// Delete what the retention window no longer needs: replaced data files, old log entries
    /// (down to a checkpoint), and warehouse commits older than the window (keeping the one
    /// current at its start). Checkpoints first, so that the log can be cleaned.
    pub async fn vacuum(
        &self,
        options: &MaintenanceOptions,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<MaintenanceReport, StoreError> {
        let mut report = MaintenanceReport::default();
        let retention =
            chrono::Duration::from_std(options.retention).unwrap_or(chrono::Duration::days(7));
        let horizon = chrono::Utc::now() - retention;
        // Forget the commits first: no query can then pin a version whose files go next.
        report.commits_forgotten = self.forget_commits_before(horizon).await?;
        for name in TABLE_NAMES {
            let done = report.tables.entry(name).or_default();
            done.checkpointed = self.checkpoint(name).await?;
            let table = self.current(name).await?;
            let (vacuumed, metrics) = table
                .vacuum()
                .with_retention_period(retention)
                .with_enforce_retention_duration(false)
                .await
                .map_err(|e| StoreError::delta(name, e))?;
            done.files_vacuumed = metrics.files_deleted.len();
            if let Some(version) = vacuumed.version() {
                done.log_entries_removed = cleanup_expired_logs_for(
                    version,
                    vacuumed.log_store().as_ref(),
                    horizon.timestamp_millis(),
                    None,
                )
                .await
                .map_err(|e| StoreError::delta(name, e))?;
            }
            self.replace_table(name, vacuumed).await?;
            progress(name);
        }
        Ok(report)
    }
}

/// The file size a table's files are compacted into, if its files need it: the smallest tier
/// (1/64, 1/8 and all of [`MaintenanceOptions::target_file_bytes`]) with at least
/// `max_small_files` files under half its size (two of them fit in one file of the tier).
///
/// Tiers keep the rewriting proportional to what is new: a table fed a few rows every few
/// seconds merges its tiny files among themselves, instead of rewriting its one large file
/// each time to take them in. A row is rewritten about once per tier, and the files replaced
/// stay on disk for the retention window. `force` (`prov9 optimize`) packs every file under
/// the target into files of the target, once at least two of them can share one.
fn compaction_tier(sizes: &[u64], options: &MaintenanceOptions, force: bool) -> Option<u64> {
    let target = options.target_file_bytes.max(1);
    let mergeable = |tier: u64| sizes.iter().filter(|&&size| size < tier / 2).count();
    if force {
        return (mergeable(target) >= 2).then_some(target);
    }
    [target / 64, target / 8, target]
        .into_iter()
        .find(|&tier| mergeable(tier) >= options.max_small_files.max(2))
}

/// `read_checkpoint_bytes_version`: the version of a table's last checkpoint, if any.
trait LastCheckpoint {
    async fn read_checkpoint_bytes_version(&self, table: &str) -> Option<u64>;
}

impl LastCheckpoint for deltalake::logstore::LogStoreRef {
    async fn read_checkpoint_bytes_version(&self, table: &str) -> Option<u64> {
        let path = object_store::path::Path::from("_delta_log/_last_checkpoint");
        let bytes = object_store::ObjectStoreExt::get(self.object_store(None).as_ref(), &path)
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .inspect_err(|e| tracing::warn!(table, "unreadable _last_checkpoint: {e}"))
            .ok()?;
        value.get("version")?.as_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn tier(sizes: &[u64], force: bool) -> Option<u64> {
        compaction_tier(sizes, &MaintenanceOptions::default(), force)
    }

    #[test]
    fn tiny_files_merge_among_themselves_not_into_a_large_file() {
        let mut sizes = vec![40 * MIB];
        sizes.extend([20_000; 15]);
        assert_eq!(tier(&sizes, false), None, "fifteen are not enough");
        sizes.push(20_000);
        // Sixteen tiny files: packed into 1 MiB files; the 40 MiB file is not a candidate.
        assert_eq!(tier(&sizes, false), Some(MIB));
    }

    #[test]
    fn each_tier_takes_files_under_half_its_size() {
        // 1 MiB files (the first tier's output) merge in the 8 MiB tier.
        assert_eq!(tier(&[MIB; 16], false), Some(8 * MIB));
        // 5 MiB files (a busy fold-in's) merge in the 64 MiB tier.
        assert_eq!(tier(&[5 * MIB; 16], false), Some(64 * MIB));
        // Files over half the target are left alone.
        assert_eq!(tier(&[40 * MIB; 20], false), None);
    }

    #[test]
    fn forced_compaction_packs_everything_into_the_target() {
        assert_eq!(tier(&[20_000, 3 * MIB], true), Some(64 * MIB));
        assert_eq!(tier(&[20_000, 40 * MIB], true), None);
    }
}
