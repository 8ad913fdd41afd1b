//! Transactions as a read-only Postgres has them: `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
//!
//! Nothing is ever written, so a transaction changes no data; what clients need is the protocol:
//! the right command tags, the transaction status in `ReadyForQuery`, savepoints (psycopg and
//! SQLAlchemy wrap catalog lookups in them), and the aborted state after an error, where Postgres
//! answers everything but `ROLLBACK` with SQLSTATE 25P02. This replaces datafusion-postgres's
//! transaction hook, which refuses savepoints and reports 25P01. pgwire tracks the status from
//! the responses' kinds (`TransactionStart`, `TransactionEnd`); `ROLLBACK TO SAVEPOINT` in a
//! failed transaction is answered before statements are parsed (`crate::handlers`), since
//! pgwire keeps a failed transaction failed whatever a statement answers.

use datafusion::sql::sqlparser::ast::{Statement, TransactionAccessMode, TransactionMode};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;

use crate::sqlstate;

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

/// The answer to a transaction statement in a transaction of `status`.
pub(crate) fn respond(statement: &Statement, status: TransactionStatus) -> PgWireResult<Response> {
    let aborted = status == TransactionStatus::Error;
    match statement {
        Statement::StartTransaction { modes, .. } => {
            if modes.iter().any(|m| {
                matches!(
                    m,
                    TransactionMode::AccessMode(TransactionAccessMode::ReadWrite)
                )
            }) {
                return Err(sqlstate::read_only_transaction(
                    "cannot start a READ WRITE transaction: prov9 is read-only through SQL",
                ));
            }
            match status {
                TransactionStatus::Idle => Ok(Response::TransactionStart(Tag::new("BEGIN"))),
                // Postgres warns and goes on.
                TransactionStatus::Transaction => Ok(Response::Execution(Tag::new("BEGIN"))),
                TransactionStatus::Error => Err(sqlstate::in_failed_transaction()),
            }
        }
        // COMMIT of an aborted transaction rolls it back, as in Postgres.
        Statement::Commit { .. } if aborted => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        Statement::Commit { .. } => Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
        // In a failed transaction this is answered before parsing (see the module docs); ending
        // the transaction is the nearest a statement's answer can do.
        Statement::Rollback {
            savepoint: Some(_), ..
        } if aborted => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Ok(Response::Execution(Tag::new("ROLLBACK"))),
        Statement::Rollback { .. } => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        _ if aborted => Err(sqlstate::in_failed_transaction()),
        Statement::Savepoint { .. } => Ok(Response::Execution(Tag::new("SAVEPOINT"))),
        Statement::ReleaseSavepoint { .. } => Ok(Response::Execution(Tag::new("RELEASE"))),
        _ => Err(sqlstate::syntax_error(format!(
            "not a transaction statement: {statement}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::pgwire::error::PgWireError;

    fn answer(sql: &str, status: TransactionStatus) -> Result<String, String> {
        let statement = crate::statement::parse(sql);
        assert!(is_transaction_statement(&statement), "{sql}");
        match respond(&statement, status) {
            Ok(Response::TransactionStart(tag)) => Ok(format!("start {tag:?}")),
            Ok(Response::TransactionEnd(tag)) => Ok(format!("end {tag:?}")),
            Ok(Response::Execution(tag)) => Ok(format!("in {tag:?}")),
            Ok(_) => Ok("other".into()),
            Err(PgWireError::UserError(info)) => Err(info.code),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn transactions_start_and_end_as_in_postgres() {
        use TransactionStatus::{Error, Idle, Transaction};
        assert!(answer("BEGIN", Idle).unwrap().starts_with("start"));
        assert!(answer("BEGIN", Transaction).unwrap().starts_with("in"));
        assert!(answer("COMMIT", Transaction).unwrap().contains("COMMIT"));
        // A failed transaction: COMMIT rolls back, savepoints are refused with 25P02.
        assert!(answer("COMMIT", Error).unwrap().contains("ROLLBACK"));
        assert!(answer("SAVEPOINT s", Error).unwrap_err().contains("25P02"));
        assert!(
            answer("RELEASE SAVEPOINT s", Error)
                .unwrap_err()
                .contains("25P02")
        );
        assert!(
            answer("ROLLBACK TO SAVEPOINT s", Transaction)
                .unwrap()
                .starts_with("in")
        );
        assert!(
            answer("BEGIN READ WRITE", Idle)
                .unwrap_err()
                .contains("25006")
        );
        assert!(
            answer("BEGIN READ ONLY", Idle)
                .unwrap()
                .starts_with("start")
        );
    }
}
