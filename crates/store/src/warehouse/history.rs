//! The warehouse's history as readers see it: warehouse commits (`commit_log.rs`), the snapshot
//! every query pins (the newest commit and the live tail), time travel to a past commit, and
//! the batch lock that keeps a commit from naming another batch's half-written tables.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prov9_model::tables::TABLE_NAMES;
use tokio::sync::Mutex;
use url::Url;

use super::Warehouse;
use crate::commit_log::{CommitLog, WarehouseCommit, source};
use crate::{Snapshot, StoreError, Tail, WarehouseLocation};

/// The file other processes' batches lock, in `_prov9/`.
const BATCH_LOCK_FILE: &str = "batch.lock";

/// A batch's hold on the warehouse (see [`Warehouse::batch_lock`]); released when dropped.
pub struct BatchGuard {
    _in_process: tokio::sync::OwnedMutexGuard<()>,
    /// The locked file (closing it releases the lock); `None` for a bucket or in memory.
    _across_processes: Option<std::fs::File>,
}

/// An exclusive lock on `path`, waited for off the runtime's threads. A lock that cannot be
/// taken (a filesystem without locks) is logged and skipped: the in-process lock still holds.
async fn lock_file(path: PathBuf) -> Option<std::fs::File> {
    let locked = tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await;
    match locked {
        Ok(Ok(file)) => Some(file),
        Ok(Err(e)) => {
            tracing::warn!(
                "cannot lock {BATCH_LOCK_FILE} ({e}); batches of other processes may interleave"
            );
            None
        }
        Err(e) => {
            tracing::warn!("cannot lock {BATCH_LOCK_FILE}: {e}");
            None
        }
    }
}

/// What a warehouse keeps of its history.
pub(super) struct History {
    /// `_prov9/`: the warehouse's own records, beside the tables, and the same folder on the
    /// local filesystem for a local warehouse.
    system: Arc<dyn ObjectStore>,
    system_dir: Option<PathBuf>,
    commits: CommitLog,
    /// The newest commit known and the live tail: what a query reads unless it asks for the past.
    latest: std::sync::RwLock<Arc<Snapshot>>,
    /// One commit at a time from this process.
    publishing: Mutex<()>,
    /// Held by a batch from its first table commit to its warehouse commit.
    batch: Arc<Mutex<()>>,
    /// Commits read so far, for time travel and `prov9_commits`.
    read: Mutex<BTreeMap<u64, Arc<WarehouseCommit>>>,
}

impl History {
    pub(super) async fn open(
        location: &WarehouseLocation,
        root: &Url,
        memory: Option<Arc<dyn ObjectStore>>,
    ) -> Result<Self, StoreError> {
        let (system, system_dir) = system_store(location, root, memory).await?;
        let commits = CommitLog::new(Arc::clone(&system), system_dir.clone());
        let newest = commits.newest().await?.map(Arc::new);
        Ok(History {
            system,
            system_dir,
            commits,
            latest: std::sync::RwLock::new(Arc::new(Snapshot {
                commit: newest,
                ..Snapshot::default()
            })),
            publishing: Mutex::new(()),
            batch: Arc::new(Mutex::new(())),
            read: Mutex::new(BTreeMap::new()),
        })
    }

    pub(super) fn latest(&self) -> Arc<Snapshot> {
        Arc::clone(&self.latest.read().expect("snapshot lock poisoned"))
    }

    /// Change the snapshot in one step under its lock, so that a change made meanwhile (the
    /// live tail set by ingest while commits were being read) is kept, not overwritten with
    /// what was read before.
    fn update_latest(&self, change: impl FnOnce(&mut Snapshot)) -> Arc<Snapshot> {
        let mut latest = self.latest.write().expect("snapshot lock poisoned");
        let mut snapshot = (**latest).clone();
        change(&mut snapshot);
        *latest = Arc::new(snapshot);
        Arc::clone(&latest)
    }

    /// Take up commits written by other writers (call holding `publishing`, so that no other
    /// task changes the commit meanwhile).
    async fn read_newer_commits(&self) -> Result<Arc<Snapshot>, StoreError> {
        let current = self.latest();
        let mut newest = current.commit.clone();
        let mut next = newest.as_ref().map_or(1, |c| c.id + 1);
        while let Some(commit) = self.commits.try_read(next).await? {
            newest = Some(Arc::new(commit));
            next += 1;
        }
        Ok(
            if newest.as_ref().map(|c| c.id) != current.commit.as_ref().map(|c| c.id) {
                self.update_latest(|snapshot| snapshot.commit = newest)
            } else {
                self.latest()
            },
        )
    }
}

