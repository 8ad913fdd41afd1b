//! The warehouse: its Delta tables — open (creating missing ones), append, upsert, read, a
//! table at a version — and, in `history.rs`, the warehouse commits that make a batch visible.

mod history;
mod upgrade;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::logstore::commit_uri_from_version;
use deltalake::protocol::SaveMode;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use prov9_model::tables::{TABLE_NAMES, schema_of};
use tokio::sync::{RwLock, RwLockReadGuard};
use url::Url;

use crate::commit_log::source;
use crate::writer_properties::writer_properties;
use crate::{LiveTable, StoreError, WarehouseLocation};
pub use history::BatchGuard;
use history::History;

/// A table version's data files, as [`Warehouse::data_files`] lists them.
pub(crate) struct DataFiles {
    pub(crate) version: i64,
    pub(crate) files: Vec<(object_store::path::Path, u64)>,
    /// The table's store: the paths are relative to it.
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The table's directory, when the warehouse is on the local filesystem.
    pub(crate) local: Option<Arc<LocalFileSystem>>,
}

/// An open warehouse: one Delta table per table of the public schema.
///
/// Cheap to clone; clones share the tables.
#[derive(Clone)]
pub struct Warehouse {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Warehouse({})", self.inner.location)
    }
}

struct Inner {
    location: WarehouseLocation,
    tables: HashMap<&'static str, RwLock<DeltaTable>>,
    /// Each table's directory, when the warehouse is on the local filesystem.
    local: HashMap<&'static str, Arc<LocalFileSystem>>,
    /// Warehouse commits and the snapshot queries read (`history.rs`).
    history: History,
    /// Past versions of tables recently read (time travel, or a commit not yet named).
    past: std::sync::Mutex<HashMap<(&'static str, i64), DeltaTable>>,
}

/// Past table versions kept loaded at most.
const PAST_VERSIONS: usize = 64;

impl Warehouse {
    /// Open the warehouse at `location` if one is there, without creating anything: for the
    /// commands that read or maintain a warehouse, where a mistyped `--data` must not answer
    /// from a new, empty one.
    pub async fn open_existing(location: &str) -> Result<Self, StoreError> {
        let parsed = WarehouseLocation::parse(location)?;
        let (exists, looked) = match &parsed {
            WarehouseLocation::Local(path) => {
                let log = std::path::absolute(path)?.join("events").join("_delta_log");
                (log.is_dir(), log.display().to_string())
            }
            WarehouseLocation::Memory => (true, String::new()),
            WarehouseLocation::Remote(_) => {
                let url = parsed.root_url()?.join("events/").map_err(|e| {
                    StoreError::InvalidLocation {
                        location: location.to_string(),
                        reason: e.to_string(),
                    }
                })?;
                let looked = format!("{url}_delta_log/");
                let delta = |e| StoreError::delta("events", e);
                let table = deltalake::DeltaTableBuilder::from_url(url)
                    .map_err(delta)?
                    .build()
                    .map_err(delta)?;
                (
                    table.verify_deltatable_existence().await.map_err(delta)?,
                    looked,
                )
            }
        };
        if !exists {
            return Err(StoreError::NoWarehouse {
                location: location.to_string(),
                looked,
            });
        }
        Warehouse::open(location).await
    }

