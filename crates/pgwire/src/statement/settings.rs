//! `SET`, `SHOW`, `RESET`-like statements of pools (`DISCARD`, `DEALLOCATE`): what a session
//! may change, and what it is told.
//!
//! A connection's settings are its own (its own DataFusion session), but not all are anyone's
//! to change: `SET datafusion.*` is refused (SQLSTATE 42501) except execution, optimizer,
//! explain and format settings for admins; never the memory budget (`datafusion.runtime.*`), the
//! catalog, or the SQL parser (statements are parsed again after they are checked, and must be
//! parsed the same way). `prov9.*` (query limits such as `max_recursion_depth`) and the
//! session settings clients send at connect are anyone's own. A `SET` of anything else is
//! acknowledged and ignored, as drivers and BI tools send many. `SHOW` answers fixed values
//! for what never changes in prov9, and the session's value of `datafusion.*` and `prov9.*`.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::config::ExtensionOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Ident, Reset, Set, Statement, Value};
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use prov9_query::Prov9Options;
use prov9_query::session::Role;

use crate::describe::{empty_plan, text_column_plan};
use crate::sqlstate;

/// datafusion-postgres's `SetShowHook` keeps `statement_timeout` here.
pub(crate) const METADATA_STATEMENT_TIMEOUT: &str = "statement_timeout_ms";

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

/// Settings an admin may change for its own session (see the module docs).
const ADMIN_SETTINGS: &[&str] = &[
    "datafusion.execution.",
    "datafusion.optimizer.",
    "datafusion.explain.",
    "datafusion.format.",
];

/// A settings statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Setting {
    /// `SHOW` of a setting with a fixed value: (column, value).
    Fixed(&'static str, &'static str),
    /// `SHOW datafusion.…` or `SHOW prov9.…`: the session's value.
    Session(String),
    /// A setting datafusion-postgres keeps per connection (its `SetShowHook` applies it), or
    /// a `SET` an admin may make.
    Apply,
    /// A `SET` of something that no client needs and that would otherwise change the context
    /// shared by every connection: acknowledged, nothing done.
    Ignore,
    /// `SET prov9.as_of = …` (checked) or `RESET prov9.as_of` (`None`): the time the session
    /// reads the warehouse at.
    AsOf(Option<String>),
    /// `RESET prov9.…` of another prov9 setting: back to its default.
    ResetProv9(String),
    /// A `SET` of a value that cannot be used, and why.
    Invalid(String),
    /// A statement of connection pools with nothing to do: answered with this tag. Prepared
    /// statements live in the protocol layer, and DataFusion's own (shared) PREPARE store is
    /// never written, since PREPARE is refused.
    Acknowledge(&'static str),
}

impl Setting {
    /// The settings statement `statement` is; `Err` with what is refused for a `SET` the user's
    /// role may not make.
    pub(crate) fn classify(statement: &Statement, role: Role) -> Option<Result<Setting, String>> {
        Some(Ok(match statement {
            Statement::ShowVariable { variable } => match fixed_setting(variable) {
                Some((column, value)) => Setting::Fixed(column, value),
                None => {
                    let name = variable
                        .iter()
                        .map(|i| i.value.as_str())
                        .collect::<Vec<_>>()
                        .join(".")
                        .to_ascii_lowercase();
                    if name.starts_with("datafusion.") || name.starts_with("prov9.") {
                        Setting::Session(name)
                    } else {
                        Setting::Apply
                    }
                }
            },
            Statement::ShowStatus { .. } | Statement::Set(Set::SetTimeZone { .. }) => {
                Setting::Apply
            }
            Statement::Discard { .. } => Setting::Acknowledge("DISCARD ALL"),
            Statement::Deallocate { .. } => Setting::Acknowledge("DEALLOCATE"),
            Statement::Reset(reset) => match &reset.reset {
                Reset::ConfigurationParameter(name) => {
                    let name = name.to_string().to_ascii_lowercase();
                    match name.as_str() {
                        "prov9.as_of" => Setting::AsOf(None),
                        n if n.starts_with("prov9.") => Setting::ResetProv9(name),
                        _ => return None,
                    }
                }
                Reset::ALL => return None,
            },
            Statement::Set(Set::SingleAssignment {
                variable, values, ..
            }) if variable.to_string().eq_ignore_ascii_case("prov9.as_of") => {
                let text = match values.as_slice() {
                    [Expr::Value(v)] => match &v.value {
                        Value::SingleQuotedString(t) | Value::DoubleQuotedString(t) => t.clone(),
                        other => other.to_string(),
                    },
                    other => other
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                };
                let text = text.trim().to_string();
                if text.is_empty() || text.eq_ignore_ascii_case("default") {
                    Setting::AsOf(None)
                } else {
                    match prov9_query::resolve_time(&text) {
                        Ok(time) => Setting::AsOf(Some(time)),
                        Err(reason) => Setting::Invalid(reason),
                    }
                }
            }
            Statement::Set(Set::SingleAssignment { variable, .. }) => {
                let name = variable.to_string().to_ascii_lowercase();
                if name.starts_with("datafusion.") {
                    if role == Role::Admin && ADMIN_SETTINGS.iter().any(|p| name.starts_with(p)) {
                        Setting::Apply
                    } else {
                        return Some(Err(format!("SET {name}")));
                    }
                } else if SESSION_SETTINGS.contains(&name.as_str()) || name.starts_with("prov9.") {
                    Setting::Apply
                } else {
                    Setting::Ignore
                }
            }
            Statement::Set(_) => Setting::Ignore,
            _ => return None,
        }))
    }

