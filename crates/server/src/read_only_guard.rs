//! The first query hook of every connection: refuse anything that is not a read.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use prov9_query::{ReadOnlyViolation, check_read_only};

use crate::config::Role;
use crate::session::ConnectionState;
use crate::startup::METADATA_STATEMENT_TIMEOUT;

/// SQLSTATE 42501: insufficient_privilege.
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Session settings datafusion-postgres keeps per connection (its `SetShowHook`).
const SESSION_SETTINGS: &[&str] = &[
    "statement_timeout",
    "datestyle",
    "bytea_output",
    "intervalstyle",
    "application_name",
    "extra_float_digits",
    "search_path",
];

/// Settings an admin may change for its own session; never `datafusion.runtime.*` (the memory
/// budget) or `datafusion.catalog.*`.
const ADMIN_SETTINGS: &[&str] = &[
    "datafusion.execution.",
    "datafusion.optimizer.",
    "datafusion.explain.",
    "datafusion.sql_parser.",
    "datafusion.format.",
];

/// Refuses statements that would change the warehouse, the server or other sessions, and starts
/// the clock of every statement (cancel, `statement_timeout`).
#[derive(Debug, Clone)]
pub struct ReadOnlyGuard {
    connection: Arc<ConnectionState>,
}

impl ReadOnlyGuard {
    pub fn new(connection: Arc<ConnectionState>) -> Self {
        ReadOnlyGuard { connection }
    }

    fn begin(&self, client: &dyn HookClient) {
        let timeout = client
            .metadata()
            .get(METADATA_STATEMENT_TIMEOUT)
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
        self.connection.control.begin(timeout);
    }
}

fn deny(violation: ReadOnlyViolation) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        INSUFFICIENT_PRIVILEGE.to_string(),
        violation.to_string(),
    )))
}

/// What the guard decides from the statement alone.
enum Verdict {
    /// A query (or EXPLAIN of one): allowed once its plan is checked.
    CheckPlan,
    /// A harmless session statement: let the next hooks handle it.
    Pass,
    /// A `SET` of something datafusion-postgres would apply to the context shared by every
    /// connection, and that no client needs: acknowledge it and do nothing.
    IgnoreSet,
    /// A session statement with nothing to do: answer with this tag.
    Acknowledge(&'static str),
    Deny(String),
}

fn verdict(statement: &Statement, role: Role) -> Verdict {
    match statement {
        Statement::Query(_) => Verdict::CheckPlan,
        Statement::Explain { statement, .. } if matches!(**statement, Statement::Query(_)) => {
            Verdict::CheckPlan
        }
        Statement::Declare { .. } => Verdict::CheckPlan,
        Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Set(Set::SetTimeZone { .. }) => Verdict::Pass,
        // Connection pools send these; prepared statements live in the protocol layer, and
        // DataFusion's own (shared) PREPARE store is never written, since PREPARE is refused.
        Statement::Discard { .. } => Verdict::Acknowledge("DISCARD ALL"),
        Statement::Deallocate { .. } => Verdict::Acknowledge("DEALLOCATE"),
        Statement::Set(Set::SingleAssignment { variable, .. }) => {
            let name = variable.to_string().to_ascii_lowercase();
            if name.starts_with("datafusion.") {
                if role == Role::Admin && ADMIN_SETTINGS.iter().any(|p| name.starts_with(p)) {
                    Verdict::Pass
                } else {
                    Verdict::Deny(format!("SET {name}"))
                }
            } else if SESSION_SETTINGS.contains(&name.as_str()) {
                Verdict::Pass
            } else {
                Verdict::IgnoreSet
            }
        }
        Statement::Set(_) => Verdict::IgnoreSet,
        other => {
            let text = other.to_string();
            let words: Vec<&str> = text.split_whitespace().take(3).collect();
            Verdict::Deny(words.join(" "))
        }
    }
}

async fn check_plan(statement: &Statement, ctx: &SessionContext) -> PgWireResult<()> {
    let queries: Vec<Statement> = match statement {
        Statement::Declare { stmts } => stmts
            .iter()
            .filter_map(|d| d.for_query.clone())
            .map(Statement::Query)
            .collect(),
        other => vec![other.clone()],
    };
    for query in queries {
        let plan = ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(query)))
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        check_read_only(&plan).map_err(deny)?;
    }
    Ok(())
}

#[async_trait]
impl QueryHook for ReadOnlyGuard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.begin(client);
        match verdict(statement, self.connection.role()) {
            Verdict::CheckPlan => check_plan(statement, ctx).await.err().map(Err),
            Verdict::Pass => None,
            Verdict::IgnoreSet => Some(Ok(Response::Execution(Tag::new("SET")))),
            Verdict::Acknowledge(tag) => Some(Ok(Response::Execution(Tag::new(tag)))),
            Verdict::Deny(what) => Some(Err(deny(ReadOnlyViolation(what)))),
        }
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match verdict(statement, self.connection.role()) {
            Verdict::CheckPlan => check_plan(statement, ctx).await.err().map(Err),
            Verdict::Pass | Verdict::IgnoreSet => None,
            // DataFusion cannot plan these; an empty plan carries them to execution, where
            // `handle_extended_query` answers them.
            Verdict::Acknowledge(_) => Some(Ok(LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::empty()),
            }))),
            Verdict::Deny(what) => Some(Err(deny(ReadOnlyViolation(what)))),
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.begin(client);
        match verdict(statement, self.connection.role()) {
            Verdict::CheckPlan => check_read_only(plan).err().map(|v| Err(deny(v))),
            Verdict::Pass => None,
            Verdict::IgnoreSet => Some(Ok(Response::Execution(Tag::new("SET")))),
            Verdict::Acknowledge(tag) => Some(Ok(Response::Execution(Tag::new(tag)))),
            Verdict::Deny(what) => Some(Err(deny(ReadOnlyViolation(what)))),
        }
    }
}
