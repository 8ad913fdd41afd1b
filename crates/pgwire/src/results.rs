//! Running a checked query plan into the rows of a Postgres response: optimised once, as part
//! of physical planning; a lookup by primary key ([`PointLookup`]) not planned at all; a plan
//! that can run again kept for the statement ([`ReusablePlans`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{QueryResponse, Response};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use futures::{Stream, StreamExt};
use prov9_query::PointLookup;
use prov9_query::session::{ReusablePlan, ReusablePlans};

/// How the client wants values written (its `DateStyle`, `bytea_output`, …).
pub(crate) fn format_options(client: &dyn ClientInfo) -> Arc<FormatOptions> {
    Arc::new(FormatOptions::from_client_metadata(client.metadata()))
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
    // The key index answers the present; a session reading the past (`prov9.as_of`) plans.
    if !prov9_query::Prov9Options::travels(ctx.state_ref().read().config_options())
        && let Some(lookup) = PointLookup::recognise(&plan)
    {
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

fn api_error(e: datafusion::error::DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}
