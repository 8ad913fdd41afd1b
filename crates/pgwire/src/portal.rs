//! Executing a bound portal (the extended protocol's `Execute`) with one optimiser pass.
//!
//! datafusion-postgres's own path optimises a query's logical plan, hands the result to a
//! `DataFrame` whose physical planning optimises it again, and clones the session state three
//! times: at SF 1 that was about half the server's time for a prepared point lookup. Queries
//! (`SELECT …`, `EXPLAIN SELECT …`) are run here instead: the connection's statement handler
//! checks them first, then the plan with its parameters bound runs ([`crate::results`]). Every
//! other statement keeps datafusion-postgres's path.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::{Parser, QueryHook};
use prov9_query::session::ReusablePlans;

use crate::results::{format_options, run_plan};
use crate::statement::Statements;
use crate::statement::query::is_query;

/// A statement as datafusion-postgres parses it: its text and, for SQL, its AST and logical plan.
pub(crate) type DfStatement = <Parser as QueryParser>::Statement;

/// What running a portal needs of its connection.
pub(crate) struct ConnectionQueries<'a> {
    pub ctx: &'a SessionContext,
    pub parser: &'a Parser,
    pub statements: &'a Statements,
    pub plans: &'a ReusablePlans,
}

/// Runs `portal` if it holds a query; `None` leaves any other statement to datafusion-postgres.
pub(crate) async fn execute_query(
    connection: &ConnectionQueries<'_>,
    client: &mut dyn HookClient,
    portal: &Portal<DfStatement>,
) -> Option<PgWireResult<Response>> {
    let (_, Some((statement, plan))) = &portal.statement.statement else {
        return None;
    };
    if !is_query(statement) {
        return None;
    }
    Some(run(connection, client, portal, statement, plan).await)
}

async fn run(
    connection: &ConnectionQueries<'_>,
    client: &mut dyn HookClient,
    portal: &Portal<DfStatement>,
    statement: &Statement,
    plan: &LogicalPlan,
) -> PgWireResult<Response> {
    let ConnectionQueries {
        ctx,
        parser,
        statements,
        plans,
    } = *connection;
    let params = bound_parameters(parser, portal, plan)?;
    if let Some(refusal) = statements
        .handle_extended_query(statement, plan, &params, ctx, client)
        .await
    {
        return refusal;
    }
    let plan = if has_values(&params) {
        plan.clone()
            .replace_params_with_values(&params)
            .map_err(api_error)?
    } else {
        // Binding nothing would still rebuild every node of the plan.
        plan.clone()
    };
    let options = format_options(client);
    // A statement with parameters is planned for their values: its plan is not kept.
    let reuse = (!has_values(&params)).then_some((plans, statement));
    run_plan(ctx, plan, &portal.result_column_format, options, reuse).await
}

fn has_values(params: &ParamValues) -> bool {
    match params {
        ParamValues::List(values) => !values.is_empty(),
        ParamValues::Map(values) => !values.is_empty(),
    }
}

/// The portal's parameter values, typed as datafusion-postgres types them: the client's declared
/// type first, then the type it advertised for the statement, then DataFusion's inference.
fn bound_parameters(
    parser: &Parser,
    portal: &Portal<DfStatement>,
    plan: &LogicalPlan,
) -> PgWireResult<ParamValues> {
    let inferred = inferred_parameter_types(plan).map_err(api_error)?;
    let advertised = parser.get_parameter_types(&portal.statement.statement)?;
    let inferred: Vec<Option<&DataType>> = inferred.iter().map(Option::as_ref).collect();
    let advertised: Vec<Option<&Type>> = advertised.iter().map(Some).collect();
    df::deserialize_parameters_with_server_types(portal, &inferred, &advertised)
}

/// Each parameter's type in `$1, $2, …` order: DataFusion's inference, or else the type of a cast
/// the placeholder sits in (`$1::BIGINT`). The same rule as datafusion-postgres's planner, which
/// it does not export.
fn inferred_parameter_types(
    plan: &LogicalPlan,
) -> datafusion::error::Result<Vec<Option<DataType>>> {
    let mut types: HashMap<String, Option<DataType>> = plan.get_parameter_types()?;
    if types.values().any(Option::is_none) {
        let mut casts = HashMap::new();
        plan.apply(|node| {
            for expr in node.expressions() {
                expr.apply(|e| {
                    if let Expr::Cast(cast) = e
                        && let Expr::Placeholder(placeholder) = cast.expr.as_ref()
                    {
                        casts.insert(placeholder.id.clone(), cast.field.data_type().clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        for (id, slot) in types.iter_mut().filter(|(_, t)| t.is_none()) {
            *slot = casts.remove(id);
        }
    }
    let mut ordered: Vec<(String, Option<DataType>)> = types.into_iter().collect();
    ordered.sort_by_key(|(id, _)| {
        id.trim_start_matches('$')
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    Ok(ordered.into_iter().map(|(_, t)| t).collect())
}

fn api_error(e: datafusion::error::DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parameters_are_typed_by_inference_or_their_cast_in_number_order() {
        let ctx = SessionContext::new();
        let plan = ctx
            .state()
            .create_logical_plan("SELECT $2::BIGINT AS a WHERE $1 = 'x' AND $10::DOUBLE > 0")
            .await
            .unwrap();
        assert_eq!(
            inferred_parameter_types(&plan).unwrap(),
            vec![
                Some(DataType::Utf8),
                Some(DataType::Int64),
                Some(DataType::Float64)
            ]
        );
        assert!(!has_values(&ParamValues::List(vec![])));
    }
}
