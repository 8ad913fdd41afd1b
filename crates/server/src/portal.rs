//! Executing a bound portal (the extended protocol's `Execute`) with one optimiser pass.
//!
//! datafusion-postgres's own path optimises a query's logical plan, hands the result to a
//! `DataFrame` whose physical planning optimises it again, and clones the session state three
//! times: at SF 1 that was about half the server's time for a prepared point lookup. Queries
//! (`SELECT …`, `EXPLAIN SELECT …`) are run here instead: the connection's hooks see them first,
//! exactly as there, then the plan with its parameters bound is optimised once, as part of
//! physical planning; a lookup by primary key ([`PointLookup`]) is not planned at all. Every
//! other statement keeps datafusion-postgres's path.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::results::{QueryResponse, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::{ClientInfo, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{Parser, QueryHook};

use futures::{Stream, StreamExt};
use prov9_query::PointLookup;

use crate::read_only_guard::is_query;
use crate::reusable_plans::{ReusablePlan, ReusablePlans};
use crate::rewrite::DfStatement;

/// What running a portal needs of its connection.
pub(crate) struct ConnectionQueries<'a> {
    pub ctx: &'a SessionContext,
    pub parser: &'a Parser,
    pub hooks: &'a [Arc<dyn QueryHook>],
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
        hooks,
        plans,
    } = *connection;
    let params = bound_parameters(parser, portal, plan)?;
    for hook in hooks {
        if let Some(answer) = hook
            .handle_extended_query(statement, plan, &params, ctx, client)
            .await
        {
            return answer;
        }
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

/// How the client wants values written (its `DateStyle`, `bytea_output`, …).
pub(crate) fn format_options(client: &dyn ClientInfo) -> Arc<FormatOptions> {
    Arc::new(FormatOptions::from_client_metadata(client.metadata()))
}

fn has_values(params: &ParamValues) -> bool {
    match params {
        ParamValues::List(values) => !values.is_empty(),
        ParamValues::Map(values) => !values.is_empty(),
    }
}

/// Runs a checked, unoptimised query plan and encodes its rows in `format`. With `reuse`, the
/// plan kept for that statement runs instead, and a new plan is kept if it can run again
/// ([`ReusablePlans`]).
pub(crate) async fn run_plan(
    ctx: &SessionContext,
    plan: LogicalPlan,
    format: &Format,
    options: Arc<FormatOptions>,
    reuse: Option<(&ReusablePlans, &Statement)>,
) -> PgWireResult<Response> {
    if let Some(lookup) = PointLookup::recognise(&plan) {
        return point_lookup(lookup, format, options).await;
    }
    let ready = match reuse.and_then(|(plans, statement)| plans.get(statement)) {
        Some(kept) => kept,
        None => {
            let ready = ReusablePlan {
                schema: Arc::new(plan.schema().as_arrow().clone()),
                plan: ctx
                    .state()
                    .create_physical_plan(&plan)
                    .await
                    .map_err(api_error)?,
            };
            if let Some((plans, statement)) = reuse {
                plans.keep_if_reusable(statement, &plan, &ready);
            }
            ready
        }
    };
    run_ready(ctx, ready, format, options)
}

/// Runs a physical plan and encodes its rows in `format`.
pub(crate) fn run_ready(
    ctx: &SessionContext,
    ready: ReusablePlan,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    let batches = execute_stream(ready.plan, ctx.task_ctx()).map_err(api_error)?;
    query_response(&ready.schema, format, options, batches)
}

/// A lookup by primary key, answered without planning (see [`PointLookup`]).
async fn point_lookup(
    lookup: PointLookup,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Response> {
    let batches = lookup
        .rows()
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let batches = futures::stream::iter(batches.into_iter().map(Ok));
    query_response(&lookup.schema(), format, options, batches)
}

/// `batches` encoded in `format`, as the rows of a query.
fn query_response(
    schema: &Schema,
    format: &Format,
    options: Arc<FormatOptions>,
    batches: impl Stream<Item = datafusion::error::Result<RecordBatch>> + Send + 'static,
) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(schema, format, Some(options))?);
    let encoder_fields = Arc::clone(&fields);
    let rows = batches.flat_map(move |batch| {
        let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
            Ok(batch) => encode_recordbatch(Arc::clone(&encoder_fields), batch),
            Err(e) => Box::new(std::iter::once(Err(api_error(e)))),
        };
        futures::stream::iter(rows)
    });
    Ok(Response::Query(QueryResponse::new(fields, rows)))
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
