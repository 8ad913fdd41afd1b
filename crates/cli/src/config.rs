//! `prov9.toml`: users, TLS and the settings of `prov9 serve`.
//!
//! ```toml
//! pg_listen = "0.0.0.0:5433"
//! statement_timeout = "60s"
//! memory_limit = "2GiB"
//!
//! [[users]]
//! name = "alice"
//! password = "SCRAM-SHA-256$4096:..."   # from `prov9 hash-password`
//! role = "reader"                        # reader | writer | admin
//!
//! [tls]
//! cert = "server.crt"
//! key = "server.key"
//! require = false
//! ```
//!
//! Every setting is optional; command-line flags override the file.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use prov9_pgwire::scram::ScramVerifier;
use prov9_pgwire::{TlsConfig, User};
use prov9_query::session::Role;
use serde::Deserialize;

/// The parsed file; `None` where the file is silent.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    pub data: Option<String>,
    pub pg_listen: Option<String>,
    pub http_listen: Option<String>,
    pub max_connections: Option<usize>,
    pub statement_timeout: Option<Duration>,
    pub memory_limit: Option<usize>,
    pub shutdown_grace: Option<Duration>,
    pub users: Vec<User>,
    pub tls: Option<TlsConfig>,
    /// SHA-256 digests (hex) of the API keys allowed to send lineage over HTTP (and to read).
    pub api_key_digests: Vec<String>,
    /// SHA-256 digests (hex) of the API keys allowed only to read (the Marquez read API).
    pub reader_key_digests: Vec<String>,
    pub max_body_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data: Option<String>,
    pg_listen: Option<String>,
    http_listen: Option<String>,
    max_connections: Option<usize>,
    statement_timeout: Option<String>,
    memory_limit: Option<String>,
    shutdown_grace: Option<String>,
    max_body: Option<String>,
    #[serde(default)]
    users: Vec<RawUser>,
    tls: Option<RawTls>,
    #[serde(default)]
    api_keys: Vec<RawApiKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKey {
    name: String,
    /// `printf %s "$KEY" | sha256sum`: the key itself is never stored.
    sha256: String,
    /// `ingest` (the default: send lineage, and read) or `read` (the Marquez read API only).
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password: String,
    /// reader | writer | admin
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    #[serde(default)]
    require: bool,
}

impl ServeConfig {
    /// Read and check a config file. Relative TLS paths are relative to the file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let at = || format!("config file {}", path.display());
        let text = std::fs::read_to_string(path).with_context(at)?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(anyhow::Error::msg)
            .with_context(at)
    }

    /// Parse the text of a config file.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut users: Vec<User> = Vec::with_capacity(raw.users.len());
        for (i, u) in raw.users.into_iter().enumerate() {
            let at = format!("users[{i}] ({:?})", u.name);
            if u.name.is_empty() {
                return Err(format!("{at}: name is empty"));
            }
            if users.iter().any(|other| other.name == u.name) {
                return Err(format!("{at}: the user is listed twice"));
            }
            let verifier = u.password.parse::<ScramVerifier>().map_err(|e| {
                format!("{at}: password must be a SCRAM-SHA-256 verifier, never the password itself: {e}")
            })?;
            let role = u.role.parse::<Role>().map_err(|e| format!("{at}: {e}"))?;
            users.push(User {
                name: u.name,
                verifier,
                role,
            });
        }
        let duration = |name: &str, v: Option<String>| {
            v.map(|s| parse_duration(&s).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        let mut api_key_digests = Vec::with_capacity(raw.api_keys.len());
        let mut reader_key_digests = Vec::new();
        for (i, k) in raw.api_keys.iter().enumerate() {
            let digest = k.sha256.trim().to_ascii_lowercase();
            if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "api_keys[{i}] ({:?}): sha256 must be the 64 hex digits of the key's SHA-256 (printf %s \"$KEY\" | sha256sum)",
                    k.name
                ));
            }
            match k.role.as_deref().unwrap_or("ingest") {
                "ingest" => api_key_digests.push(digest),
                "read" => reader_key_digests.push(digest),
                other => {
                    return Err(format!(
                        "api_keys[{i}] ({:?}): role must be ingest or read, not {other:?}",
                        k.name
                    ));
                }
            }
        }
        Ok(ServeConfig {
            api_key_digests,
            reader_key_digests,
            max_body_bytes: raw
                .max_body
                .map(|s| parse_size(&s).map_err(|e| format!("max_body: {e}")))
                .transpose()?,
            data: raw.data,
            pg_listen: raw.pg_listen,
            http_listen: raw.http_listen,
            max_connections: raw.max_connections,
            statement_timeout: duration("statement_timeout", raw.statement_timeout)?,
            shutdown_grace: duration("shutdown_grace", raw.shutdown_grace)?,
            memory_limit: raw
                .memory_limit
                .map(|s| parse_size(&s).map_err(|e| format!("memory_limit: {e}")))
                .transpose()?,
            users,
            tls: raw.tls.map(|t| TlsConfig {
                cert: base.join(t.cert),
                key: base.join(t.key),
                require: t.require,
            }),
        })
    }
}

/// `"30s"`, `"1500ms"`, `"5min"`, `"1h"`, or a number of milliseconds as Postgres takes them.
/// `"0"` means no limit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 1500ms or 5min"))?;
    let factor: u64 = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: unknown unit (use ms, s, min, h or d)")),
    };
    n.checked_mul(factor)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `"2GiB"`, `"512MiB"`, `"64KiB"`, `"1GB"` or a number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n = usize::from_str(number)
        .map_err(|_| format!("{text:?} is not a size like 2GiB or 512MiB"))?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "kB" | "KB" => 1 << 10,
        "MiB" | "MB" => 1 << 20,
        "GiB" | "GB" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let verifier = ScramVerifier::new("pw").to_string();
        let text = format!(
            r#"
pg_listen = "0.0.0.0:5433"
statement_timeout = "60s"
memory_limit = "512MiB"

[[users]]
name = "alice"
password = "{verifier}"
role = "reader"

[tls]
cert = "server.crt"
key = "/etc/prov9/server.key"
"#
        );
        let c = ServeConfig::parse(&text, Path::new("/etc/prov9")).unwrap();
        assert_eq!(c.pg_listen.as_deref(), Some("0.0.0.0:5433"));
        assert_eq!(c.statement_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.memory_limit, Some(512 << 20));
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].role, Role::Reader);
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, Path::new("/etc/prov9/server.crt"));
        assert_eq!(tls.key, Path::new("/etc/prov9/server.key"));
        assert!(!tls.require);
    }

    #[test]
    fn refuses_plain_passwords_unknown_keys_and_bad_roles() {
        let plain = "[[users]]\nname = \"a\"\npassword = \"hunter2\"\nrole = \"reader\"\n";
        let e = ServeConfig::parse(plain, Path::new(".")).unwrap_err();
        assert!(e.contains("users[0]") && e.contains("verifier"), "{e}");
        let e = ServeConfig::parse("pg_lisen = \"x\"", Path::new(".")).unwrap_err();
        assert!(e.contains("pg_lisen"), "{e}");
        let v = ScramVerifier::new("pw");
        let role = format!("[[users]]\nname = \"a\"\npassword = \"{v}\"\nrole = \"root\"\n");
        let e = ServeConfig::parse(&role, Path::new(".")).unwrap_err();
        assert!(e.contains("root"), "{e}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2000").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("5min").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
    }
}
