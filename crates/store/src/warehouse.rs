//! The warehouse: open (creating missing tables), append, upsert, read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::logstore::commit_uri_from_version;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use prov9_model::tables::{TABLE_NAMES, lookup_columns, primary_key, schema_of};
use tokio::sync::{Mutex, RwLock, RwLockReadGuard};
use url::Url;

use crate::commit_log::{CommitLog, WarehouseCommit, source};
use crate::{LiveTable, Snapshot, StoreError, Tail, WarehouseLocation};

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
    /// `_prov9/`: the warehouse's own records, beside the tables.
    system: Arc<dyn ObjectStore>,
    /// `_prov9/` on the local filesystem, for a local warehouse.
    system_dir: Option<std::path::PathBuf>,
    commits: CommitLog,
    /// The newest commit known and the live tail: what a query reads unless it asks for the past.
    latest: std::sync::RwLock<Arc<Snapshot>>,
    /// One commit at a time from this process.
    publishing: Mutex<()>,
    /// Held by a batch from its first table commit to its warehouse commit.
    batch: Arc<Mutex<()>>,
    /// Commits read so far, for time travel and `prov9_commits`.
    history: Mutex<BTreeMap<u64, Arc<WarehouseCommit>>>,
    /// Past versions of tables recently read (time travel, or a commit not yet named).
    past: std::sync::Mutex<HashMap<(&'static str, i64), DeltaTable>>,
}

/// Past table versions kept loaded at most.
const PAST_VERSIONS: usize = 64;

