//! The Postgres wire server: accept loop, connection limit, graceful shutdown (mini-redis's
//! `server.rs` shape: the caller binds the listener and holds the shutdown token).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{
    ErrorHandler, PgWireServerHandlers, RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket};
use prov9_query::Engine;
use prov9_query::session::{QueryControl, SessionFactory};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::PgError;
use crate::cancel::{CancelRegistry, CancelRequests};
use crate::connection::ConnectionState;
use crate::deferred_flush::DeferFlushes;
use crate::handlers::QueryHandlers;
use crate::options::PgServerOptions;
use crate::sqlstate::SqlStateErrors;
use crate::startup::{ClientAuth, Startup, StartupSettings, TooManyConnections};

/// The Postgres endpoint over an engine, on a bound listener.
pub struct PgServer {
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    options: PgServerOptions,
}

/// What all connections share.
struct Shared {
    sessions: SessionFactory,
    /// Result streams open right now, over all connections.
    running: TaskTracker,
    /// Cancelled when shutdown starts: no new statements.
    shutdown: CancellationToken,
    startup: Arc<StartupSettings>,
    cancel: Arc<CancelRequests>,
}

/// The handlers of one connection.
struct Connection {
    queries: Arc<QueryHandlers>,
    startup: Arc<Startup>,
    cancel: Arc<CancelRequests>,
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(DeferFlushes(self.queries.clone()))
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

/// The handlers of a connection past the limit: an error at startup; cancel requests still work.
struct Rejected {
    startup: Arc<TooManyConnections>,
    cancel: Arc<CancelRequests>,
}

impl PgWireServerHandlers for Rejected {
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

impl Shared {
    fn connection(&self) -> Result<Connection, PgError> {
        let state = Arc::new(ConnectionState::new(
            QueryControl::new(self.running.clone()),
            self.shutdown.clone(),
        ));
        let ctx = Arc::new(
            self.sessions
                .connection(state.control.clone())
                .map_err(|e| PgError::Catalog(e.to_string()))?,
        );
        Ok(Connection {
            queries: Arc::new(QueryHandlers::new(ctx, state.clone())),
            startup: Arc::new(Startup::new(self.startup.clone(), state)),
            cancel: self.cancel.clone(),
        })
    }
}

impl PgServer {
    /// Serve `engine` on `listener`, preparing the engine's catalog for clients. Whether the
    /// listener may be reached from the network without users is the caller's check.
    pub fn new(
        listener: TcpListener,
        engine: &Engine,
        options: PgServerOptions,
    ) -> Result<Self, PgError> {
        let tls = options.tls.as_ref().map(crate::tls::acceptor).transpose()?;

        let ctx = engine.context().as_ref().clone();
        setup_pg_catalog(&ctx, "datafusion", Arc::new(AuthManager::default()))
            .map_err(|e| PgError::Catalog(e.to_string()))?;
        crate::pg_compat::register(&ctx);
        let authentication = if options.users.is_empty() {
            ClientAuth::Trust
        } else {
            ClientAuth::Scram(
                options
                    .users
                    .iter()
                    .map(|u| (u.name.clone(), u.clone()))
                    .collect::<HashMap<_, _>>(),
            )
        };
        let mut mock_secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut mock_secret)
            .map_err(|_| PgError::NoRandomness)?;
        let registry = Arc::new(CancelRegistry::default());
        let shared = Arc::new(Shared {
            sessions: SessionFactory::new(ctx, options.memory_limit),
            running: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            startup: Arc::new(StartupSettings {
                authentication,
                tls_required: options.tls.as_ref().is_some_and(|t| t.require),
                statement_timeout: options.statement_timeout,
                cancel: registry.clone(),
                pids: RandomPidSecretKeyGenerator::default(),
                mock_secret,
            }),
            cancel: Arc::new(CancelRequests(registry)),
        });
        Ok(PgServer {
            listener,
            shared,
            tls,
            options,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, PgError> {
        Ok(self.listener.local_addr()?)
    }

    /// Whether clients must log in (users are configured).
    pub fn authenticates(&self) -> bool {
        !self.options.users.is_empty()
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serve until `shutdown` is cancelled, then let running statements finish within the grace
    /// period; idle connections are closed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), PgError> {
        let limit = Arc::new(Semaphore::new(self.options.max_connections));
        // Rejecting takes a startup exchange too; bound those as well.
        let rejections = Arc::new(Semaphore::new(self.options.max_connections.max(8)));
        let connections = TaskTracker::new();
        // Cancelled last: closes every connection still open.
        let close = CancellationToken::new();
        loop {
            let (socket, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let tls = self.tls.clone();
            let close = close.clone();
            if let Ok(permit) = limit.clone().try_acquire_owned() {
                let handlers = match self.shared.connection() {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!(%peer, "cannot set up a session: {e}");
                        continue;
                    }
                };
                connections.spawn(async move {
                    let _permit = permit;
                    serve_connection(socket, peer, tls, handlers, close).await;
                });
            } else {
                tracing::warn!(%peer, max = self.options.max_connections, "connection limit reached");
                let Ok(permit) = rejections.clone().try_acquire_owned() else {
                    continue; // dropping the socket closes it
                };
                let handlers = Rejected {
                    startup: Arc::new(TooManyConnections(self.options.max_connections)),
                    cancel: self.shared.cancel.clone(),
                };
                connections.spawn(async move {
                    let _permit = permit;
                    serve_connection(socket, peer, tls, handlers, close).await;
                });
            }
        }
        drop(self.listener);
        // No statement starts from now on; running ones may finish within the grace period.
        self.shared.shutdown.cancel();
        let running = &self.shared.running;
        running.close();
        if tokio::time::timeout(self.options.shutdown_grace, running.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping queries still running after the grace period ({:?})",
                self.options.shutdown_grace
            );
        } else {
            // A result stream ends before its last rows and CommandComplete are written to the
            // socket: give the connections that moment before closing them.
            tokio::time::sleep(FLUSH_TIME).await;
        }
        close.cancel();
        connections.close();
        connections.wait().await;
        Ok(())
    }
}

/// How long a connection has to write out the end of a result after its stream ended.
const FLUSH_TIME: Duration = Duration::from_millis(100);

async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    handlers: impl PgWireServerHandlers,
    close: CancellationToken,
) {
    tracing::debug!(%peer, "connection opened");
    tokio::select! {
        result = process_socket(socket, tls, handlers) => {
            if let Err(e) = result {
                tracing::info!(%peer, "connection ended with error: {e}");
            }
        }
        () = close.cancelled() => tracing::debug!(%peer, "connection closed at shutdown"),
    }
}
