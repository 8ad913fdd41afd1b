//! What one Postgres connection knows about itself, shared by its startup handler and its
//! statement handlers: the user's role, the statement control (cancel, timeout), its cursors,
//! its kept plans, and whether the server is shutting down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::common::DFSchemaRef;
use datafusion::sql::sqlparser::ast::Statement;
use prov9_query::session::{QueryControl, ReusablePlans, Role};
use tokio_util::sync::CancellationToken;

/// What one connection knows about itself, shared by its startup handler and its hooks.
#[derive(Debug)]
pub struct ConnectionState {
    /// Set once the client has authenticated.
    pub role: OnceLock<Role>,
    pub control: Arc<QueryControl>,
    /// The columns of each cursor declared on the connection.
    cursors: Mutex<HashMap<String, DFSchemaRef>>,
    /// Cancelled for every connection when the server starts shutting down.
    shutdown: CancellationToken,
    /// Plans of the last queries that can run again without planning.
    pub plans: ReusablePlans,
    /// The statements the current simple-protocol query ran through its checked plan, so that
    /// a query of one statement can name its kept plan by its text.
    simple_statements: Mutex<Vec<Statement>>,
}

impl ConnectionState {
    pub fn new(control: QueryControl, shutdown: CancellationToken) -> Self {
        ConnectionState {
            role: OnceLock::new(),
            control: Arc::new(control),
            cursors: Mutex::default(),
            shutdown,
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
        self.shutdown.is_cancelled()
    }

    pub fn remember_cursor(&self, name: String, schema: DFSchemaRef) {
        if let Ok(mut cursors) = self.cursors.lock() {
            cursors.insert(name, schema);
        }
    }

    pub fn cursor(&self, name: &str) -> Option<DFSchemaRef> {
        self.cursors.lock().ok()?.get(name).cloned()
    }

    pub fn role(&self) -> Role {
        self.role.get().copied().unwrap_or(Role::Reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::DFSchema;

    #[test]
    fn cursors_role_and_shutdown_are_the_connections_own() {
        let shutdown = CancellationToken::new();
        let state = ConnectionState::new(QueryControl::default(), shutdown.clone());
        // Until the client authenticates it is a reader.
        assert_eq!(state.role(), Role::Reader);
        state.role.set(Role::Admin).unwrap();
        assert_eq!(state.role(), Role::Admin);
        assert!(state.cursor("c").is_none());
        state.remember_cursor("c".into(), Arc::new(DFSchema::empty()));
        assert!(state.cursor("c").is_some());
        assert!(!state.shutting_down());
        shutdown.cancel();
        assert!(state.shutting_down());
    }
}
