//! The Postgres wire server: accept loop, connection limit, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ConnectionManager, ErrorHandler, PgWireServerHandlers};
use datafusion_postgres::pgwire::tokio::process_socket;
use datafusion_postgres::{DfSessionService, QueryHook};
use prov9_query::Engine;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::sqlstate::SqlStateErrors;
use crate::{ReadOnlyGuard, ServerError};

/// Settings of the Postgres endpoint.
#[derive(Debug, Clone)]
pub struct PgServerOptions {
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// How long running connections may go on after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for PgServerOptions {
    fn default() -> Self {
        PgServerOptions {
            max_connections: 100,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A bound Postgres endpoint over an engine.
pub struct PgServer {
    listener: TcpListener,
    handlers: Arc<Handlers>,
    options: PgServerOptions,
}

struct Startup(Arc<ConnectionManager>);

#[async_trait]
impl NoopStartupHandler for Startup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.0.clone())
    }
}

struct Handlers {
    session: Arc<DfSessionService>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }
}

impl PgServer {
    /// Bind `addr` (port 0 picks a free port) and prepare the engine's catalog for clients.
    pub async fn bind(
        engine: &Engine,
        addr: &str,
        options: PgServerOptions,
    ) -> Result<Self, ServerError> {
        let ctx = engine.context().clone();
        setup_pg_catalog(&ctx, "datafusion", Arc::new(AuthManager::default()))
            .map_err(|e| ServerError::Catalog(e.to_string()))?;
        // The guard comes first: the first hook that answers wins.
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnlyGuard),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let connections = Arc::new(ConnectionManager::new());
        let handlers = Arc::new(Handlers {
            session: Arc::new(DfSessionService::new_with_hooks(ctx, hooks)),
            startup: Arc::new(Startup(connections.clone())),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        });
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        Ok(PgServer {
            listener,
            handlers,
            options,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serve until `shutdown` resolves, then let open connections finish within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let limit = Arc::new(Semaphore::new(self.options.max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off rather than spin.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, max = self.options.max_connections, "connection limit reached, closing connection");
                        drop(socket);
                        continue;
                    };
                    let handlers = self.handlers.clone();
                    connections.spawn(async move {
                        let _permit = permit;
                        tracing::debug!(%peer, "connection opened");
                        if let Err(e) = process_socket(socket, None, handlers).await {
                            tracing::info!(%peer, "connection ended with error: {e}");
                        }
                    });
                }
            }
        }
        drop(self.listener);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.options.shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!("closing connections still open after the grace period");
            connections.shutdown().await;
        }
        Ok(())
    }
}
