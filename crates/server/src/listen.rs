//! Binding a server's address, and refusing to expose it to the network without credentials.

use tokio::net::TcpListener;

use crate::ServerError;

/// Bind `addr` (port 0 picks a free port). Unless clients must authenticate, only a loopback
/// address is allowed: `exposed` builds the start-up error that says what to configure.
pub(crate) async fn bind(
    addr: &str,
    authenticated: bool,
    exposed: impl FnOnce(String) -> ServerError,
) -> Result<TcpListener, ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr()?;
    if !authenticated && !local.ip().is_loopback() {
        return Err(exposed(local.to_string()));
    }
    Ok(listener)
}
