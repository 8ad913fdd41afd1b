//! Connection startup: TLS requirement, authentication (trust on loopback, or SCRAM-SHA-256
//! against the configured users), the session's defaults, and the cancel key.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use ring::digest;
use tokio::sync::Mutex;

use crate::cancel::CancelRegistry;
use crate::config::{Role, User};
use crate::scram::{ScramExchange, ScramVerifier};
use crate::session::ConnectionState;

const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// datafusion-postgres's `SetShowHook` keeps `statement_timeout` here.
pub(crate) const METADATA_STATEMENT_TIMEOUT: &str = "statement_timeout_ms";

/// The session's `statement_timeout`; `None` when there is none (or it is 0).
pub(crate) fn statement_timeout<C: ClientInfo + ?Sized>(client: &C) -> Option<Duration> {
    client
        .metadata()
        .get(METADATA_STATEMENT_TIMEOUT)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

/// How clients prove who they are.
#[derive(Debug)]
pub enum ClientAuth {
    /// Anyone who can connect is a reader: only allowed on loopback.
    Trust,
    Scram(HashMap<String, User>),
}

/// What every connection's startup shares.
pub struct StartupSettings {
    pub authentication: ClientAuth,
    pub tls_required: bool,
    pub statement_timeout: Option<Duration>,
    pub cancel: Arc<CancelRegistry>,
    pub pids: RandomPidSecretKeyGenerator,
    /// Salt for the answers to unknown users, so they look like known ones.
    pub mock_secret: [u8; 32],
}

enum AuthState {
    Initial,
    ScramSent {
        exchange: Box<ScramExchange>,
        user: String,
        role: Option<Role>,
    },
}

/// The startup handler of one connection.
pub struct Startup {
    settings: Arc<StartupSettings>,
    connection: Arc<ConnectionState>,
    state: Mutex<AuthState>,
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}

impl Startup {
    pub fn new(settings: Arc<StartupSettings>, connection: Arc<ConnectionState>) -> Self {
        Startup {
            settings,
            connection,
            state: Mutex::new(AuthState::Initial),
        }
    }

    /// A verifier for a user who does not exist, stable per name, which no password matches.
    fn mock_verifier(&self, user: &str) -> ScramVerifier {
        let mut seed = self.settings.mock_secret.to_vec();
        seed.extend_from_slice(user.as_bytes());
        let salt = digest::digest(&digest::SHA256, &seed).as_ref()[..16].to_vec();
        ScramVerifier {
            // The iteration count users have, so the answer does not tell who exists.
            iterations: match &self.settings.authentication {
                ClientAuth::Scram(users) => users
                    .values()
                    .map(|u| u.verifier.iterations)
                    .max()
                    .unwrap_or(crate::scram::DEFAULT_ITERATIONS),
                ClientAuth::Trust => crate::scram::DEFAULT_ITERATIONS,
            },
            salt,
            stored_key: [0; 32],
            server_key: [0; 32],
        }
    }

    async fn authenticated<C>(&self, client: &mut C, role: Role) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _ = self.connection.role.set(role);
        if let Some(timeout) = self.settings.statement_timeout.filter(|t| !t.is_zero()) {
            client.metadata_mut().insert(
                METADATA_STATEMENT_TIMEOUT.to_string(),
                timeout.as_millis().to_string(),
            );
        }
        let (pid, secret) = self.settings.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let registration = self
            .settings
            .cancel
            .register(pid, &secret, &self.connection.control);
        let (handle, guard) = self.settings.cancel.pgwire.register(pid, secret);
        let extensions = client.session_extensions();
        extensions.insert(registration);
        extensions.insert(handle);
        extensions.insert(guard);
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        finish_authentication(client, &parameters).await
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.settings.tls_required && !client.is_secure() {
                    return Err(fatal(
                        "28000",
                        "this server requires TLS: connect with sslmode=require".to_string(),
                    ));
                }
                match &self.settings.authentication {
                    ClientAuth::Trust => self.authenticated(client, Role::Reader).await?,
                    ClientAuth::Scram(_) => {
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                                vec![SCRAM_SHA_256.to_string()],
                            )))
                            .await?;
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let ClientAuth::Scram(users) = &self.settings.authentication else {
                    return Err(PgWireError::InvalidSASLState);
                };
                let mut state = self.state.lock().await;
                match std::mem::replace(&mut *state, AuthState::Initial) {
                    AuthState::Initial => {
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != SCRAM_SHA_256 {
                            return Err(PgWireError::UnsupportedSASLAuthMethod(
                                initial.auth_method,
                            ));
                        }
                        let user = client
                            .metadata()
                            .get(METADATA_USER)
                            .cloned()
                            .unwrap_or_default();
                        let known = users.get(&user);
                        let verifier = known
                            .map(|u| u.verifier.clone())
                            .unwrap_or_else(|| self.mock_verifier(&user));
                        let data = initial.data.unwrap_or_default();
                        let (exchange, server_first) = ScramExchange::start(&data, verifier)
                            .map_err(|e| PgWireError::InvalidScramMessage(e.0))?;
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLContinue(server_first.into_bytes().into()),
                            ))
                            .await?;
                        *state = AuthState::ScramSent {
                            exchange: Box::new(exchange),
                            user,
                            role: known.map(|u| u.role),
                        };
                    }
                    AuthState::ScramSent {
                        exchange,
                        user,
                        role,
                    } => {
                        let response = message.into_sasl_response()?;
                        let server_final = exchange
                            .finish(&response.data)
                            .map_err(|e| PgWireError::InvalidScramMessage(e.0))?;
                        match (server_final, role) {
                            (Some(server_final), Some(role)) => {
                                client
                                    .send(PgWireBackendMessage::Authentication(
                                        Authentication::SASLFinal(server_final.into_bytes().into()),
                                    ))
                                    .await?;
                                tracing::info!(%user, role = role.name(), "authenticated");
                                self.authenticated(client, role).await?;
                            }
                            _ => {
                                tracing::warn!(%user, peer = %client.socket_addr(), "authentication failed");
                                return Err(fatal(
                                    "28P01",
                                    format!("password authentication failed for user \"{user}\""),
                                ));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The startup handler of connections past `max_connections`: says so, and closes.
pub struct TooManyConnections(pub usize);

#[async_trait]
impl StartupHandler for TooManyConnections {
    async fn on_startup<C>(
        &self,
        _client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(_) => Err(fatal(
                "53300",
                format!(
                    "sorry, too many clients already (max_connections = {})",
                    self.0
                ),
            )),
            _ => Ok(()),
        }
    }
}
