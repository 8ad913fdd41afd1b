//! What one query reads: a warehouse commit (every table's Delta version) and the tail of live
//! rows not yet folded into those versions.
//!
//! A query pins one snapshot for all of its scans ([`Snapshot::pin`]): the tables it joins come
//! from one commit, so it never sees part of a batch.

use std::future::Future;
use std::sync::Arc;

use crate::commit_log::WarehouseCommit;
use crate::tail::Tail;

/// A consistent view of the warehouse.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The commit read; `None` for a warehouse none was written to (every table's newest
    /// version is read).
    pub commit: Option<Arc<WarehouseCommit>>,
    /// Live rows not yet in the tables (always empty for a past snapshot).
    pub tail: Arc<Tail>,
    /// A snapshot of the past (`prov9.as_of`), not the newest.
    pub past: bool,
}

tokio::task_local! {
    static PINNED: Arc<Snapshot>;
}

impl Snapshot {
    /// The Delta version of `table` this snapshot reads; `None`: the newest.
    pub fn version(&self, table: &str) -> Option<i64> {
        self.commit
            .as_ref()
            .and_then(|c| c.versions.get(table).copied())
    }

    /// Run `work` (planning a query) with this snapshot pinned: every table scanned inside it
    /// reads this snapshot.
    pub async fn pin<F: Future>(self: Arc<Self>, work: F) -> F::Output {
        PINNED.scope(self, work).await
    }

    /// The snapshot pinned by the caller, if any.
    pub fn pinned() -> Option<Arc<Snapshot>> {
        PINNED.try_with(Arc::clone).ok()
    }
}