impl Warehouse {
    /// The first commit of a new warehouse, or of one written before warehouse commits: its
    /// tables as they are.
    pub(super) async fn adopt(&self) -> Result<(), StoreError> {
        let mut data = false;
        for name in TABLE_NAMES {
            data |= self.known_version(name).await? > 0;
        }
        let source = if data {
            source::ADOPTED
        } else {
            source::CREATED
        };
        self.publish(source, BTreeMap::new(), None, None).await?;
        Ok(())
    }

    /// The store of the warehouse's own records (`_prov9/`): commits, the live ingest log.
    pub fn system_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner.history.system)
    }

    /// `_prov9/` on the local filesystem, for a local warehouse (where files can be fsync'd).
    pub fn system_dir(&self) -> Option<&std::path::Path> {
        self.inner.history.system_dir.as_deref()
    }

    /// The snapshot a query reads now: the newest warehouse commit (including other writers')
    /// and the live tail.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let current = self.inner.history.latest();
        let next = current.commit.as_ref().map_or(1, |c| c.id + 1);
        if !self.inner.history.commits.exists(next).await? {
            return Ok(current);
        }
        let _one_at_a_time = self.inner.history.publishing.lock().await;
        self.inner.history.read_newer_commits().await
    }

    /// Held by whoever commits a batch (a load batch, a fold-in, a maintenance step) from its
    /// first table commit until [`Warehouse::publish`] names it: a batch's warehouse commit then
    /// never names another batch's half-committed tables.
    ///
    /// A warehouse commit names each table as its writer last knew it, and a process that
    /// opened a table mid-batch knows the half-written version; so on a local warehouse the
    /// lock is also a file lock (`_prov9/batch.lock`), held across processes: `prov9 optimize`
    /// or `prov9 load` beside `prov9 serve` waits for the server's fold-in to be published.
    pub async fn batch_lock(&self) -> BatchGuard {
        let in_process = Arc::clone(&self.inner.history.batch).lock_owned().await;
        let across_processes = match &self.inner.history.system_dir {
            Some(dir) => lock_file(dir.join(BATCH_LOCK_FILE)).await,
            None => None,
        };
        BatchGuard {
            _in_process: in_process,
            _across_processes: across_processes,
        }
    }

    /// Make the live tail visible to queries (rows acknowledged but not yet folded in).
    pub fn set_tail(&self, tail: Arc<Tail>) {
        self.inner
            .history
            .update_latest(|snapshot| snapshot.tail = tail);
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
        let _one_at_a_time = self.inner.history.publishing.lock().await;
        loop {
            let latest = self.inner.history.read_newer_commits().await?;
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
            if self.inner.history.commits.create(&commit).await? {
                let commit = Arc::new(commit);
                self.inner.history.update_latest(|snapshot| {
                    snapshot.commit = Some(Arc::clone(&commit));
                    if let Some(tail) = &tail {
                        snapshot.tail = Arc::clone(tail);
                    }
                });
                tracing::debug!(id = commit.id, source, "warehouse commit");
                return Ok(commit);
            }
            // Another writer took that id: read its commit, then try the next.
        }
    }

    /// Every warehouse commit kept, oldest first.
    pub async fn commits(&self) -> Result<Vec<Arc<WarehouseCommit>>, StoreError> {
        let ids = self.inner.history.commits.ids().await?;
        let mut read = self.inner.history.read.lock().await;
        read.retain(|id, _| ids.binary_search(id).is_ok());
        for id in ids {
            if let std::collections::btree_map::Entry::Vacant(slot) = read.entry(id)
                && let Some(commit) = self.inner.history.commits.try_read(id).await?
            {
                slot.insert(Arc::new(commit));
            }
        }
        Ok(read.values().cloned().collect())
    }

    /// The warehouse as it was at `time`: the last commit made at or before it.
    pub async fn snapshot_as_of(&self, time: DateTime<Utc>) -> Result<Arc<Snapshot>, StoreError> {
        let commits = self.commits().await?;
        // Compared in microseconds, the precision `prov9_commits` shows: a commit's time pasted
        // from there reads that commit (it was kept in nanoseconds).
        let micros = time.timestamp_micros();
        let at = commits.partition_point(|c| c.committed_at.timestamp_micros() <= micros);
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
            self.inner.history.commits.delete(commit.id).await?;
            forgotten += 1;
        }
        Ok(forgotten)
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
}

/// The store rooted at the warehouse's `_prov9/` folder, and that folder when it is local.
async fn system_store(
    location: &WarehouseLocation,
    root: &Url,
    memory: Option<Arc<dyn ObjectStore>>,
) -> Result<(Arc<dyn ObjectStore>, Option<PathBuf>), StoreError> {
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
