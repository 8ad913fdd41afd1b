//! Every statement a client sends, classified once into a [`Command`] and applied by its family:
//! queries, cursors, settings, transactions, `COPY … TO STDOUT`; anything else would write and
//! is refused (SQLSTATE 42501).
//!
//! [`Statements`] is the one query hook of a connection (datafusion-postgres asks its hooks in
//! order; with one, nothing depends on the order). For each statement it first refuses to start
//! during shutdown or in a failed transaction (only its end may run), starts the statement's
//! clock (cancel, `statement_timeout`), and forgets kept plans when the statement may change
//! settings; then the statement's family answers it, in the simple protocol, when a prepared
//! statement is parsed (the plan `Describe` sees), and when a portal runs it.

mod copy;
mod cursor;
pub(crate) mod query;
pub(crate) mod settings;
mod transaction;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use prov9_query::ReadOnlyViolation;
use prov9_query::session::Role;

use crate::connection::ConnectionState;
use crate::describe::empty_plan;
use crate::sqlstate;
use cursor::Cursor;
use settings::{Setting, statement_timeout};

/// What a statement is, decided once from its syntax and the user's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// A query or an `EXPLAIN` of one: runs once its plan is checked to only read.
    Query,
    Cursor(Cursor),
    Settings(Setting),
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
    Transaction,
    /// `COPY … TO STDOUT`: a read, streamed to the client.
    CopyOut,
    /// Anything that would change the warehouse, the server or other sessions.
    Refused(String),
}

impl Command {
    pub(crate) fn classify(statement: &Statement, role: Role) -> Command {
        if query::is_query(statement) {
            Command::Query
        } else if let Some(cursor) = Cursor::classify(statement) {
            Command::Cursor(cursor)
        } else if transaction::is_transaction_statement(statement) {
            Command::Transaction
        } else if copy::is_copy_to_stdout(statement) {
            Command::CopyOut
        } else if let Some(setting) = Setting::classify(statement, role) {
            setting.map_or_else(Command::Refused, Command::Settings)
        } else {
            let text = statement.to_string();
            Command::Refused(
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
    }

    /// Whether running it may change the session's settings, which kept plans depend on.
    fn may_change_settings(&self, statement: &Statement) -> bool {
        match self {
            Command::Query | Command::Cursor(_) | Command::Transaction => false,
            Command::Settings(_) => !matches!(statement, Statement::ShowVariable { .. }),
            Command::CopyOut | Command::Refused(_) => true,
        }
    }
}

/// The statement handler of one connection (its only datafusion-postgres query hook).
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    connection: Arc<ConnectionState>,
}

impl Statements {
    pub(crate) fn new(connection: Arc<ConnectionState>) -> Self {
        Statements { connection }
    }

    /// Every statement that runs: refuse to start during shutdown, or in a failed transaction
    /// (only its end may run); start its timeout; forget plans if settings may change.
    fn begin(
        &self,
        statement: &Statement,
        command: &Command,
        client: &dyn ClientInfo,
    ) -> PgWireResult<()> {
        if self.connection.shutting_down() {
            return Err(sqlstate::admin_shutdown());
        }
        if client.transaction_status() == TransactionStatus::Error
            && !matches!(
                statement,
                Statement::Commit { .. } | Statement::Rollback { .. }
            )
        {
            return Err(sqlstate::in_failed_transaction());
        }
        self.connection
            .control
            .begin_statement(statement_timeout(client));
        if command.may_change_settings(statement) {
            self.connection.plans.forget();
        }
        Ok(())
    }

    fn classify(&self, statement: &Statement) -> Command {
        Command::classify(statement, self.connection.role())
    }

    /// Run a statement in either protocol: `prepared` is the plan a portal runs (extended),
    /// `None` in the simple protocol. `None` back leaves the statement to datafusion-postgres.
    async fn run(
        &self,
        statement: &Statement,
        prepared: Option<&LogicalPlan>,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let command = self.classify(statement);
        if let Err(e) = self.begin(statement, &command, client) {
            return Some(Err(e));
        }
        Some(match command {
            Command::Query => match prepared {
                None => query::run_simple(statement, ctx, client, &self.connection).await,
                // Only checked: `crate::portal` runs it with its parameters bound.
                Some(plan) => return query::check_prepared(plan).err().map(Err),
            },
            Command::Cursor(cursor) => cursor.apply(statement, ctx, client, &self.connection).await,
            Command::Settings(setting) => return setting.apply(statement, ctx, client).await,
            Command::Transaction => transaction::respond(statement, client.transaction_status()),
            Command::CopyOut => copy::copy_out(statement, ctx).await,
            Command::Refused(what) => {
                Err(sqlstate::insufficient_privilege(ReadOnlyViolation(what)))
            }
        })
    }
}

#[async_trait]
impl QueryHook for Statements {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement, None, ctx, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Some(match self.classify(statement) {
            // The checked plan is the statement's plan: datafusion-postgres need not plan it again.
            Command::Query => query::checked_plan(statement.clone(), ctx).await,
            Command::Cursor(cursor) => cursor.describe(statement, ctx, &self.connection).await,
            Command::Settings(setting) => return setting.describe(statement, ctx, client).await,
            // DataFusion cannot plan these; an empty plan carries them to execution. COPY has
            // no row description.
            Command::Transaction | Command::CopyOut => Ok(empty_plan()),
            Command::Refused(what) => {
                Err(sqlstate::insufficient_privilege(ReadOnlyViolation(what)))
            }
        })
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.run(statement, Some(plan), ctx, client).await
    }
}

/// The first statement of `sql`, as clients' statements are parsed: for the families' tests.
#[cfg(test)]
pub(crate) fn parse(sql: &str) -> Statement {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .expect("test SQL parses")
        .remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(sql: &str) -> Command {
        Command::classify(&parse(sql), Role::Reader)
    }

    #[test]
    fn each_statement_has_one_family() {
        assert_eq!(classify("SELECT 1"), Command::Query);
        assert_eq!(classify("EXPLAIN SELECT 1"), Command::Query);
        assert_eq!(classify("FETCH 1 FROM c"), Command::Cursor(Cursor::Fetch));
        assert_eq!(classify("BEGIN"), Command::Transaction);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT s"), Command::Transaction);
        assert_eq!(classify("COPY runs TO STDOUT"), Command::CopyOut);
        assert!(matches!(classify("SHOW search_path"), Command::Settings(_)));
        // Writes, and reads that would reach the server's files, are refused.
        assert_eq!(
            classify("INSERT INTO runs VALUES (1)"),
            Command::Refused("INSERT INTO runs".into())
        );
        assert!(matches!(
            classify("COPY runs TO '/tmp/x'"),
            Command::Refused(_)
        ));
        assert!(matches!(
            classify("EXPLAIN ANALYZE DELETE FROM runs"),
            Command::Refused(_)
        ));
        assert!(matches!(
            classify("CREATE TABLE t (a INT)"),
            Command::Refused(_)
        ));
    }
}
