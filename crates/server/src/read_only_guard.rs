//! The first query hook of every connection: refuse anything that is not a read.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ParamValues};
use datafusion::config::ExtensionOptions;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{DeclareType, FetchDirection, Ident, Set, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::api::stmt::StoredStatement;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use prov9_query::lineage::Prov9Options;
use prov9_query::{ReadOnlyViolation, check_read_only};

use crate::config::Role;
use crate::copy_out::copy_out;
use crate::session::ConnectionState;
use crate::startup::statement_timeout;
use crate::transactions::aborted_error;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;

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
/// budget), `datafusion.catalog.*`, or `datafusion.sql_parser.*` (statements are re-parsed after
/// the guard checked them, and must be parsed the same way).
const ADMIN_SETTINGS: &[&str] = &[
    "datafusion.execution.",
    "datafusion.optimizer.",
    "datafusion.explain.",
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

    /// Every statement: refuse to start during shutdown, or in a failed transaction (only its
    /// end may run), and start the statement's timeout.
    fn begin(&self, statement: &Statement, client: &dyn HookClient) -> PgWireResult<()> {
        if self.connection.shutting_down() {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "57P01".to_string(),
                "terminating connection due to administrator command (the server is shutting down)"
                    .to_string(),
            ))));
        }
        if client.transaction_status() == TransactionStatus::Error
            && !matches!(
                statement,
                Statement::Commit { .. } | Statement::Rollback { .. }
            )
        {
            return Err(aborted_error());
        }
        self.connection
            .control
            .begin_statement(statement_timeout(client));
        if may_change_settings(statement) {
            self.connection.plans.forget();
        }
        Ok(())
    }

    /// What the guard answers itself, the same in both protocols (queries are checked by the
    /// caller: from the statement in the simple protocol, from the bound plan in the extended).
    async fn answer(
        &self,
        verdict: Verdict,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match verdict {
            Verdict::CheckPlan => None,
            Verdict::Declare => Some(declare(statement, ctx, client, &self.connection).await),
            Verdict::CopyOut => Some(copy_out(statement, ctx).await),
            Verdict::Fetch => {
                CursorStatementHook
                    .handle_simple_query(&bounded_fetch(statement), ctx, client)
                    .await
            }
            Verdict::Show(setting) => Some(show(ctx, setting).await),
            Verdict::ShowDataFusion(name) => Some(show_datafusion(ctx, &name).await),
            Verdict::Pass => None,
            Verdict::IgnoreSet => Some(Ok(Response::Execution(Tag::new("SET")))),
            Verdict::Acknowledge(tag) => Some(Ok(Response::Execution(Tag::new(tag)))),
            Verdict::Deny(what) => Some(Err(deny(ReadOnlyViolation(what)))),
        }
    }
}

