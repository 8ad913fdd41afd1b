//! Warehouse commits: one record per batch, naming the Delta version of every table.
//!
//! A batch (a bulk load's batch, a fold-in of live events, a maintenance rewrite) commits each
//! table it touches separately: Delta has no multi-table transaction. The batch becomes visible
//! only when its warehouse commit is written: `_prov9/commits/<id, 20 digits>.json`, created
//! with put-if-absent, so of two writers racing for one id exactly one wins and the other
//! retries with the next. Readers pin the newest commit and read every table at the version it
//! names, so no query sees part of a batch; a batch cut short (kill -9) has table versions that
//! no commit names, and stays invisible until a later batch completes it. Writers take turns
//! from a batch's first table commit to its warehouse commit (`Warehouse::batch_lock`: within a
//! process, and through a file lock across processes on a local warehouse), since a commit
//! names each table as its writer last knew it.
//! The commits also date every table version, which is what `SET prov9.as_of` travels by.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a batch came from, as `prov9_commits.source` shows it.
pub mod source {
    pub const LOAD: &str = "load";
    pub const HTTP: &str = "http";
    pub const MAINTENANCE: &str = "maintenance";
    /// The first commit of a new warehouse.
    pub const CREATED: &str = "created";
    /// The first commit of a warehouse written before warehouse commits existed.
    pub const ADOPTED: &str = "adopted";
    /// Tables gained the columns a newer prov9 added to the schema.
    pub const UPGRADED: &str = "upgraded";
}

/// One warehouse commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarehouseCommit {
    /// 1, 2, 3, … in commit order.
    pub id: u64,
    pub committed_at: DateTime<Utc>,
    /// `load`, `http`, `maintenance` (see [`source`]).
    pub source: String,
    /// Every table's Delta version as of this commit.
    pub versions: BTreeMap<String, i64>,
    /// Rows the batch added per table (updates of existing rows are not counted).
    #[serde(default)]
    pub added: BTreeMap<String, u64>,
    /// The last group of the live ingest log this commit folds in: groups up to it are in the
    /// tables and their log may be deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_through: Option<u64>,
}

/// The `_prov9/commits/` folder of a warehouse.
pub(crate) struct CommitLog {
    store: Arc<dyn ObjectStore>,
    /// The folder on the local filesystem, for a warehouse there: asking whether a newer commit
    /// exists is then one `stat`.
    local: Option<PathBuf>,
}

const FOLDER: &str = "commits";

impl CommitLog {
    /// The commit log in `store`, which is rooted at the warehouse's `_prov9/` folder.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, local_system_dir: Option<PathBuf>) -> Self {
        CommitLog {
            store,
            local: local_system_dir.map(|d| d.join(FOLDER)),
        }
    }

    fn path(id: u64) -> Path {
        Path::from(format!("{FOLDER}/{id:020}.json"))
    }

    fn io(e: impl std::fmt::Display) -> StoreError {
        StoreError::CommitLog(e.to_string())
    }

    /// Whether commit `id` exists.
    pub(crate) async fn exists(&self, id: u64) -> Result<bool, StoreError> {
        if let Some(dir) = &self.local {
            return match std::fs::symlink_metadata(dir.join(format!("{id:020}.json"))) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
        match self.store.head(&Self::path(id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Self::io(e)),
        }
    }

    pub(crate) async fn read(&self, id: u64) -> Result<WarehouseCommit, StoreError> {
        let bytes = self
            .store
            .get(&Self::path(id))
            .await
            .map_err(Self::io)?
            .bytes()
            .await
            .map_err(Self::io)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::CommitLog(format!("commit {id} is unreadable: {e}")))
    }

    /// Commit `id`, if it exists.
    pub(crate) async fn try_read(&self, id: u64) -> Result<Option<WarehouseCommit>, StoreError> {
        if !self.exists(id).await? {
            return Ok(None);
        }
        self.read(id).await.map(Some)
    }

    /// The ids of every commit kept, in order.
    pub(crate) async fn ids(&self) -> Result<Vec<u64>, StoreError> {
        let prefix = Path::from(FOLDER);
        let mut ids: Vec<u64> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| {
                meta.location
                    .filename()
                    .and_then(|f| f.strip_suffix(".json"))
                    .and_then(|f| f.parse().ok())
            })
            .try_collect::<Vec<Option<u64>>>()
            .await
            .map_err(Self::io)?
            .into_iter()
            .flatten()
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The newest commit, if any.
    pub(crate) async fn newest(&self) -> Result<Option<WarehouseCommit>, StoreError> {
        match self.ids().await?.last() {
            Some(id) => self.read(*id).await.map(Some),
            None => Ok(None),
        }
    }

    /// Write `commit` unless its id is taken; false if another writer took it first.
    pub(crate) async fn create(&self, commit: &WarehouseCommit) -> Result<bool, StoreError> {
        let body = serde_json::to_vec(commit).map_err(Self::io)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&Self::path(commit.id), body.into(), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(Self::io(e)),
        }
    }

    /// Delete commit records (vacuum: time travel before them is no longer possible).
    pub(crate) async fn delete(&self, id: u64) -> Result<(), StoreError> {
        match self.store.delete(&Self::path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::io(e)),
        }
    }
}