    /// Open the warehouse at `location`, creating it and any missing table.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        let location = WarehouseLocation::parse(location)?;
        let root = location.root_url()?;
        // memory:// tables must share one store, or each would get its own empty one.
        let memory: Option<Arc<dyn ObjectStore>> =
            matches!(location, WarehouseLocation::Memory).then(|| Arc::new(InMemory::new()) as _);
        let (mut tables, mut local) = (HashMap::new(), HashMap::new());
        let mut any_upgraded = false;
        for name in TABLE_NAMES {
            let url = root
                .join(&format!("{name}/"))
                .map_err(|e| StoreError::InvalidLocation {
                    location: root.to_string(),
                    reason: e.to_string(),
                })?;
            if let WarehouseLocation::Local(_) = location {
                // delta-rs refuses to open a table whose local directory does not exist yet.
                let dir = url
                    .to_file_path()
                    .map_err(|()| StoreError::InvalidLocation {
                        location: url.to_string(),
                        reason: "not a local path".into(),
                    })?;
                std::fs::create_dir_all(&dir)?;
                let dir = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                    StoreError::InvalidLocation {
                        location: url.to_string(),
                        reason: e.to_string(),
                    }
                })?;
                local.insert(name, Arc::new(dir));
            }
            let (table, upgraded) = open_table(name, url, memory.clone()).await?;
            any_upgraded |= upgraded;
            tables.insert(name, RwLock::new(table));
        }
        let history = History::open(&location, &root, memory).await?;
        let adopt = history.latest().commit.is_none();
        let warehouse = Warehouse {
            inner: Arc::new(Inner {
                location,
                tables,
                local,
                history,
                past: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        if adopt {
            warehouse.adopt().await?;
        } else if any_upgraded {
            // The upgraded tables' new versions become the ones every reader sees.
            warehouse
                .publish(source::UPGRADED, BTreeMap::new(), None, None)
                .await?;
        }
        Ok(warehouse)
    }

    /// Keep `table` (just rewritten by maintenance) as the newest version this process knows.
    pub(crate) async fn replace_table(
        &self,
        name: &'static str,
        table: DeltaTable,
    ) -> Result<(), StoreError> {
        let mut held = self.table(name)?.write().await;
        if version_number(&table) >= version_number(&held) {
            *held = table;
        }
        Ok(())
    }

    /// A table at `version` (`None`: its newest version, including other writers' commits).
    pub async fn table_at(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<DeltaTable, StoreError> {
        let Some(version) = version else {
            return self.current(name).await;
        };
        let name = self.table_name(name)?;
        let lock = self.table(name)?;
        {
            let table = lock.read().await;
            if version_number(&table) == version {
                return Ok(table.clone());
            }
        }
        {
            let mut table = lock.write().await;
            if version_number(&table) < version {
                // Another writer's commit this process has not read yet.
                table
                    .update_incremental(Some(version as u64))
                    .await
                    .map_err(|e| StoreError::delta(name, e))?;
            }
            if version_number(&table) == version {
                return Ok(table.clone());
            }
        }
        if let Some(table) = self
            .inner
            .past
            .lock()
            .expect("past versions lock poisoned")
            .get(&(name, version))
        {
            return Ok(table.clone());
        }
        let mut table = lock.read().await.clone();
        table
            .load_version(version as u64)
            .await
            .map_err(|e| StoreError::delta(name, e))?;
        let mut past = self.inner.past.lock().expect("past versions lock poisoned");
        if past.len() >= PAST_VERSIONS {
            past.clear();
        }
        past.insert((name, version), table.clone());
        Ok(table)
    }

    pub fn location(&self) -> &WarehouseLocation {
        &self.inner.location
    }

    fn table(&self, name: &str) -> Result<&RwLock<DeltaTable>, StoreError> {
        self.inner
            .tables
            .get(name)
            .ok_or_else(|| StoreError::UnknownTable(name.to_string()))
    }

    /// The table as it is now, after picking up commits made by other writers.
    pub async fn current(&self, name: &str) -> Result<DeltaTable, StoreError> {
        Ok(self.refreshed(name).await?.clone())
    }

    /// The newest Delta version of a table, including other writers' commits.
    pub async fn version(&self, name: &str) -> Result<i64, StoreError> {
        Ok(version_number(&*self.refreshed(name).await?))
    }

    /// The table, read-locked, after picking up other writers' commits (only when there are
    /// any: see [`has_newer_commit`]).
    async fn refreshed(&self, name: &str) -> Result<RwLockReadGuard<'_, DeltaTable>, StoreError> {
        let lock = self.table(name)?;
        let table = lock.read().await;
        if !has_newer_commit(&table, self.inner.local.get(name)).await {
            return Ok(table);
        }
        drop(table);
        let mut table = lock.write().await;
        table
            .update_incremental(None)
            .await
            .map_err(|e| StoreError::delta(name, e))?;
        Ok(table.downgrade())
    }

    /// The Delta version this process last read or wrote, without asking the store.
    pub async fn known_version(&self, name: &str) -> Result<i64, StoreError> {
        Ok(version_number(&*self.table(name)?.read().await))
    }

    /// Append rows to a table in one atomic commit. Empty input commits nothing.
    pub async fn append(&self, name: &str, batches: Vec<RecordBatch>) -> Result<(), StoreError> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        let lock = self.table(name)?;
        let mut table = lock.write().await;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        let began = std::time::Instant::now();
        let written = table
            .clone()
            .write(batches)
            .with_writer_properties(writer_properties(name, rows))
            .with_save_mode(SaveMode::Append)
            .await
            .map_err(|e| StoreError::delta(name, e))?;
        tracing::debug!(table = name, rows, elapsed = ?began.elapsed(), "appended");
        *table = written;
        Ok(())
    }

    /// Insert or replace rows by `key` (a column holding a unique id) in one atomic commit.
    ///
    /// `stored_in`, when given, is a condition (SQL over `target.<column>`) that every stored row
    /// being replaced meets, so that files whose statistics rule it out are not read: a stored
    /// row it excludes would be inserted again, not replaced.
    pub async fn upsert(
        &self,
        name: &str,
        batch: RecordBatch,
        key: &str,
        stored_in: Option<&str>,
    ) -> Result<(), StoreError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let lock = self.table(name)?;
        let mut table = lock.write().await;
        let batch_rows = batch.num_rows();
        let began = std::time::Instant::now();
        let ctx = SessionContext::new();
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let source = ctx
            .read_batch(batch)
            .map_err(|e| StoreError::datafusion(name, e))?;
        // A merge rewrites the files holding matched rows, whole: size their filters for the
        // largest file, not for the table (at 3 M rows that was megabytes per row group).
        let rows = largest_file_rows(&table).max(batch_rows);
        let predicate = match stored_in {
            Some(condition) => format!("target.{key} = source.{key} AND ({condition})"),
            None => format!("target.{key} = source.{key}"),
        };
        let (merged, metrics) = table
            .clone()
            .merge(source, predicate)
            .with_writer_properties(writer_properties(name, rows))
            .with_source_alias("source")
            .with_target_alias("target")
            .when_matched_update(|update| {
                columns
                    .iter()
                    .fold(update, |u, c| u.update(c.as_str(), format!("source.{c}")))
            })
            .and_then(|m| {
                m.when_not_matched_insert(|insert| {
                    columns
                        .iter()
                        .fold(insert, |i, c| i.set(c.as_str(), format!("source.{c}")))
                })
            })
            .map_err(|e| StoreError::delta(name, e))?
            .await
            .map_err(|e| StoreError::delta(name, e))?;
        tracing::debug!(
            table = name,
            rows = batch_rows,
            files_scanned = metrics.num_target_files_scanned,
            files_skipped = metrics.num_target_files_skipped_during_scan,
            files_rewritten = metrics.num_target_files_removed,
            rows_copied = metrics.num_target_rows_copied,
            elapsed = ?began.elapsed(),
            "merged"
        );
        *table = merged;
        Ok(())
    }

    /// Read the given columns of a whole table (all columns if `columns` is empty).
    pub async fn read(&self, name: &str, columns: &[&str]) -> Result<Vec<RecordBatch>, StoreError> {
        // One snapshot for the whole read: Delta's own provider, not a LiveTable.
        let table = self.current(name).await?;
        let ctx = SessionContext::new();
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| StoreError::delta(name, e))?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| StoreError::datafusion(name, e))?;
        ctx.register_table(name, provider)
            .map_err(|e| StoreError::datafusion(name, e))?;
        let mut df = ctx
            .table(name)
            .await
            .map_err(|e| StoreError::datafusion(name, e))?;
        if !columns.is_empty() {
            df = df
                .select_columns(columns)
                .map_err(|e| StoreError::datafusion(name, e))?;
        }
        let stream = df
            .execute_stream()
            .await
            .map_err(|e| StoreError::datafusion(name, e))?;
        stream
            .try_collect()
            .await
            .map_err(|e| StoreError::datafusion(name, e))
    }

    /// The data files (URIs) of a table at `version` (`None`: its newest), and that version, or
    /// `None` when the version is still `since`: what a reader keeping its own copy (the
    /// lineage index) needs to catch up.
    pub async fn files_since(
        &self,
        name: &str,
        since: Option<i64>,
        version: Option<i64>,
    ) -> Result<Option<(i64, Vec<String>)>, StoreError> {
        let table = self.table_at(name, version).await?;
        let version = version_number(&table);
        if since == Some(version) {
            return Ok(None);
        }
        let files = table
            .get_file_uris()
            .map_err(|e| StoreError::delta(name, e))?
            .collect();
        Ok(Some((version, files)))
    }

    /// The data files (path in the table's store, size) of a table at `version` (`None`: its
    /// newest), with that version and the store, or `None` when the version is still `since`.
    pub(crate) async fn data_files(
        &self,
        name: &str,
        since: Option<i64>,
        version: Option<i64>,
    ) -> Result<Option<DataFiles>, StoreError> {
        let table = self.table_at(name, version).await?;
        let version = version_number(&table);
        if since == Some(version) {
            return Ok(None);
        }
        let snapshot = table.snapshot().map_err(|e| StoreError::delta(name, e))?;
        let files = snapshot
            .log_data()
            .iter()
            .map(|f| (f.object_store_path(), u64::try_from(f.size()).unwrap_or(0)))
            .collect();
        Ok(Some(DataFiles {
            version,
            files,
            store: table.log_store().object_store(None),
            local: self.inner.local.get(name).cloned(),
        }))
    }

    /// Read whole data files of a table, as listed by [`Warehouse::files`].
    pub async fn read_files(
        &self,
        name: &str,
        files: &[String],
    ) -> Result<Vec<RecordBatch>, StoreError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let table = self.table(name)?.read().await.clone();
        let ctx = SessionContext::new();
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| StoreError::delta(name, e))?;
        let df = ctx
            .read_parquet(files.to_vec(), ParquetReadOptions::default())
            .await
            .map_err(|e| StoreError::datafusion(name, e))?;
        df.collect()
            .await
            .map_err(|e| StoreError::datafusion(name, e))
    }

    /// A DataFusion table provider that always reads the newest committed version.
    pub async fn live_table(&self, name: &str) -> Result<LiveTable, StoreError> {
        LiveTable::new(self.clone(), self.table_name(name)?).await
    }

    fn table_name(&self, name: &str) -> Result<&'static str, StoreError> {
        self.inner
            .tables
            .get_key_value(name)
            .map(|(k, _)| *k)
            .ok_or_else(|| StoreError::UnknownTable(name.to_string()))
    }
}