pub(crate) fn deny(violation: ReadOnlyViolation) -> PgWireError {
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
    /// `DECLARE … CURSOR FOR query`: checked and opened here, so the cursor's portal carries
    /// its plan (clients describe it) and runs exactly the plan that was checked.
    Declare,
    /// `COPY … TO STDOUT`: a read, streamed to the client.
    CopyOut,
    /// `FETCH` from a cursor, with its count bounded.
    Fetch,
    /// A harmless session statement: let the next hooks handle it.
    Pass,
    /// A `SET` of something datafusion-postgres would apply to the context shared by every
    /// connection, and that no client needs: acknowledge it and do nothing.
    IgnoreSet,
    /// A session statement with nothing to do: answer with this tag.
    Acknowledge(&'static str),
    /// `SHOW` of a setting with a fixed value: (column, value).
    Show((&'static str, &'static str)),
    /// `SHOW datafusion.…`: the session's value.
    ShowDataFusion(String),
    Deny(String),
}

/// Settings whose value never changes in prov9, as `SHOW` answers them (column name, value).
fn fixed_setting(variable: &[Ident]) -> Option<(&'static str, &'static str)> {
    let name = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    Some(match name.as_str() {
        "transaction isolation level" | "transaction_isolation" => {
            ("transaction_isolation", "read committed")
        }
        "default_transaction_isolation" => ("default_transaction_isolation", "read committed"),
        "transaction_read_only" | "default_transaction_read_only" => {
            ("transaction_read_only", "on")
        }
        "timezone" | "time zone" => ("TimeZone", "UTC"),
        "server_version" => ("server_version", crate::pg_compat::SERVER_VERSION),
        "standard_conforming_strings" => ("standard_conforming_strings", "on"),
        "server_encoding" => ("server_encoding", "UTF8"),
        _ => return None,
    })
}

/// A query or an `EXPLAIN` of one: what readers may run once its plan is checked.
pub(crate) fn is_query(statement: &Statement) -> bool {
    match statement {
        Statement::Query(_) => true,
        Statement::Explain { statement, .. } => matches!(**statement, Statement::Query(_)),
        _ => false,
    }
}

/// Whether `statement` may change the session's settings, which plans depend on.
fn may_change_settings(statement: &Statement) -> bool {
    !(is_query(statement)
        || crate::transactions::is_transaction_statement(statement)
        || matches!(
            statement,
            Statement::Declare { .. }
                | Statement::Fetch { .. }
                | Statement::Close { .. }
                | Statement::ShowVariable { .. }
        ))
}

fn verdict(statement: &Statement, role: Role) -> Verdict {
    match statement {
        s if is_query(s) => Verdict::CheckPlan,
        Statement::Declare { .. } => Verdict::Declare,
        Statement::Fetch { .. } => Verdict::Fetch,
        s if crate::copy_out::is_copy_to_stdout(s) => Verdict::CopyOut,
        Statement::ShowVariable { variable } => match fixed_setting(variable) {
            Some(answer) => Verdict::Show(answer),
            None => {
                let name = variable
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
                    .to_ascii_lowercase();
                if name.starts_with("datafusion.") || name.starts_with("prov9.") {
                    Verdict::ShowDataFusion(name)
                } else {
                    Verdict::Pass
                }
            }
        },
        Statement::ShowStatus { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
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
            } else if SESSION_SETTINGS.contains(&name.as_str()) || name.starts_with("prov9.") {
                // prov9.* are session-scoped query limits (max_recursion_depth): anyone's own.
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
    check_read_only(&plan).map_err(deny)?;
    Ok(plan)
}

/// Plan the query (or each cursor's query) and check it reads only. A cursor's columns are
/// remembered, so that a later `FETCH` can describe its rows.
async fn check_plan(
    statement: &Statement,
    ctx: &SessionContext,
    connection: &ConnectionState,
) -> PgWireResult<()> {
    let queries: Vec<(Option<String>, Statement)> = match statement {
        Statement::Declare { stmts } => stmts
            .iter()
            .filter_map(|d| {
                let name = d.names.first().map(|n| n.value.clone());
                d.for_query.clone().map(|q| (name, Statement::Query(q)))
            })
            .collect(),
        other => vec![(None, other.clone())],
    };
    for (cursor, query) in queries {
        let plan = checked_plan(query, ctx).await?;
        if let Some(name) = cursor {
            connection.remember_cursor(name, plan.schema().clone());
        }
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
        return Err(deny(ReadOnlyViolation("DECLARE".into())));
    };
    let syntax = |message: &str| {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            "42601".to_string(),
            message.to_string(),
        )))
    };
    for d in stmts {
        if d.declare_type != Some(DeclareType::Cursor) {
            return Err(syntax("only DECLARE … CURSOR FOR a query is supported"));
        }
        let name = d
            .names
            .first()
            .map(|n| n.value.clone())
            .ok_or_else(|| syntax("DECLARE needs a cursor name"))?;
        let query = d
            .for_query
            .clone()
            .ok_or_else(|| syntax("DECLARE CURSOR needs a FOR query"))?;
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

/// The one-row answer of a `SHOW`.
async fn show(ctx: &SessionContext, (column, value): (&str, &str)) -> PgWireResult<Response> {
    let frame = ctx
        .read_batch(
            RecordBatch::try_from_iter([(
                column,
                Arc::new(StringArray::from(vec![value])) as ArrayRef,
            )])
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?,
        )
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(Response::Query(
        encode_dataframe(frame, &Format::UnifiedText, None).await?,
    ))
}

/// The session's value of a DataFusion or prov9 setting.
async fn show_datafusion(ctx: &SessionContext, name: &str) -> PgWireResult<Response> {
    let state = ctx.state();
    let options = state.config_options();
    // An extension lists its entries without its prefix.
    let prov9 = options
        .extensions
        .get::<Prov9Options>()
        .map(|o| o.entries())
        .unwrap_or_default()
        .into_iter()
        .map(|mut e| {
            e.key = format!("prov9.{}", e.key);
            e
        });
    let Some(entry) = options
        .entries()
        .into_iter()
        .chain(prov9)
        .find(|e| e.key == name)
    else {
        return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            "42704".to_string(),
            format!("unrecognized configuration parameter \"{name}\""),
        ))));
    };
    let value = entry.value.unwrap_or_default();
    show(ctx, (name, &value)).await
}

