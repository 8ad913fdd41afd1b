//! One DataFusion session per client connection, whatever the protocol.
//!
//! The engine's `SessionContext` is shared; a front end that let a `SET` change it would change
//! every connection. [`SessionFactory::connection`] gives each connection its own context, cloned
//! from the engine's: the catalog (tables, views, `pg_catalog`) is shared but read-only
//! ([`read_only_catalog`]), settings are the connection's own, and so are its memory pool (the
//! per-query budget) and its [`QueryControl`] (cancel, `statement_timeout`), which the
//! connection's query planner ([`guarded_planner`]) puts at the root of every plan after checking
//! once more that the plan only reads. [`ReusablePlans`] keeps the plans a connection may run
//! again without planning.

mod control;
mod guarded_planner;
mod read_only_catalog;
mod reusable_plans;
mod role;
mod snapshot_planner;

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;

pub use control::{ControlledExec, Interrupted, QueryControl};
pub use guarded_planner::GuardedQueryPlanner;
pub use read_only_catalog::ReadOnlyCatalogList;
pub use reusable_plans::{ReusablePlan, ReusablePlans};
pub use role::Role;
pub use snapshot_planner::SnapshotPlanner;

/// Makes the session of each new connection from the engine's.
pub struct SessionFactory {
    base: SessionContext,
    memory_limit: usize,
}

impl SessionFactory {
    /// Sessions cloned from `base`, each with `memory_limit` bytes for its queries.
    pub fn new(base: SessionContext, memory_limit: usize) -> Self {
        SessionFactory { base, memory_limit }
    }

    /// A new connection's session; its plans obey `control`.
    pub fn connection(&self, control: Arc<QueryControl>) -> Result<SessionContext> {
        let base = self.base.state();
        // Spilling is off: a reader's query must not fill the server's disk, and one that needs
        // more memory than its budget fails with "Resources exhausted" (SQLSTATE 53200).
        let runtime = RuntimeEnvBuilder::from_runtime_env(base.runtime_env())
            .with_memory_pool(Arc::new(TrackConsumersPool::new(
                GreedyMemoryPool::new(self.memory_limit),
                NonZeroUsize::new(3).expect("3 is not zero"),
            )))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        let catalogs = Arc::new(ReadOnlyCatalogList(base.catalog_list().clone()));
        let planner = Arc::new(GuardedQueryPlanner::new(
            control,
            Arc::clone(base.query_planner()),
        ));
        let session = SessionStateBuilder::new_from_existing(base)
            .with_catalog_list(catalogs)
            .with_runtime_env(runtime)
            .with_query_planner(planner)
            .build();
        Ok(SessionContext::new_with_state(session))
    }
}