/// Rows in the largest data file of the version a table holds (from the log's file statistics;
/// 0 when unknown).
fn largest_file_rows(table: &DeltaTable) -> usize {
    table
        .snapshot()
        .ok()
        .and_then(|s| s.log_data().iter().filter_map(|f| f.num_records()).max())
        .unwrap_or(0)
}

/// Whether another writer committed after the version `table` holds.
///
/// Every Delta commit writes the next version's JSON file, whatever checkpoints or log cleanup
/// do, so asking for that one file (a `stat` locally, a HEAD on S3) answers exactly, where
/// delta-rs' own refresh lists the whole log and reads `_last_checkpoint` on every query. Any
/// answer but "not found" says yes, so the full refresh reports real errors.
///
/// Every query asks this once per table it reads. A local table is asked directly, on this
/// thread: a `stat` takes microseconds, where the object store hands it to a blocking thread
/// and back, two thread wake-ups that cost more than the stat.
async fn has_newer_commit(table: &DeltaTable, local: Option<&Arc<LocalFileSystem>>) -> bool {
    let Some(version) = table.version() else {
        return true;
    };
    let next = commit_uri_from_version(Some(version + 1));
    match local.map(|dir| dir.path_to_filesystem(&next)) {
        Some(Ok(file)) => !matches!(
            std::fs::symlink_metadata(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        ),
        _ => !matches!(
            table.log_store().object_store(None).head(&next).await,
            Err(object_store::Error::NotFound { .. })
        ),
    }
}

fn version_number(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

/// Open (or create) one table; true when it was upgraded (gained columns).
async fn open_table(
    name: &'static str,
    url: Url,
    memory: Option<Arc<dyn ObjectStore>>,
) -> Result<(DeltaTable, bool), StoreError> {
    let delta = |e| StoreError::delta(name, e);
    let mut builder = deltalake::DeltaTableBuilder::from_url(url.clone()).map_err(delta)?;
    if let Some(store) = memory {
        builder = builder.with_storage_backend(store, url);
    }
    let mut table = builder.build().map_err(delta)?;
    let schema = schema_of(name).ok_or_else(|| StoreError::UnknownTable(name.to_string()))?;
    // Check first: loading a missing table makes delta-rs log an error before it says so.
    if table.verify_deltatable_existence().await.map_err(delta)? {
        table.load().await.map_err(delta)?;
        return upgrade::add_missing_columns(name, table, &schema).await;
    }
    let kernel: StructType = schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| delta(e.into()))?;
    let created = table
        .create()
        .with_table_name(name)
        .with_columns(kernel.fields().cloned())
        .with_save_mode(SaveMode::Ignore)
        .await;
    match created {
        Ok(t) => Ok((t, false)),
        // Another process created it first: use theirs.
        Err(_) if table.load().await.is_ok() => Ok((table, false)),
        Err(e) => Err(delta(e)),
    }
}
