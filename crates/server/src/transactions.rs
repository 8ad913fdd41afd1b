//! Transactions as a read-only Postgres has them: `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
//!
//! Nothing is ever written, so a transaction changes no data; what clients need is the protocol:
//! the right command tags, the transaction status in `ReadyForQuery`, savepoints (psycopg and
//! SQLAlchemy wrap catalog lookups in them), and the aborted state after an error, where Postgres
//! answers everything but `ROLLBACK` with SQLSTATE 25P02. This replaces datafusion-postgres's
//! transaction hook, which refuses savepoints and reports 25P01.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Statement, TransactionAccessMode, TransactionMode};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::response::TransactionStatus;

use crate::read_only_guard::empty_plan;

#[derive(Debug, Default, Clone, Copy)]
pub struct TransactionHook;

fn error(code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.to_string(),
    )))
}

pub(crate) fn is_transaction_statement(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
    )
}

fn respond(statement: &Statement, status: TransactionStatus) -> Option<PgWireResult<Response>> {
    let aborted = status == TransactionStatus::Error;
    let response = match statement {
        Statement::StartTransaction { modes, .. } => {
            if modes.iter().any(|m| {
                matches!(
                    m,
                    TransactionMode::AccessMode(TransactionAccessMode::ReadWrite)
                )
            }) {
                return Some(Err(error(
                    "25006",
                    "cannot start a READ WRITE transaction: prov9 is read-only through SQL",
                )));
            }
            match status {
                TransactionStatus::Idle => Ok(Response::TransactionStart(Tag::new("BEGIN"))),
                // Postgres warns and goes on.
                TransactionStatus::Transaction => Ok(Response::Execution(Tag::new("BEGIN"))),
                TransactionStatus::Error => Err(aborted_error()),
            }
        }
        // COMMIT of an aborted transaction rolls it back, as in Postgres.
        Statement::Commit { .. } if aborted => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        Statement::Commit { .. } => Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
        Statement::Rollback {
            savepoint: Some(_), ..
        } => {
            if aborted {
                // Answered before this hook (crate::rewrite) in both protocols, since pgwire
                // keeps a failed transaction failed whatever a hook answers; ending the
                // transaction is the nearest a hook can do.
                Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))
            } else {
                Ok(Response::Execution(Tag::new("ROLLBACK")))
            }
        }
        Statement::Rollback { .. } => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        Statement::Savepoint { .. } if aborted => Err(aborted_error()),
        Statement::Savepoint { .. } => Ok(Response::Execution(Tag::new("SAVEPOINT"))),
        Statement::ReleaseSavepoint { .. } if aborted => Err(aborted_error()),
        Statement::ReleaseSavepoint { .. } => Ok(Response::Execution(Tag::new("RELEASE"))),
        _ if aborted => Err(aborted_error()),
        _ => return None,
    };
    Some(response)
}

pub(crate) fn aborted_error() -> PgWireError {
    error(
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

#[async_trait]
impl QueryHook for TransactionHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        respond(statement, client.transaction_status())
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // DataFusion cannot plan these; an empty plan carries them to execution.
        is_transaction_statement(statement).then(|| Ok(empty_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        respond(statement, client.transaction_status())
    }
}
