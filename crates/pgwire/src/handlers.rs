//! The query handlers of a connection: datafusion-postgres's, after the SQL rewrites
//! ([`crate::rewrite`]), with the connection's [`Statements`] as their only hook.
//!
//! They also start each message's cancel and timeout, bound the rows an Execute may ask for,
//! answer `ROLLBACK TO SAVEPOINT` in a failed transaction (pgwire keeps a failed transaction
//! failed whatever a statement answers, so this one message is answered before parsing), run a
//! simple query's kept plan by its text, and run extended-protocol queries through
//! [`crate::portal`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser as SqlParser;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_execution_response, send_ready_for_query,
};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response, Tag};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::{Entry, PortalStore};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::extendedquery::Execute;
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use datafusion_postgres::pgwire::messages::simplequery::Query as SimpleQuery;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::Sink;

use crate::connection::ConnectionState;
use crate::portal::{ConnectionQueries, DfStatement, execute_query};
use crate::rewrite::rewrite;
use crate::statement::Statements;
use crate::statement::query::run_kept_text;
use crate::statement::settings::statement_timeout;

/// datafusion-postgres's parser, after the rewrites.
pub struct TypedParser(Arc<datafusion_postgres::Parser>);

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
        match rewrite(sql, types) {
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

/// The query handlers of a connection: datafusion-postgres's, after the rewrites.
pub struct QueryHandlers {
    session: Arc<DfSessionService>,
    parser: Arc<TypedParser>,
    connection: Arc<ConnectionState>,
    /// The session's context and statement handler, for the queries [`crate::portal`] runs.
    context: Arc<SessionContext>,
    statements: Arc<Statements>,
}

impl QueryHandlers {
    pub fn new(context: Arc<SessionContext>, connection: Arc<ConnectionState>) -> Self {
        let statements = Arc::new(Statements::new(connection.clone()));
        let hooks: Vec<Arc<dyn QueryHook>> = vec![statements.clone()];
        let session = Arc::new(DfSessionService::new_with_hooks(context.clone(), hooks));
        let parser = Arc::new(TypedParser(session.query_parser()));
        QueryHandlers {
            session,
            parser,
            connection,
            context,
            statements,
        }
    }
}

/// pgwire reserves room for `max_rows` rows before it reads one; a larger (or negative) limit
/// is served as "all rows", so no client can make the server reserve terabytes.
const MAX_ROWS_PER_EXECUTE: i32 = 1_000_000;

/// Whether `sql` is the one message that makes a failed transaction usable again: exactly one
/// `ROLLBACK TO SAVEPOINT`, as in Postgres (psycopg's and SQLAlchemy's nested transactions rely
/// on it). pgwire keeps a failed transaction failed whatever a statement answers, so in both
/// protocols this message is answered before anything else sees it.
fn rolls_back_failed_transaction(client: &(impl ClientInfo + ?Sized), sql: &str) -> bool {
    client.transaction_status() == TransactionStatus::Error
        && matches!(client.state(), PgWireConnectionState::ReadyForQuery)
        && matches!(
            SqlParser::parse_sql(&PostgreSqlDialect {}, sql).as_deref(),
            Ok([Statement::Rollback {
                savepoint: Some(_),
                ..
            }])
        )
}

/// Answer a `ROLLBACK TO SAVEPOINT` of a failed transaction: the transaction goes on.
async fn roll_back_to_savepoint<C>(client: &mut C) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: std::fmt::Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    send_execution_response(client, Tag::new("ROLLBACK")).await?;
    client.set_transaction_status(TransactionStatus::Transaction);
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for QueryHandlers {
    /// Starts the message's cancel and timeout, and answers `ROLLBACK TO SAVEPOINT` in a failed
    /// transaction.
    async fn on_query<C>(&self, client: &mut C, query: SimpleQuery) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.connection
            .control
            .begin_message(statement_timeout(client));
        if rolls_back_failed_transaction(client, &query.query) {
            roll_back_to_savepoint(client).await?;
            return send_ready_for_query(client, TransactionStatus::Transaction).await;
        }
        self._on_query(client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(answer) = run_kept_text(&self.connection, &self.context, client, query) {
            return answer.map(|response| vec![response]);
        }
        self.connection.begin_simple_query();
        let responses = match rewrite(query, &[]) {
            Some(rewritten) => {
                SimpleQueryHandler::do_query(self.session.as_ref(), client, &rewritten).await
            }
            None => SimpleQueryHandler::do_query(self.session.as_ref(), client, query).await,
        }?;
        self.connection.end_simple_query(query, responses.len());
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandlers {
    type Statement = DfStatement;
    type QueryParser = TypedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// Bounds `max_rows`, starts the message's cancel and timeout, and answers
    /// `ROLLBACK TO SAVEPOINT` in a failed transaction.
    async fn on_execute<C>(&self, client: &mut C, mut message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !(0..=MAX_ROWS_PER_EXECUTE).contains(&message.max_rows) {
            message.max_rows = 0;
        }
        self.connection
            .control
            .begin_message(statement_timeout(client));
        if client.transaction_status() == TransactionStatus::Error {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(portal)) = client.portal_store().get_portal(name)
                && rolls_back_failed_transaction(client, &portal.statement.statement.0)
            {
                return roll_back_to_savepoint(client).await;
            }
        }
        self._on_execute(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = ConnectionQueries {
            ctx: &self.context,
            parser: &self.parser.0,
            statements: &self.statements,
            plans: &self.connection.plans,
        };
        let query = execute_query(&connection, client, portal);
        match query.await {
            Some(answer) => answer,
            None => {
                ExtendedQueryHandler::do_query(self.session.as_ref(), client, portal, max_rows)
                    .await
            }
        }
    }
}
