//! The last query hook: a simple-protocol query runs the plan the read-only guard checked.
//!
//! Without it datafusion-postgres prints the statement back to SQL and plans it a second time
//! (parse, plan, table functions called again) after the guard has planned it once. The guard
//! hands its checked plan over ([`ConnectionState::hand_over_checked`]); the hooks in between
//! (transactions, cursors, `SET`/`SHOW`) still see the statement first, in the same order.
//!
//! A simple query whose text ran before as one statement with a kept plan runs that plan before
//! anything parses it ([`run_kept_text`], see [`crate::reusable_plans`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;

use crate::portal::{format_options, run_plan, run_ready};
use crate::session::ConnectionState;
use crate::startup::statement_timeout;

/// Runs the plan kept for the simple query `text`, if there is one. `None` also during shutdown
/// and in a failed transaction: the read-only guard answers those as for any statement.
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
    let options = format_options(client);
    Some(run_ready(ctx, kept, &Format::UnifiedText, options))
}

pub struct RunCheckedQuery {
    connection: Arc<ConnectionState>,
}

impl RunCheckedQuery {
    pub fn new(connection: Arc<ConnectionState>) -> Self {
        RunCheckedQuery { connection }
    }
}

#[async_trait]
impl QueryHook for RunCheckedQuery {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let plan = self.connection.take_checked(statement)?;
        self.connection.ran_simple_statement(statement);
        let options = format_options(client);
        let reuse = Some((&self.connection.plans, statement));
        Some(run_plan(ctx, plan, &Format::UnifiedText, options, reuse).await)
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

    /// Extended-protocol queries run their checked plan in `portal.rs`.
    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}
