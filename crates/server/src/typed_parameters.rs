//! Parameter types declared by the client, honoured.
//!
//! In `Parse`, a client may say what type each `$n` has (psycopg does for int, float, bool and
//! dates). Postgres then types the placeholder so; datafusion-postgres ignores the declaration,
//! so `SELECT $1` with an int came back as text. Here the declared types become casts on the
//! placeholders (`$1` → `$1::BIGINT`) before the statement is planned; DataFusion and
//! datafusion-postgres take a placeholder's type from such a cast.

use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, ExactNumberInfo, TimezoneInfo, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser as SqlParser;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::ExtendedQueryHandler;
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, Parser};
use futures::Sink;

type DfStatement = <Parser as QueryParser>::Statement;

/// The SQL type a declared parameter type becomes; `None` leaves the placeholder as it is.
fn sql_type(declared: &Type) -> Option<SqlType> {
    Some(match *declared {
        Type::BOOL => SqlType::Boolean,
        Type::INT2 => SqlType::SmallInt(None),
        Type::INT4 => SqlType::Int(None),
        Type::INT8 => SqlType::BigInt(None),
        Type::FLOAT4 => SqlType::Real,
        Type::FLOAT8 => SqlType::DoublePrecision,
        Type::NUMERIC => SqlType::Numeric(ExactNumberInfo::None),
        Type::DATE => SqlType::Date,
        Type::TIMESTAMP => SqlType::Timestamp(None, TimezoneInfo::None),
        Type::TIMESTAMPTZ => SqlType::Timestamp(None, TimezoneInfo::WithTimeZone),
        _ => return None,
    })
}

/// `sql` with its placeholders cast to the declared types, or `None` when nothing changes.
pub fn with_declared_types(sql: &str, types: &[Option<Type>]) -> Option<String> {
    let casts: Vec<Option<SqlType>> = types
        .iter()
        .map(|t| t.as_ref().and_then(sql_type))
        .collect();
    if casts.iter().all(Option::is_none) {
        return None;
    }
    let mut statements = SqlParser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    if statements.len() != 1 {
        return None;
    }
    let mut changed = false;
    let _ = visit_expressions_mut(&mut statements, |expr| {
        if let Expr::Value(v) = expr
            && let Value::Placeholder(name) = &v.value
            && let Some(Ok(n)) = name.strip_prefix('$').map(str::parse::<usize>)
            && let Some(Some(data_type)) = n.checked_sub(1).and_then(|i| casts.get(i))
        {
            *expr = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(expr.clone()),
                data_type: data_type.clone(),
                array: false,
                format: None,
            };
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed.then(|| statements[0].to_string())
}

/// datafusion-postgres's parser, after the casts are added.
pub struct TypedParser(Arc<Parser>);

#[async_trait]
impl QueryParser for TypedParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        match with_declared_types(sql, types) {
            Some(typed) => self.0.parse_sql(client, &typed, types).await,
            None => self.0.parse_sql(client, sql, types).await,
        }
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.0.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.0.get_result_schema(stmt, column_format)
    }
}

/// The extended protocol of a connection: datafusion-postgres's, with [`TypedParser`].
pub struct TypedExtendedQueries {
    session: Arc<DfSessionService>,
    parser: Arc<TypedParser>,
}

impl TypedExtendedQueries {
    pub fn new(session: Arc<DfSessionService>) -> Self {
        let parser = Arc::new(TypedParser(session.query_parser()));
        TypedExtendedQueries { session, parser }
    }
}

#[async_trait]
impl ExtendedQueryHandler for TypedExtendedQueries {
    type Statement = DfStatement;
    type QueryParser = TypedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.session.do_query(client, portal, max_rows).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_become_casts() {
        let typed = with_declared_types(
            "SELECT $1, $2 FROM runs WHERE run_id = $3",
            &[Some(Type::INT8), Some(Type::FLOAT8), Some(Type::TEXT)],
        )
        .unwrap();
        assert_eq!(
            typed,
            "SELECT $1::BIGINT, $2::DOUBLE PRECISION FROM runs WHERE run_id = $3"
        );
        assert_eq!(with_declared_types("SELECT $1", &[None]), None);
        assert_eq!(with_declared_types("SELECT $1", &[Some(Type::TEXT)]), None);
    }
}