impl Warehouse {
    /// Open the warehouse at `location`, creating it and any missing table.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        let location = WarehouseLocation::parse(location)?;
        let root = location.root_url()?;
        // memory:// tables must share one store, or each would get its own empty one.
        let memory: Option<Arc<dyn ObjectStore>> =
            matches!(location, WarehouseLocation::Memory).then(|| Arc::new(InMemory::new()) as _);
        let (mut tables, mut local) = (HashMap::new(), HashMap::new());
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
            let table = open_table(name, url, memory.clone()).await?;
            tables.insert(name, RwLock::new(table));
        }
        let (system, local_system) = system_store(&location, &root, memory).await?;
        let commits = CommitLog::new(Arc::clone(&system), local_system.clone());
        let newest = commits.newest().await?.map(Arc::new);
        let warehouse = Warehouse {
            inner: Arc::new(Inner {
                location,
                tables,
                local,
                system,
                system_dir: local_system,
                commits,
                latest: std::sync::RwLock::new(Arc::new(Snapshot {
                    commit: newest.clone(),
                    ..Snapshot::default()
                })),
                publishing: Mutex::new(()),
                batch: Arc::new(Mutex::new(())),
                history: Mutex::new(BTreeMap::new()),
                past: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        if newest.is_none() {
            // A new warehouse, or one written before warehouse commits: its tables as they are
            // become the first commit.
            let mut data = false;
            for name in TABLE_NAMES {
                data |= warehouse.known_version(name).await? > 0;
            }
            let source = if data { source::ADOPTED } else { "created" };
            warehouse
                .publish(source, BTreeMap::new(), None, None)
                .await?;
        }
        Ok(warehouse)
    }

    /// The store of the warehouse's own records (`_prov9/`): commits, the live ingest log.
    pub fn system_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner.system)
    }

    /// `_prov9/` on the local filesystem, for a local warehouse (where files can be fsync'd).
    pub fn system_dir(&self) -> Option<&std::path::Path> {
        self.inner.system_dir.as_deref()
    }

    /// The snapshot a query reads now: the newest warehouse commit (including other writers')
    /// and the live tail.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let current = self.latest();
        let next = current.commit.as_ref().map_or(1, |c| c.id + 1);
        if !self.inner.commits.exists(next).await? {
            return Ok(current);
        }
        let _one_at_a_time = self.inner.publishing.lock().await;
        self.read_newer_commits().await
    }

    fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(&self.inner.latest.read().expect("snapshot lock poisoned"))
    }

    fn set_latest(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        *self.inner.latest.write().expect("snapshot lock poisoned") = Arc::clone(&snapshot);
        snapshot
    }

    /// Take up commits written by other writers (call holding `publishing`).
    async fn read_newer_commits(&self) -> Result<Arc<Snapshot>, StoreError> {
        let mut snapshot = (*self.latest()).clone();
        let mut next = snapshot.commit.as_ref().map_or(1, |c| c.id + 1);
        let mut moved = false;
        while let Some(commit) = self.inner.commits.try_read(next).await? {
            snapshot.commit = Some(Arc::new(commit));
            next += 1;
            moved = true;
        }
        Ok(if moved {
            self.set_latest(snapshot)
        } else {
            self.latest()
        })
    }

    /// Held by whoever commits a batch (a load batch, a fold-in, a maintenance step) from its
    /// first table commit until [`Warehouse::publish`] names it: a batch's warehouse commit then
    /// never names another batch's half-committed tables.
    pub async fn batch_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.inner.batch).lock_owned().await
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

    /// Make the live tail visible to queries (rows acknowledged but not yet folded in).
    pub fn set_tail(&self, tail: Arc<Tail>) {
        let mut latest = self.inner.latest.write().expect("snapshot lock poisoned");
        let mut snapshot = (**latest).clone();
        snapshot.tail = tail;
        *latest = Arc::new(snapshot);
    }

    /// Write a warehouse commit naming every table's version as this process last wrote or
    /// read it: whatever the batch committed becomes visible, at once, everywhere. `tail`, when
    /// given, replaces the live tail in the same step (a fold-in's rows leave the tail as they
    /// enter the tables). Another writer's newer commit is taken into account, never undone.
    pub async fn publish(
        &self,
        source: &str,
        added: BTreeMap<String, u64>,
        log_through: Option<u64>,
        tail: Option<Arc<Tail>>,
    ) -> Result<Arc<WarehouseCommit>, StoreError> {
        let _one_at_a_time = self.inner.publishing.lock().await;
        loop {
            let latest = self.read_newer_commits().await?;
            let previous = latest.commit.as_deref();
            let mut versions = BTreeMap::new();
            for name in TABLE_NAMES {
                let named = previous.and_then(|c| c.versions.get(name).copied());
                let known = self.known_version(name).await?;
                versions.insert(name.to_string(), named.map_or(known, |n| n.max(known)));
            }
            let commit = WarehouseCommit {
                id: previous.map_or(1, |c| c.id + 1),
                committed_at: Utc::now(),
                source: source.to_string(),
                versions,
                added: added.clone(),
                log_through: log_through.or(previous.and_then(|c| c.log_through)),
            };
            if self.inner.commits.create(&commit).await? {
                let commit = Arc::new(commit);
                let mut snapshot = (*latest).clone();
                snapshot.commit = Some(Arc::clone(&commit));
                if let Some(tail) = &tail {
                    snapshot.tail = Arc::clone(tail);
                }
                self.set_latest(snapshot);
                tracing::debug!(id = commit.id, source, "warehouse commit");
                return Ok(commit);
            }
            // Another writer took that id: read its commit, then try the next.
        }
    }

    /// Every warehouse commit kept, oldest first.
    pub async fn commits(&self) -> Result<Vec<Arc<WarehouseCommit>>, StoreError> {
        let ids = self.inner.commits.ids().await?;
        let mut history = self.inner.history.lock().await;
        history.retain(|id, _| ids.binary_search(id).is_ok());
        for id in ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = history.entry(id)
                && let Some(commit) = self.inner.commits.try_read(id).await?
            {
                slot.insert(Arc::new(commit));
            }
        }
        Ok(history.values().cloned().collect())
    }

    /// The warehouse as it was at `time`: the last commit made at or before it.
    pub async fn snapshot_as_of(&self, time: DateTime<Utc>) -> Result<Arc<Snapshot>, StoreError> {
        let commits = self.commits().await?;
        let at = commits.partition_point(|c| c.committed_at <= time);
        if at == 0 {
            return Err(StoreError::BeforeHistory {
                asked: time,
                oldest: commits.first().map(|c| c.committed_at),
            });
        }
        Ok(Arc::new(Snapshot {
            commit: Some(Arc::clone(&commits[at - 1])),
            tail: Arc::default(),
            past: true,
        }))
    }

    /// Forget warehouse commits older than `before`, keeping the newest of them (the one that
    /// was current at `before`): vacuum removed what they named.
    pub(crate) async fn forget_commits_before(
        &self,
        before: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let commits = self.commits().await?;
        let at = commits.partition_point(|c| c.committed_at <= before);
        let mut forgotten = 0;
        for commit in commits.iter().take(at.saturating_sub(1)) {
            self.inner.commits.delete(commit.id).await?;
            forgotten += 1;
        }
        Ok(forgotten)
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

    /// [`Warehouse::append`], then a warehouse commit: one table's rows as a batch of their own,
    /// visible at once (tools and tests; ingest commits several tables per batch).
    pub async fn append_published(
        &self,
        name: &str,
        batches: Vec<RecordBatch>,
    ) -> Result<(), StoreError> {
        let _batch = self.batch_lock().await;
        self.append(name, batches).await?;
        self.publish(source::LOAD, BTreeMap::new(), None, None)
            .await
            .map(|_| ())
    }

    /// [`Warehouse::upsert`], then a warehouse commit (see [`Warehouse::append_published`]).
    pub async fn upsert_published(
        &self,
        name: &str,
        batch: RecordBatch,
        key: &str,
        stored_in: Option<&str>,
    ) -> Result<(), StoreError> {
        let _batch = self.batch_lock().await;
        self.upsert(name, batch, key, stored_in).await?;
        self.publish(source::LOAD, BTreeMap::new(), None, None)
            .await
            .map(|_| ())
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

/// How data files of `table` are written when a commit holds about `rows` rows: Snappy (delta-rs'
/// default) and a bloom filter on each lookup column, sized for the rows (a filter sized for a
/// million values would be 1 MB per column in every small commit). With it DataFusion skips
/// row groups that cannot hold a looked-up id, which statistics cannot do for random ids.
/// Pages of at most 1,024 rows let the page index narrow a lookup inside the row group it
/// reads to the pages holding the row, instead of 20,000-row pages of every column; tables with
/// a key index keep 256, since a lookup by key decompresses and walks its row's page in every
/// column.
///
/// A lookup must also read each column's dictionary page, whole: with the default 1 MB limit,
/// ids and timestamps (nearly all distinct) had dictionaries of 100–800 KB per column, which
/// every lookup decompressed (5 ms for one run at 3 M runs). Dictionaries stay for the
/// low-cardinality columns that fit in [`DICTIONARY_BYTES`]; the primary key, unique, has none.
pub(crate) fn writer_properties(table: &str, rows: usize) -> WriterProperties {
    let ndv = rows.max(1) as u64;
    let key = primary_key(table);
    let page_rows = if key.is_some() {
        KEYED_PAGE_ROWS
    } else {
        PAGE_ROWS
    };
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_data_page_row_count_limit(page_rows)
        .set_write_batch_size(page_rows)
        .set_dictionary_page_size_limit(DICTIONARY_BYTES);
    if let Some(key) = key {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(key), false);
    }
    lookup_columns(table)
        .iter()
        .fold(builder, |props, column| {
            let column = ColumnPath::from(*column);
            props
                .set_column_bloom_filter_enabled(column.clone(), true)
                .set_column_bloom_filter_fpp(column.clone(), BLOOM_FILTER_FPP)
                .set_column_bloom_filter_max_ndv(column, ndv)
        })
        .build()
}

/// Rows per data page (see [`writer_properties`]).
const PAGE_ROWS: usize = 1024;

/// Rows per data page of a table with a key index: a lookup reads a page of each column.
const KEYED_PAGE_ROWS: usize = 256;

/// Largest dictionary page per column chunk (see [`writer_properties`]); past it a column
/// falls back to plain encoding.
const DICTIONARY_BYTES: usize = 16 << 10;

/// False positives per bloom filter probe: 1% costs about 10 bits per row.
const BLOOM_FILTER_FPP: f64 = 0.01;

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

/// The store rooted at the warehouse's `_prov9/` folder, and that folder when it is local.
async fn system_store(
    location: &WarehouseLocation,
    root: &Url,
    memory: Option<Arc<dyn ObjectStore>>,
) -> Result<(Arc<dyn ObjectStore>, Option<std::path::PathBuf>), StoreError> {
    let invalid = |reason: String| StoreError::InvalidLocation {
        location: root.to_string(),
        reason,
    };
    let url = root.join("_prov9/").map_err(|e| invalid(e.to_string()))?;
    if let WarehouseLocation::Local(_) = location {
        let dir = url
            .to_file_path()
            .map_err(|()| invalid("not a local path".into()))?;
        std::fs::create_dir_all(&dir)?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| invalid(e.to_string()))?;
        return Ok((Arc::new(store), Some(dir)));
    }
    // The same store the tables use (credentials, endpoint), rooted at `_prov9/`.
    let delta = |e| StoreError::delta("_prov9", e);
    let mut builder = deltalake::DeltaTableBuilder::from_url(url.clone()).map_err(delta)?;
    if let Some(store) = memory {
        builder = builder.with_storage_backend(store, url);
    }
    let table = builder.build().map_err(delta)?;
    Ok((table.log_store().object_store(None), None))
}

fn version_number(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

async fn open_table(
    name: &'static str,
    url: Url,
    memory: Option<Arc<dyn ObjectStore>>,
) -> Result<DeltaTable, StoreError> {
    let delta = |e| StoreError::delta(name, e);
    let mut builder = deltalake::DeltaTableBuilder::from_url(url.clone()).map_err(delta)?;
    if let Some(store) = memory {
        builder = builder.with_storage_backend(store, url);
    }
    let mut table = builder.build().map_err(delta)?;
    // Check first: loading a missing table makes delta-rs log an error before it says so.
    if table.verify_deltatable_existence().await.map_err(delta)? {
        table.load().await.map_err(delta)?;
        return Ok(table);
    }
    let schema = schema_of(name).ok_or_else(|| StoreError::UnknownTable(name.to_string()))?;
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
        Ok(t) => Ok(t),
        // Another process created it first: use theirs.
        Err(_) if table.load().await.is_ok() => Ok(table),
        Err(e) => Err(delta(e)),
    }
}
