//! One DataFusion session per connection.
//!
//! datafusion-postgres serves every connection from one `SessionContext`, so a `SET` in one
//! connection would change all of them. Here each connection gets its own context, cloned from
//! the engine's: the catalog (tables, views, `pg_catalog`) is shared but read-only, settings are
//! the connection's own, and so are its memory pool (the per-query budget) and its
//! [`QueryControl`] (cancel, `statement_timeout`).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::common::DFSchemaRef;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;

use crate::ServerError;
use crate::config::Role;
use crate::control::QueryControl;
use crate::guarded_planner::GuardedQueryPlanner;
use crate::read_only_catalog::ReadOnlyCatalogList;
use crate::reusable_plans::ReusablePlans;

/// What one connection knows about itself, shared by its startup handler and its hooks.
#[derive(Debug)]
pub struct ConnectionState {
    /// Set once the client has authenticated.
    pub role: OnceLock<Role>,
    pub control: Arc<QueryControl>,
    /// The columns of each cursor declared on the connection.
    cursors: Mutex<HashMap<String, DFSchemaRef>>,
    /// Set for every connection when the server starts shutting down.
    shutdown: Arc<AtomicBool>,
    /// A simple-protocol query the read-only guard planned and checked, until it runs.
    checked_query: Mutex<Option<(Statement, LogicalPlan)>>,
    /// Plans of the last queries that can run again without planning.
    pub(crate) plans: ReusablePlans,
    /// The statements the current simple-protocol query ran through its checked plan, so that
    /// a query of one statement can name its kept plan by its text.
    simple_statements: Mutex<Vec<Statement>>,
}

impl ConnectionState {
    pub fn new(control: QueryControl, shutdown: Arc<AtomicBool>) -> Self {
        ConnectionState {
            role: OnceLock::new(),
            control: Arc::new(control),
            cursors: Mutex::default(),
            shutdown,
            checked_query: Mutex::default(),
            plans: ReusablePlans::default(),
            simple_statements: Mutex::default(),
        }
    }

    /// A simple-protocol query starts: no statement of it has run yet.
    pub(crate) fn begin_simple_query(&self) {
        if let Ok(mut ran) = self.simple_statements.lock() {
            ran.clear();
        }
    }

    /// A statement of the current simple-protocol query runs its checked plan.
    pub(crate) fn ran_simple_statement(&self, statement: &Statement) {
        if let Ok(mut ran) = self.simple_statements.lock() {
            ran.push(statement.clone());
        }
    }

    /// The simple-protocol query `text` ended with `responses` responses: if it was one
    /// statement, its kept plan (if any) is named by `text`.
    pub(crate) fn end_simple_query(&self, text: &str, responses: usize) {
        let Ok(mut ran) = self.simple_statements.lock() else {
            return;
        };
        if let [statement] = ran.as_slice()
            && responses == 1
        {
            self.plans.name(statement, text);
        }
        ran.clear();
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub fn remember_cursor(&self, name: String, schema: DFSchemaRef) {
        if let Ok(mut cursors) = self.cursors.lock() {
            cursors.insert(name, schema);
        }
    }

    pub fn cursor(&self, name: &str) -> Option<DFSchemaRef> {
        self.cursors.lock().ok()?.get(name).cloned()
    }

    /// Keep the plan the guard checked for `statement`, for the hook that runs it.
    pub fn hand_over_checked(&self, statement: &Statement, plan: LogicalPlan) {
        if let Ok(mut slot) = self.checked_query.lock() {
            *slot = Some((statement.clone(), plan));
        }
    }

    /// The checked plan of `statement`, if it is the one the guard checked last.
    pub fn take_checked(&self, statement: &Statement) -> Option<LogicalPlan> {
        let (checked, plan) = self.checked_query.lock().ok()?.take()?;
        (checked == *statement).then_some(plan)
    }

    pub fn role(&self) -> Role {
        self.role.get().copied().unwrap_or(Role::Reader)
    }
}

/// Makes the session of each new connection from the engine's.
pub struct SessionFactory {
    base: SessionContext,
    memory_limit: usize,
}

impl SessionFactory {
    pub fn new(base: SessionContext, memory_limit: usize) -> Self {
        SessionFactory { base, memory_limit }
    }

    pub fn connection(&self, state: &ConnectionState) -> Result<SessionContext, ServerError> {
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
            .build_arc()
            .map_err(|e| ServerError::Catalog(e.to_string()))?;
        let catalogs = Arc::new(ReadOnlyCatalogList(base.catalog_list().clone()));
        let session = SessionStateBuilder::new_from_existing(base)
            .with_catalog_list(catalogs)
            .with_runtime_env(runtime)
            .with_query_planner(Arc::new(GuardedQueryPlanner::new(state.control.clone())))
            .build();
        Ok(SessionContext::new_with_state(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::LogicalPlanBuilder;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn statement(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_checked_plan_runs_once_and_only_for_its_statement() {
        let state = ConnectionState::new(
            QueryControl::new(Arc::default()),
            Arc::new(AtomicBool::new(false)),
        );
        let plan = LogicalPlanBuilder::empty(false).build().unwrap();
        state.hand_over_checked(&statement("SELECT 1"), plan.clone());
        assert_eq!(state.take_checked(&statement("SELECT 2")), None);
        // A mismatch drops it: a later `SELECT 1` is planned and checked again.
        assert_eq!(state.take_checked(&statement("SELECT 1")), None);
        state.hand_over_checked(&statement("SELECT 1"), plan.clone());
        assert_eq!(state.take_checked(&statement("SELECT 1")), Some(plan));
        assert_eq!(state.take_checked(&statement("SELECT 1")), None);
    }
}
