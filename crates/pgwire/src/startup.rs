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
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use ring::digest;
use tokio::sync::Mutex;

use crate::cancel::CancelRegistry;
use prov9_query::session::Role;

use crate::connection::ConnectionState;
use crate::options::User;
use crate::scram::{ScramExchange, ScramVerifier};
use crate::sqlstate;
use crate::statement::settings::METADATA_STATEMENT_TIMEOUT;

const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

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
                    return Err(sqlstate::invalid_authorization(
                        "this server requires TLS: connect with sslmode=require",
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
                                return Err(sqlstate::invalid_password(&user));
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
            PgWireFrontendMessage::Startup(_) => Err(sqlstate::too_many_connections(self.0)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prov9_query::session::QueryControl;
    use tokio_util::sync::CancellationToken;

    fn startup(users: &[(&str, u32)]) -> Startup {
        let users = users
            .iter()
            .map(|&(name, iterations)| {
                let verifier = ScramVerifier::with_salt("pw", vec![1; 16], iterations);
                let user = User {
                    name: name.to_string(),
                    verifier,
                    role: Role::Reader,
                };
                (name.to_string(), user)
            })
            .collect();
        let settings = StartupSettings {
            authentication: ClientAuth::Scram(users),
            tls_required: false,
            statement_timeout: None,
            cancel: Arc::default(),
            pids: RandomPidSecretKeyGenerator::default(),
            mock_secret: [9; 32],
        };
        let connection = ConnectionState::new(QueryControl::default(), CancellationToken::new());
        Startup::new(Arc::new(settings), Arc::new(connection))
    }

    #[test]
    fn unknown_users_get_a_stable_verifier_that_looks_like_a_real_one() {
        let s = startup(&[("alice", 8192)]);
        let (a, b) = (s.mock_verifier("mallory"), s.mock_verifier("mallory"));
        // The same salt on every try, as a real user's, and the iterations real users have.
        assert_eq!(a.salt, b.salt);
        assert_ne!(a.salt, s.mock_verifier("trent").salt);
        assert_eq!(a.salt.len(), 16);
        assert_eq!(a.iterations, 8192);
        // No password opens it.
        assert_eq!(a.stored_key, [0; 32]);
    }
}
