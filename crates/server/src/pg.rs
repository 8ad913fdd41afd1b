//! The Postgres wire server: accept loop, connection limit, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use datafusion_postgres::QueryHook;
use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{
    ErrorHandler, PgWireServerHandlers, RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket};
use prov9_query::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cancel::{CancelRegistry, CancelRequests};
use crate::config::{TlsConfig, User};
use crate::control::QueryControl;
use crate::deferred_flush::DeferFlushes;
use crate::rewrite::RewritingQueries;
use crate::run_checked::RunCheckedQuery;
use crate::session::{ConnectionState, SessionFactory};
use crate::sqlstate::SqlStateErrors;
use crate::startup::{ClientAuth, Startup, StartupSettings, TooManyConnections};
use crate::transactions::TransactionHook;
use crate::{ReadOnlyGuard, ServerError};

/// Settings of the Postgres endpoint.
#[derive(Debug, Clone)]
pub struct PgServerOptions {
    /// Connections served at once; more get SQLSTATE 53300.
    pub max_connections: usize,
    /// How long running statements may go on after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// Users who may log in with SCRAM-SHA-256. Without any, connections are trusted, which is
    /// only allowed on a loopback address.
    pub users: Vec<User>,
    pub tls: Option<TlsConfig>,
    /// Default `statement_timeout` of every session; `None` for none.
    pub statement_timeout: Option<Duration>,
    /// Memory one connection's query may use before it fails.
    pub memory_limit: usize,
}

/// 2 GiB per connection: generous for lineage queries. The server-wide worst case is
/// `max_connections` times this; size the two together.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;

impl Default for PgServerOptions {
    fn default() -> Self {
        PgServerOptions {
            max_connections: 100,
            shutdown_grace: Duration::from_secs(10),
            users: Vec::new(),
            tls: None,
            statement_timeout: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// A bound Postgres endpoint over an engine.
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
    running: Arc<AtomicUsize>,
    /// Set when shutdown starts: no new statements.
    shutdown: Arc<AtomicBool>,
    startup: Arc<StartupSettings>,
    cancel: Arc<CancelRequests>,
}

/// The handlers of one connection.
struct Connection {
    queries: Arc<RewritingQueries>,
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
    fn connection(&self) -> Result<Connection, ServerError> {
        let state = Arc::new(ConnectionState::new(
            QueryControl::new(self.running.clone()),
            self.shutdown.clone(),
        ));
        let ctx = Arc::new(self.sessions.connection(&state)?);
        // The guard comes first: the first hook that answers wins. The last runs what it checked.
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnlyGuard::new(state.clone())),
            Arc::new(TransactionHook),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(RunCheckedQuery::new(state.clone())),
        ];
        Ok(Connection {
            queries: Arc::new(RewritingQueries::new(ctx, hooks, state.clone())),
            startup: Arc::new(Startup::new(self.startup.clone(), state)),
            cancel: self.cancel.clone(),
        })
    }
}

impl PgServer {
    /// Bind `addr` (port 0 picks a free port) and prepare the engine's catalog for clients.
    pub async fn bind(
        engine: &Engine,
        addr: &str,
        options: PgServerOptions,
    ) -> Result<Self, ServerError> {
        let listener = crate::listen::bind(addr, !options.users.is_empty(), |addr| {
            ServerError::ExposedWithoutUsers { addr }
        })
        .await?;
        let tls = options.tls.as_ref().map(crate::tls::acceptor).transpose()?;

        let ctx = engine.context().as_ref().clone();
        setup_pg_catalog(&ctx, "datafusion", Arc::new(AuthManager::default()))
            .map_err(|e| ServerError::Catalog(e.to_string()))?;
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
            .map_err(|_| ServerError::Catalog("no system randomness".into()))?;
        let registry = Arc::new(CancelRegistry::default());
        let shared = Arc::new(Shared {
            sessions: SessionFactory::new(ctx, options.memory_limit),
            running: Arc::new(AtomicUsize::new(0)),
            shutdown: Arc::new(AtomicBool::new(false)),
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

    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Whether clients must log in (users are configured).
    pub fn authenticates(&self) -> bool {
        !self.options.users.is_empty()
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serve until `shutdown` resolves, then let open connections finish within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let limit = Arc::new(Semaphore::new(self.options.max_connections));
        // Rejecting takes a startup exchange too; bound those as well.
        let rejections = Arc::new(Semaphore::new(self.options.max_connections.max(8)));
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
                    match limit.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let handlers = match self.shared.connection() {
                                Ok(h) => h,
                                Err(e) => {
                                    tracing::error!(%peer, "cannot set up a session: {e}");
                                    continue;
                                }
                            };
                            let tls = self.tls.clone();
                            connections.spawn(async move {
                                let _permit = permit;
                                serve_connection(socket, peer, tls, handlers).await;
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, max = self.options.max_connections, "connection limit reached");
                            let Ok(permit) = rejections.clone().try_acquire_owned() else {
                                continue; // dropping the socket closes it
                            };
                            let handlers = Rejected {
                                startup: Arc::new(TooManyConnections(self.options.max_connections)),
                                cancel: self.shared.cancel.clone(),
                            };
                            let tls = self.tls.clone();
                            tokio::spawn(async move {
                                let _permit = permit;
                                serve_connection(socket, peer, tls, handlers).await;
                            });
                        }
                    }
                }
            }
        }
        drop(self.listener);
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Idle connections are closed; running queries may finish within the grace period.
        let running = self.shared.running.clone();
        let queries_done = async {
            let mut idle_checks = 0;
            while idle_checks < 2 {
                // Twice in a row, so the last rows of a finished query reach the client.
                idle_checks = if running.load(Ordering::SeqCst) == 0 {
                    idle_checks + 1
                } else {
                    0
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        if tokio::time::timeout(self.options.shutdown_grace, queries_done)
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping queries still running after the grace period ({:?})",
                self.options.shutdown_grace
            );
        }
        connections.shutdown().await;
        Ok(())
    }
}

async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    handlers: impl PgWireServerHandlers,
) {
    tracing::debug!(%peer, "connection opened");
    if let Err(e) = process_socket(socket, tls, handlers).await {
        tracing::info!(%peer, "connection ended with error: {e}");
    }
}
