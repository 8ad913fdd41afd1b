//! Queries (`SELECT …`, `EXPLAIN SELECT …`): planned once, checked to only read, and run from
//! the plan that was checked.
//!
//! In the simple protocol the checked plan runs at once (datafusion-postgres would print the
//! statement back to SQL and plan it a second time). In the extended protocol the checked plan is
//! the prepared statement's plan, checked again when a portal runs it (`crate::portal`).
//! A simple query whose text ran before as one statement with a kept plan runs that plan before
//! anything parses it ([`run_kept_text`], see [`prov9_query::session::ReusablePlans`]).

use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use prov9_query::check_read_only;

use super::settings::statement_timeout;
use crate::connection::ConnectionState;
use crate::results::{format_options, run_plan, run_ready};
use crate::sqlstate;

/// A query or an `EXPLAIN` of one: what readers may run once its plan is checked.
pub(crate) fn is_query(statement: &Statement) -> bool {
    match statement {
        Statement::Query(_) => true,
        Statement::Explain { statement, .. } => matches!(**statement, Statement::Query(_)),
        _ => false,
    }
}

/// Plan one query and check that it only reads.
pub(crate) async fn checked_plan(
    query: Statement,
    ctx: &SessionContext,
) -> PgWireResult<LogicalPlan> {
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(query)))
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    check_read_only(&plan).map_err(sqlstate::insufficient_privilege)?;
    Ok(plan)
}

/// A query of the simple protocol: plan, check, run (or run the plan kept for it).
pub(crate) async fn run_simple(
    statement: &Statement,
    ctx: &SessionContext,
    client: &(dyn ClientInfo + Send + Sync),
    connection: &ConnectionState,
) -> PgWireResult<Response> {
    let plan = checked_plan(statement.clone(), ctx).await?;
    connection.ran_simple_statement(statement);
    let reuse = Some((&connection.plans, statement));
    run_plan(
        ctx,
        plan,
        &Format::UnifiedText,
        format_options(client),
        reuse,
    )
    .await
}

/// A query of the extended protocol about to run `plan`, its prepared plan: checked again,
/// since the statement may have been prepared under other settings.
pub(crate) fn check_prepared(plan: &LogicalPlan) -> PgWireResult<()> {
    check_read_only(plan).map_err(sqlstate::insufficient_privilege)
}

/// Runs the plan kept for the simple query `text`, if there is one. `None` also during shutdown
/// and in a failed transaction: those are answered as for any statement.
pub(crate) fn run_kept_text(
    connection: &ConnectionState,
    ctx: &SessionContext,
    client: &(dyn ClientInfo + Send + Sync),
    text: &str,
) -> Option<PgWireResult<Response>> {
    if connection.shutting_down() || client.transaction_status() == TransactionStatus::Error {
        return None;
    }
    let kept = connection.plans.get_by_text(text)?;
    connection
        .control
        .begin_statement(statement_timeout(client));
    Some(run_ready(
        ctx,
        kept,
        &Format::UnifiedText,
        format_options(client),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::statement::parse as statement;

    fn code(error: PgWireError) -> String {
        match error {
            PgWireError::UserError(info) => info.code,
            other => other.to_string(),
        }
    }

    #[tokio::test]
    async fn a_checked_plan_reads_and_a_plan_that_writes_is_refused() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1)").await.unwrap();
        assert!(is_query(&statement("SELECT * FROM t")));
        assert!(is_query(&statement("EXPLAIN SELECT * FROM t")));
        assert!(!is_query(&statement("EXPLAIN INSERT INTO t VALUES (2)")));
        let plan = checked_plan(statement("SELECT * FROM t"), &ctx)
            .await
            .unwrap();
        assert!(check_prepared(&plan).is_ok());
        // A statement is checked by its plan too: a write hidden in a query's plan is refused.
        let insert = checked_plan(statement("INSERT INTO t VALUES (2)"), &ctx).await;
        assert_eq!(code(insert.unwrap_err()), "42501");
        let writing = ctx
            .state()
            .create_logical_plan("INSERT INTO t VALUES (2)")
            .await
            .unwrap();
        assert_eq!(code(check_prepared(&writing).unwrap_err()), "42501");
    }
}
