//! Binding the two listeners, and the one check that neither is reachable from the network
//! without credentials.

use anyhow::{Context, bail};
use tokio::net::TcpListener;

/// What a listener serves, and so what it needs before it may leave loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// SQL: needs `[[users]]`.
    Postgres,
    /// Ingest: needs `[[api_keys]]`.
    Http,
}

impl Endpoint {
    /// The flag (and config key) that moves it.
    fn flag(self) -> &'static str {
        match self {
            Endpoint::Postgres => "--pg-listen",
            Endpoint::Http => "--http-listen",
        }
    }
}

/// Bind `addr` (port 0 picks a free port). Unless clients must authenticate, only a loopback
/// address is allowed, and the error says what to configure.
pub async fn bind(
    addr: &str,
    endpoint: Endpoint,
    authenticated: bool,
) -> anyhow::Result<TcpListener> {
    let flag = endpoint.flag();
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let next = addr
                .rsplit_once(':')
                .and_then(|(host, port)| Some(format!("{host}:{}", port.parse::<u16>().ok()? + 1)))
                .unwrap_or_else(|| "127.0.0.1:0".into());
            let who = if addr.ends_with(":5000") {
                "another prov9 serve, or on macOS the AirPlay Receiver"
            } else {
                "another prov9 serve?"
            };
            bail!(
                "{addr} is already in use ({who}): choose another address with {flag}, e.g. {flag} {next}"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr} ({flag})")),
    };
    let local = listener.local_addr()?;
    if !authenticated && !local.ip().is_loopback() {
        match endpoint {
            Endpoint::Postgres => bail!(
                "refusing to listen on {local} without users: anyone who can reach it could read the warehouse. Add [[users]] to a config file (prov9 serve --config prov9.toml; passwords from `prov9 hash-password`), or listen on loopback (127.0.0.1)"
            ),
            Endpoint::Http => bail!(
                "refusing to take lineage on {local} without API keys: anyone who can reach it could write to the warehouse. Add [[api_keys]] to the config file (the key's SHA-256: printf %s \"$KEY\" | sha256sum), or listen on loopback (--http-listen 127.0.0.1:5000)"
            ),
        }
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_allowed_without_credentials_and_the_network_is_not() {
        assert!(bind("127.0.0.1:0", Endpoint::Postgres, false).await.is_ok());
        let e = bind("0.0.0.0:0", Endpoint::Postgres, false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("without users"), "{e}");
        let e = bind("0.0.0.0:0", Endpoint::Http, false).await.unwrap_err();
        assert!(e.to_string().contains("without API keys"), "{e}");
        assert!(bind("0.0.0.0:0", Endpoint::Http, true).await.is_ok());
    }

    #[tokio::test]
    async fn a_port_in_use_names_the_flag_that_moves_it() {
        let taken = bind("127.0.0.1:0", Endpoint::Http, false).await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let e = bind(&addr, Endpoint::Http, false).await.unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        assert!(e.to_string().contains("--http-listen 127.0.0.1:"), "{e}");
        let e = bind(&addr, Endpoint::Postgres, false).await.unwrap_err();
        assert!(e.to_string().contains("--pg-listen"), "{e}");
    }
}
