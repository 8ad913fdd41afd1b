//! The base query planner: every query plans against one pinned snapshot of the warehouse.
//!
//! The snapshot is the newest warehouse commit plus the live tail, or, with `SET prov9.as_of`,
//! the last commit made at or before that time. All of the query's table scans (and lineage
//! calls of the past) read it, so a query never mixes two commits.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use prov9_store::{Snapshot, Warehouse};

use crate::{Prov9Options, QueryError};

#[derive(Debug)]
pub struct SnapshotPlanner {
    warehouse: Warehouse,
}

impl SnapshotPlanner {
    pub fn new(warehouse: Warehouse) -> Self {
        SnapshotPlanner { warehouse }
    }
}

/// The snapshot a session's next query reads.
async fn snapshot_for(warehouse: &Warehouse, session: &dyn Session) -> Result<Arc<Snapshot>> {
    let external = |e: QueryError| DataFusionError::External(Box::new(e));
    let as_of = Prov9Options::as_of(session.config_options())
        .map_err(|reason| external(QueryError::InvalidSetting(reason)))?;
    let snapshot = match as_of {
        Some(time) => warehouse.snapshot_as_of(time).await,
        None => warehouse.snapshot().await,
    };
    snapshot.map_err(|e| external(e.into()))
}

#[async_trait]
impl QueryPlanner for SnapshotPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snapshot = snapshot_for(&self.warehouse, session).await?;
        snapshot
            .pin(DefaultPhysicalPlanner::default().create_physical_plan(logical_plan, session))
            .await
    }
}