    /// Run the statement (both protocols); `None` leaves it to datafusion-postgres.
    pub(crate) async fn apply(
        self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Some(match self {
            Setting::Fixed(column, value) => show(ctx, column, value).await,
            Setting::Session(name) => show_session(ctx, &name).await,
            Setting::Apply => {
                return SetShowHook
                    .handle_simple_query(statement, ctx, client)
                    .await;
            }
            Setting::Ignore => Ok(Response::Execution(Tag::new("SET"))),
            Setting::AsOf(time) => {
                set_prov9(ctx, |o| o.as_of = time.clone());
                Ok(Response::Execution(Tag::new(if time.is_some() {
                    "SET"
                } else {
                    "RESET"
                })))
            }
            Setting::Invalid(reason) => Err(sqlstate::invalid_parameter_value(reason)),
            Setting::ResetProv9(name) => {
                let default = Prov9Options::default();
                match name.as_str() {
                    "prov9.max_recursion_depth" => {
                        set_prov9(ctx, |o| o.max_recursion_depth = default.max_recursion_depth)
                    }
                    _ => {
                        return Some(Err(sqlstate::unrecognized_parameter(&name)));
                    }
                }
                Ok(Response::Execution(Tag::new("RESET")))
            }
            Setting::Acknowledge(tag) => Ok(Response::Execution(Tag::new(tag))),
        })
    }

    /// The plan `Describe` sees; `None` leaves it to datafusion-postgres.
    pub(crate) async fn describe(
        self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Some(match self {
            Setting::Fixed(column, _) => text_column_plan(column),
            Setting::Session(name) => text_column_plan(&name),
            Setting::Apply | Setting::Ignore => {
                return SetShowHook
                    .handle_extended_parse_query(statement, ctx, client)
                    .await;
            }
            Setting::Invalid(reason) => Err(sqlstate::invalid_parameter_value(reason)),
            Setting::Acknowledge(_) | Setting::AsOf(_) | Setting::ResetProv9(_) => Ok(empty_plan()),
        })
    }
}

/// Change this session's prov9 settings.
fn set_prov9(ctx: &SessionContext, change: impl FnOnce(&mut Prov9Options)) {
    let state = ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    if options.extensions.get::<Prov9Options>().is_none() {
        options.extensions.insert(Prov9Options::default());
    }
    if let Some(prov9) = options.extensions.get_mut::<Prov9Options>() {
        change(prov9);
    }
}

/// The session's `statement_timeout`; `None` when there is none (or it is 0).
pub(crate) fn statement_timeout<C: ClientInfo + ?Sized>(client: &C) -> Option<Duration> {
    client
        .metadata()
        .get(METADATA_STATEMENT_TIMEOUT)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
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

/// The one-row answer of a `SHOW`.
async fn show(ctx: &SessionContext, column: &str, value: &str) -> PgWireResult<Response> {
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
async fn show_session(ctx: &SessionContext, name: &str) -> PgWireResult<Response> {
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
        return Err(sqlstate::unrecognized_parameter(name));
    };
    let value = entry.value.unwrap_or_default();
    show(ctx, name, &value).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(sql: &str, role: Role) -> Option<Result<Setting, String>> {
        let statement = crate::statement::parse(sql);
        Setting::classify(&statement, role)
    }

    #[test]
    fn who_may_set_what() {
        use Role::{Admin, Reader};
        let refused = |sql| matches!(classify(sql, Reader), Some(Err(_)));
        assert!(refused("SET datafusion.execution.batch_size = 10"));
        assert!(refused("SET datafusion.runtime.memory_limit = '1T'"));
        assert_eq!(
            classify("SET datafusion.execution.batch_size = 10", Admin),
            Some(Ok(Setting::Apply))
        );
        for never in [
            "SET datafusion.runtime.memory_limit = '1T'",
            "SET datafusion.catalog.default_catalog = 'x'",
            "SET datafusion.sql_parser.dialect = 'mysql'",
        ] {
            assert!(matches!(classify(never, Admin), Some(Err(_))), "{never}");
        }
        assert_eq!(
            classify("SET prov9.max_recursion_depth = 5", Reader),
            Some(Ok(Setting::Apply))
        );
        assert_eq!(
            classify("SET statement_timeout = 100", Reader),
            Some(Ok(Setting::Apply))
        );
        assert_eq!(
            classify("SET lock_timeout = 100", Reader),
            Some(Ok(Setting::Ignore))
        );
        assert_eq!(
            classify("SHOW transaction_read_only", Reader),
            Some(Ok(Setting::Fixed("transaction_read_only", "on")))
        );
        assert_eq!(
            classify("SHOW prov9.max_recursion_depth", Reader),
            Some(Ok(Setting::Session("prov9.max_recursion_depth".into())))
        );
        assert_eq!(
            classify("DISCARD ALL", Reader),
            Some(Ok(Setting::Acknowledge("DISCARD ALL")))
        );
        assert_eq!(classify("SELECT 1", Reader), None);
    }
}
