//! Cursors: `DECLARE … CURSOR FOR query`, `FETCH`, `CLOSE`.
//!
//! A `DECLARE` is checked and opened here (not by datafusion-postgres's cursor hook, which would
//! plan the query again from its text): the cursor's portal carries the checked plan, so clients
//! can describe it, and it runs exactly the plan that was checked. Its columns are remembered on
//! the connection, so a later `FETCH` can be described too. `FETCH` and `CLOSE` are
//! datafusion-postgres's, with the count of a `FETCH` bounded.

use std::sync::Arc;

use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DeclareType, FetchDirection, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::api::stmt::StoredStatement;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};

use super::query::checked_plan;
use crate::connection::ConnectionState;
use crate::describe::empty_plan;
use crate::sqlstate;

/// pgwire reserves room for a FETCH's count before it reads a row; a count beyond this is
/// fetched as `FETCH ALL`, so no client can make the server reserve terabytes.
pub(crate) const MAX_FETCH_COUNT: u64 = 1_000_000;

/// A cursor statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    Declare,
    Fetch,
    Close,
}

impl Cursor {
    pub(crate) fn classify(statement: &Statement) -> Option<Cursor> {
        match statement {
            Statement::Declare { .. } => Some(Cursor::Declare),
            Statement::Fetch { .. } => Some(Cursor::Fetch),
            Statement::Close { .. } => Some(Cursor::Close),
            _ => None,
        }
    }

    /// Run the statement (both protocols).
    pub(crate) async fn apply(
        self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
        connection: &ConnectionState,
    ) -> PgWireResult<Response> {
        let delegated = match self {
            Cursor::Declare => return declare(statement, ctx, client, connection).await,
            Cursor::Fetch => {
                CursorStatementHook
                    .handle_simple_query(&bounded_fetch(statement), ctx, client)
                    .await
            }
            Cursor::Close => {
                CursorStatementHook
                    .handle_simple_query(statement, ctx, client)
                    .await
            }
        };
        delegated.unwrap_or_else(|| Err(sqlstate::syntax_error("not a cursor statement")))
    }

    /// The plan `Describe` sees: a `DECLARE`'s queries are checked now, a `FETCH` has its
    /// cursor's columns.
    pub(crate) async fn describe(
        self,
        statement: &Statement,
        ctx: &SessionContext,
        connection: &ConnectionState,
    ) -> PgWireResult<LogicalPlan> {
        match self {
            Cursor::Declare => {
                check_declared(statement, ctx, connection).await?;
                Ok(empty_plan())
            }
            Cursor::Fetch => Ok(fetch_plan(statement, connection).unwrap_or_else(empty_plan)),
            Cursor::Close => Ok(empty_plan()),
        }
    }
}

/// Plan each cursor's query and check it reads only, remembering its columns.
async fn check_declared(
    statement: &Statement,
    ctx: &SessionContext,
    connection: &ConnectionState,
) -> PgWireResult<()> {
    let Statement::Declare { stmts } = statement else {
        return Ok(());
    };
    for d in stmts {
        let (Some(name), Some(query)) = (d.names.first(), d.for_query.clone()) else {
            continue;
        };
        let plan = checked_plan(Statement::Query(query), ctx).await?;
        connection.remember_cursor(name.value.clone(), plan.schema().clone());
    }
    Ok(())
}

/// Open the cursors of a `DECLARE` as portals of the connection, from their checked plans.
async fn declare(
    statement: &Statement,
    ctx: &SessionContext,
    client: &mut dyn HookClient,
    connection: &ConnectionState,
) -> PgWireResult<Response> {
    let Statement::Declare { stmts } = statement else {
        return Err(sqlstate::syntax_error("not a DECLARE"));
    };
    for d in stmts {
        if d.declare_type != Some(DeclareType::Cursor) {
            return Err(sqlstate::syntax_error(
                "only DECLARE … CURSOR FOR a query is supported",
            ));
        }
        let name = d
            .names
            .first()
            .map(|n| n.value.clone())
            .ok_or_else(|| sqlstate::syntax_error("DECLARE needs a cursor name"))?;
        let query = d
            .for_query
            .clone()
            .ok_or_else(|| sqlstate::syntax_error("DECLARE CURSOR needs a FOR query"))?;
        let text = query.to_string();
        let statement = Statement::Query(query);
        let plan = checked_plan(statement.clone(), ctx).await?;
        connection.remember_cursor(name.clone(), plan.schema().clone());
        let frame = ctx
            .execute_logical_plan(plan.clone())
            .await
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let rows = encode_dataframe(frame, &Format::UnifiedText, None).await?;
        let stored = Arc::new(StoredStatement::new(
            name.clone(),
            (text, Some((statement, plan))),
            vec![],
        ));
        let portal = Portal::new_cursor(name, stored);
        portal.start(rows).await;
        client.portal_store().put_portal(Arc::new(portal));
    }
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

/// The `FETCH` to run: `FETCH ALL` for a count beyond [`MAX_FETCH_COUNT`].
fn bounded_fetch(statement: &Statement) -> Statement {
    let mut bounded = statement.clone();
    if let Statement::Fetch { direction, .. } = &mut bounded {
        let count = match direction {
            FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
                limit.value.to_string().parse::<u64>().ok()
            }
            _ => None,
        };
        if count.is_none_or(|n| n > MAX_FETCH_COUNT)
            && matches!(
                direction,
                FetchDirection::Count { .. } | FetchDirection::Forward { limit: Some(_) }
            )
        {
            *direction = FetchDirection::ForwardAll;
        }
    }
    bounded
}

/// An empty plan with a cursor's columns: what `FETCH` from it returns, for `Describe`.
fn fetch_plan(statement: &Statement, connection: &ConnectionState) -> Option<LogicalPlan> {
    let Statement::Fetch { name, .. } = statement else {
        return None;
    };
    let schema = connection.cursor(&name.value)?;
    Some(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::statement::parse as statement;

    #[test]
    fn huge_fetch_counts_fetch_all() {
        assert_eq!(
            bounded_fetch(&statement("FETCH 10 FROM c")).to_string(),
            statement("FETCH 10 FROM c").to_string()
        );
        let all = statement("FETCH FORWARD ALL FROM c").to_string();
        assert_eq!(
            bounded_fetch(&statement("FETCH 99999999999 FROM c")).to_string(),
            all
        );
        assert_eq!(
            bounded_fetch(&statement("FETCH FORWARD 2000000 FROM c")).to_string(),
            all
        );
    }

    #[test]
    fn cursor_statements_are_classified() {
        assert_eq!(
            Cursor::classify(&statement("DECLARE c CURSOR FOR SELECT 1")),
            Some(Cursor::Declare)
        );
        assert_eq!(
            Cursor::classify(&statement("FETCH 1 FROM c")),
            Some(Cursor::Fetch)
        );
        assert_eq!(Cursor::classify(&statement("CLOSE c")), Some(Cursor::Close));
        assert_eq!(Cursor::classify(&statement("SELECT 1")), None);
    }
}
