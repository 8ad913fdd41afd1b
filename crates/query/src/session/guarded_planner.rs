//! The query planner of every connection: the last line of the read-only defence, and the place
//! where plans get their [`ControlledExec`] root.
//!
//! The Postgres front end refuses writes by statement and by plan before anything runs. But
//! a front end may plan some statements again from their text, so a second check sits where
//! every query must pass to run at all: physical planning. DDL never reaches it (DataFusion runs
//! DDL in the session context), which is why connections also get a read-only catalog
//! ([`super::read_only_catalog`]).

use std::sync::Arc;

use crate::check_read_only;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;

use super::control::{ControlledExec, QueryControl};

#[derive(Debug)]
pub struct GuardedQueryPlanner {
    control: Arc<QueryControl>,
    /// The engine's planner (which pins the snapshot).
    inner: Arc<dyn QueryPlanner + Send + Sync>,
}

impl GuardedQueryPlanner {
    pub fn new(control: Arc<QueryControl>, inner: Arc<dyn QueryPlanner + Send + Sync>) -> Self {
        GuardedQueryPlanner { control, inner }
    }
}

#[async_trait]
impl QueryPlanner for GuardedQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        check_read_only(logical_plan).map_err(|v| DataFusionError::External(Box::new(v)))?;
        let plan = self
            .inner
            .create_physical_plan(logical_plan, session)
            .await?;
        Ok(Arc::new(ControlledExec::new(plan, self.control.clone())))
    }
}