/// The plan `Describe` sees for a `SHOW` answered here: one text column.
fn show_plan(column: &str) -> PgWireResult<LogicalPlan> {
    let schema = DFSchema::try_from(Schema::new(vec![Field::new(column, DataType::Utf8, true)]))
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(schema),
    }))
}

/// pgwire reserves room for a FETCH's count before it reads a row; a count beyond this is
/// fetched as `FETCH ALL`, so no client can make the server reserve terabytes.
pub(crate) const MAX_FETCH_COUNT: u64 = 1_000_000;

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

/// The plan of a statement DataFusion cannot plan, carried to execution where a hook answers it.
pub(crate) fn empty_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
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

#[async_trait]
impl QueryHook for ReadOnlyGuard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Err(e) = self.begin(statement, client) {
            return Some(Err(e));
        }
        match verdict(statement, self.connection.role()) {
            // The checked plan is the one that runs (`RunCheckedQuery`, after the other hooks).
            Verdict::CheckPlan => match checked_plan(statement.clone(), ctx).await {
                Ok(plan) => {
                    self.connection.hand_over_checked(statement, plan);
                    None
                }
                Err(e) => Some(Err(e)),
            },
            other => self.answer(other, statement, ctx, client).await,
        }
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match verdict(statement, self.connection.role()) {
            // The checked plan is the statement's plan: datafusion-postgres need not plan it again.
            Verdict::CheckPlan => Some(checked_plan(statement.clone(), ctx).await),
            Verdict::Declare => check_plan(statement, ctx, &self.connection)
                .await
                .err()
                .map(Err),
            Verdict::Show((column, _)) => Some(show_plan(column)),
            // Planned and run at execution; COPY has no row description.
            Verdict::CopyOut => Some(Ok(empty_plan())),
            Verdict::ShowDataFusion(name) => Some(show_plan(&name)),
            Verdict::Fetch => fetch_plan(statement, &self.connection).map(Ok),
            Verdict::Pass => None,
            Verdict::IgnoreSet => None,
            // DataFusion cannot plan these; an empty plan carries them to execution, where
            // `handle_extended_query` answers them.
            Verdict::Acknowledge(_) => Some(Ok(empty_plan())),
            Verdict::Deny(what) => Some(Err(deny(ReadOnlyViolation(what)))),
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Err(e) = self.begin(statement, client) {
            return Some(Err(e));
        }
        match verdict(statement, self.connection.role()) {
            Verdict::CheckPlan => check_read_only(plan).err().map(|v| Err(deny(v))),
            other => self.answer(other, statement, ctx, client).await,
        }
    }
}
