//! Security and limits, end to end: passwords, the config file, TLS, roles, memory and time
//! limits, cancel, the connection limit and graceful shutdown — against a real `prov9 serve`,
//! with tokio-postgres, psql and openssl. The read-only guarantee (every refused statement, in
//! both protocols) is pinned in sql/slt/read_only.slt, which tests/slt_wire.rs runs over the wire.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// Runs far longer than any test: only a cancel or a timeout ends it.
const ENDLESS: &str =
    "SELECT count(DISTINCT v % 1000003) FROM generate_series(1, 2000000000) AS t(v)";

// ---------------------------------------------------------------------------------------------
// Helpers

/// `prov9 hash-password` with `input` on stdin.
fn hash_password(input: &str) -> Output {
    let mut child = prov9()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prov9 hash-password starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("stdin takes the password");
    child.wait_with_output().expect("prov9 hash-password runs")
}

/// The SCRAM verifier of a password, as `prov9 hash-password` prints it.
fn verifier(password: &str) -> String {
    let out = hash_password(&format!("{password}\n"));
    assert!(out.status.success(), "hash-password: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// Write `prov9.toml` in `dir`: top-level settings, then `[[users]]` (name, password, role) with
/// verifiers from `prov9 hash-password`, then `tail` (e.g. a `[tls]` section).
fn write_config(dir: &Path, top: &str, users: &[(&str, &str, &str)], tail: &str) -> PathBuf {
    let mut text = format!("{top}\n");
    for (name, password, role) in users {
        text.push_str(&format!(
            "[[users]]\nname = \"{name}\"\npassword = \"{}\"\nrole = \"{role}\"\n\n",
            verifier(password)
        ));
    }
    text.push_str(tail);
    let path = dir.join("prov9.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn conn_str(port: u16, user: &str, password: &str) -> String {
    format!(
        "host=127.0.0.1 port={port} user={user} password={password} dbname=prov9 connect_timeout=10"
    )
}

/// Connect without TLS; the connection's task is returned so a test can wait for it to end.
async fn open(conn: &str) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, task))
}

async fn connect(conn: &str) -> Client {
    open(conn).await.expect("connects").0
}

/// The SQLSTATE of an error, if the server sent one.
fn code(err: &tokio_postgres::Error) -> Option<&str> {
    err.code().map(|c| c.code())
}

/// The server's message, or else what the client says went wrong (`Display` says only "db error").
fn message(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => format!("{err:?}"),
    }
}

/// The single value of a one-row, one-column answer over the simple protocol.
async fn simple_value(client: &Client, sql: &str) -> Option<String> {
    let rows = simple_rows(&client.simple_query(sql).await.expect(sql));
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

/// `sql` over the simple protocol, then over the extended one (Parse/Bind/Execute).
async fn both_protocols(client: &Client, sql: &str) -> [Result<(), tokio_postgres::Error>; 2] {
    let simple = client.simple_query(sql).await.map(|_| ());
    let extended = client.query(sql, &[]).await.map(|_| ());
    [simple, extended]
}

/// `sql` must fail with `expected` over both protocols.
async fn refused(client: &Client, sql: &str, expected: &str) {
    for (result, protocol) in both_protocols(client, sql)
        .await
        .into_iter()
        .zip(["simple", "extended"])
    {
        let err = result.expect_err(&format!("{sql} ({protocol}) was allowed"));
        assert_eq!(code(&err), Some(expected), "{sql} ({protocol}): {err:?}");
    }
}

/// A statement that should be stopped (timeout, cancel): fail the test rather than hang if not.
async fn stopped<T>(statement: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), statement)
        .await
        .expect("the statement was not stopped within 20 s")
}

async fn count_runs(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .expect("the connection is usable")
        .get(0)
}

fn has_tool(tool: &str, version_flag: &str, what: &str) -> bool {
    Command::new(tool)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success())
        || !missing_client(what)
}

fn has_psql() -> bool {
    has_tool(
        "psql",
        "--version",
        "psql (Debian package postgresql-client)",
    )
}

fn has_openssl() -> bool {
    has_tool("openssl", "version", "openssl (Debian package openssl)")
}

/// psql against a keyword/value connection string, never prompting for a password.
fn psql(conninfo: &str, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-w",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo,
    ])
    .args(args)
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGPASSWORD")
    .env_remove("PGSSLMODE");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.output().expect("psql runs")
}

/// A self-signed certificate and key for localhost, `server.crt` and `server.key` in `dir`.
fn self_signed(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl: {}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// 1. hash-password

#[test]
fn hash_password_prints_a_scram_verifier_and_refuses_empty_input() {
    let out = hash_password("correct horse battery staple\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text.trim();
    assert_eq!(text.lines().count(), 1, "{text}");
    // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
    let rest = line
        .strip_prefix("SCRAM-SHA-256$4096:")
        .unwrap_or_else(|| panic!("not a SCRAM-SHA-256 verifier with 4096 iterations: {line}"));
    let (salt, keys) = rest.split_once('$').expect("salt$keys");
    let (stored, server) = keys.split_once(':').expect("StoredKey:ServerKey");
    let b64 = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=')
    };
    assert!(b64(salt) && b64(stored) && b64(server), "{line}");
    // 32-byte SHA-256 keys are 44 base64 characters.
    assert_eq!((stored.len(), server.len()), (44, 44), "{line}");
    assert!(
        !line.contains("correct horse"),
        "the password leaks: {line}"
    );

    // A fresh salt every time.
    let again = hash_password("correct horse battery staple\n");
    assert_ne!(stdout(&again).trim(), line);

    for empty in ["", "\n", "\r\n"] {
        let out = hash_password(empty);
        assert!(
            !out.status.success(),
            "{empty:?} was accepted: {}",
            stdout(&out)
        );
        assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
        assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Users from the config file

#[tokio::test(flavor = "multi_thread")]
async fn scram_users_log_in_and_wrong_passwords_get_28p01() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "",
        &[
            ("alice", "s3cret pass", "reader"),
            ("bob", "other", "admin"),
        ],
        "",
    );
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );

    let alice = connect(&conn_str(server.port, "alice", "'s3cret pass'")).await;
    assert_eq!(count_runs(&alice).await, 17);
    let bob = connect(&conn_str(server.port, "bob", "other")).await;
    assert_eq!(count_runs(&bob).await, 17);

    for (user, password) in [
        ("alice", "wrong"),
        ("alice", "other"),  // bob's password
        ("nobody", "other"), // an unknown user
        ("nobody", "wrong"),
    ] {
        let err = open(&conn_str(server.port, user, password))
            .await
            .map(|_| ())
            .expect_err(&format!("{user} logged in with {password:?}"));
        assert_eq!(code(&err), Some("28P01"), "{user}/{password}: {err:?}");
    }
    // Trust is gone once users exist: no password, no connection.
    let err = open(&format!(
        "host=127.0.0.1 port={} user=alice dbname=prov9 connect_timeout=10",
        server.port
    ))
    .await
    .map(|_| ())
    .expect_err("connected without a password");
    assert!(
        code(&err).is_some_and(|c| c.starts_with("28")) || message(&err).contains("password"),
        "{err:?}"
    );
}

#[test]
fn psql_logs_in_with_pgpassword() {
    if !has_psql() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &[("carol", "pw-carol", "reader")], "");
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );
    let conninfo = format!(
        "host=127.0.0.1 port={} user=carol dbname=prov9 sslmode=disable",
        server.port
    );
    let out = psql(
        &conninfo,
        Some("pw-carol"),
        &["-c", "SELECT count(*) FROM runs"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "17");

    let out = psql(&conninfo, Some("pw-wrong"), &["-c", "SELECT 1"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("password authentication failed"),
        "{}",
        stderr(&out)
    );
    let out = psql(&conninfo, None, &["-c", "SELECT 1"]);
    assert!(!out.status.success(), "logged in without a password");
}

#[test]
fn config_with_a_plain_password_or_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let listen = ["--pg-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"];

    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        "[[users]]\nname = \"alice\"\npassword = \"hunter2\"\nrole = \"reader\"\n",
    )
    .unwrap();
    let mut args = vec!["--config", plain.to_str().unwrap()];
    args.extend(listen);
    let text = serve_must_fail(&data, &args);
    assert!(text.contains("users[0]"), "{text}");
    assert!(!text.contains("hunter2"), "the password is echoed: {text}");

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "pg_lisen = \"127.0.0.1:0\"\n").unwrap();
    let mut args = vec!["--config", unknown.to_str().unwrap()];
    args.extend(listen);
    let text = serve_must_fail(&data, &args);
    assert!(text.contains("pg_lisen"), "{text}");

    let bad_role = write_config(dir.path(), "", &[("alice", "pw", "root")], "");
    let mut args = vec!["--config", bad_role.to_str().unwrap()];
    args.extend(listen);
    let text = serve_must_fail(&data, &args);
    assert!(text.contains("root"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 3. Non-loopback addresses need users

#[tokio::test(flavor = "multi_thread")]
async fn listening_beyond_loopback_needs_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");

    for addr in ["0.0.0.0:0", "[::]:0"] {
        let text = serve_must_fail(
            &data,
            &["--pg-listen", addr, "--http-listen", "127.0.0.1:0"],
        );
        assert!(text.contains("users"), "{addr}: {text}");
    }
    // The same from the config file.
    let exposed = dir.path().join("exposed.toml");
    std::fs::write(&exposed, "pg_listen = \"0.0.0.0:0\"\n").unwrap();
    let text = serve_must_fail(
        &data,
        &[
            "--config",
            exposed.to_str().unwrap(),
            "--http-listen",
            "127.0.0.1:0",
        ],
    );
    assert!(text.contains("users"), "{text}");

    // With users it starts, and asks for passwords.
    let config = write_config(dir.path(), "", &[("alice", "pw-alice", "reader")], "");
    let server = ServeProcess::start(
        &data,
        &[
            "--demo",
            "--config",
            config.to_str().unwrap(),
            "--pg-listen",
            "0.0.0.0:0",
        ],
    );
    assert_eq!(server.host, "0.0.0.0");
    let alice = connect(&conn_str(server.port, "alice", "pw-alice")).await;
    assert_eq!(count_runs(&alice).await, 17);
    let err = open(&conn_str(server.port, "alice", "nope"))
        .await
        .map(|_| ())
        .expect_err("wrong password accepted");
    assert_eq!(code(&err), Some("28P01"), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. TLS

#[test]
fn tls_serves_psql_with_sslmode_require() {
    if !has_psql() || !has_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    self_signed(&etc);
    // Relative paths: relative to the config file, not to the server's working directory.
    let config = write_config(
        &etc,
        "",
        &[("alice", "pw-alice", "reader")],
        "[tls]\ncert = \"server.crt\"\nkey = \"server.key\"\n",
    );
    let tls = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );
    let conninfo = |port: u16, mode: &str| {
        format!("host=127.0.0.1 port={port} user=alice dbname=prov9 sslmode={mode}")
    };
    let out = psql(
        &conninfo(tls.port, "require"),
        Some("pw-alice"),
        &["-c", "SELECT count(*) FROM runs", "-c", r"\conninfo"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("17\n"), "{text}");
    assert!(text.contains("SSL connection"), "{text}");

    // Without `require`, plain connections are still served.
    let out = psql(
        &conninfo(tls.port, "disable"),
        Some("pw-alice"),
        &["-c", "SELECT 1", "-c", r"\conninfo"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("SSL connection"), "{}", stdout(&out));

    // A server without [tls] cannot satisfy sslmode=require.
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir(&plain_dir).unwrap();
    let plain_config = write_config(&plain_dir, "", &[("alice", "pw-alice", "reader")], "");
    let plain = Server::start(
        &dir.path().join("wh2"),
        &["--config", plain_config.to_str().unwrap()],
    );
    let out = psql(
        &conninfo(plain.port, "require"),
        Some("pw-alice"),
        &["-c", "SELECT 1"],
    );
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("SSL"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_require_refuses_plain_connections() {
    if !has_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path());
    let config = write_config(
        dir.path(),
        "",
        &[("alice", "pw-alice", "reader")],
        "[tls]\ncert = \"server.crt\"\nkey = \"server.key\"\nrequire = true\n",
    );
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );
    // tokio-postgres without TLS, and the right password: refused before authentication.
    let err = open(&conn_str(server.port, "alice", "pw-alice"))
        .await
        .map(|_| ())
        .expect_err("a plain-text connection was accepted");
    assert_eq!(code(&err), Some("28000"), "{err:?}");
    assert!(message(&err).contains("TLS"), "{err:?}");

    if has_psql() {
        let conninfo = |mode: &str| {
            format!(
                "host=127.0.0.1 port={} user=alice dbname=prov9 sslmode={mode}",
                server.port
            )
        };
        let out = psql(&conninfo("disable"), Some("pw-alice"), &["-c", "SELECT 1"]);
        assert!(!out.status.success(), "{}", stdout(&out));
        assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));
        let out = psql(
            &conninfo("require"),
            Some("pw-alice"),
            &["-c", "SELECT count(*) FROM runs"],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "17");
    }
}

#[test]
fn tls_with_a_bad_certificate_is_a_startup_error() {
    if !has_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path());
    let data = dir.path().join("wh");
    let listen = ["--pg-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"];
    for (tls, names) in [
        (
            "cert = \"missing.crt\"\nkey = \"server.key\"\n",
            "missing.crt",
        ),
        (
            "cert = \"server.crt\"\nkey = \"missing.key\"\n",
            "missing.key",
        ),
        // A certificate where the key should be.
        (
            "cert = \"server.crt\"\nkey = \"server.crt\"\n",
            "server.crt",
        ),
    ] {
        let config = write_config(
            dir.path(),
            "",
            &[("alice", "pw-alice", "reader")],
            &format!("[tls]\n{tls}"),
        );
        let mut args = vec!["--config", config.to_str().unwrap()];
        args.extend(listen);
        let text = serve_must_fail(&data, &args);
        assert!(text.contains(names), "{tls}: {text}");
        assert!(!text.contains("serving"), "{tls}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Roles and session settings

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_tune_their_own_session() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "",
        &[("rita", "pw-rita", "reader"), ("adam", "pw-adam", "admin")],
        "",
    );
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );
    let reader = connect(&conn_str(server.port, "rita", "pw-rita")).await;
    let admin = connect(&conn_str(server.port, "adam", "pw-adam")).await;
    let other_admin = connect(&conn_str(server.port, "adam", "pw-adam")).await;
    let batch_size = "SELECT value FROM information_schema.df_settings \
                      WHERE name = 'datafusion.execution.batch_size'";

    refused(
        &reader,
        "SET datafusion.execution.batch_size = 100",
        "42501",
    )
    .await;
    assert_eq!(
        simple_value(&reader, batch_size).await.as_deref(),
        Some("8192")
    );

    // Not even an admin changes what every session shares (a reader: sql/slt/read_only.slt).
    refused(
        &admin,
        "SET datafusion.runtime.memory_limit = '10G'",
        "42501",
    )
    .await;
    refused(
        &admin,
        "SET datafusion.catalog.information_schema = false",
        "42501",
    )
    .await;

    admin
        .simple_query("SET datafusion.execution.batch_size = 100")
        .await
        .expect("an admin tunes its session");
    assert_eq!(
        simple_value(&admin, batch_size).await.as_deref(),
        Some("100")
    );
    admin
        .query("SET datafusion.execution.batch_size = 200", &[])
        .await
        .expect("an admin tunes its session (extended protocol)");
    assert_eq!(
        simple_value(&admin, batch_size).await.as_deref(),
        Some("200")
    );
    // Nobody else's session changed.
    assert_eq!(
        simple_value(&other_admin, batch_size).await.as_deref(),
        Some("8192")
    );
    assert_eq!(
        simple_value(&reader, batch_size).await.as_deref(),
        Some("8192")
    );
    let fresh = connect(&conn_str(server.port, "rita", "pw-rita")).await;
    assert_eq!(
        simple_value(&fresh, batch_size).await.as_deref(),
        Some("8192")
    );
    assert_eq!(count_runs(&admin).await, 17);
}

#[tokio::test(flavor = "multi_thread")]
async fn show_reports_the_session_value_of_a_datafusion_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &[("adam", "pw-adam", "admin")], "");
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );
    let admin = connect(&conn_str(server.port, "adam", "pw-adam")).await;
    let other = connect(&conn_str(server.port, "adam", "pw-adam")).await;
    admin
        .simple_query("SET datafusion.execution.batch_size = 100")
        .await
        .expect("an admin tunes its session");
    let show = "SHOW datafusion.execution.batch_size";
    assert_eq!(simple_value(&admin, show).await.as_deref(), Some("100"));
    assert_eq!(simple_value(&other, show).await.as_deref(), Some("8192"));
}

// ---------------------------------------------------------------------------------------------
// 6. Read-only: every refused statement, over both protocols, is pinned in sql/slt/read_only.slt
// (tests/slt_wire.rs runs it as a reader over the wire).

// ---------------------------------------------------------------------------------------------
// 7. Memory limit

#[tokio::test(flavor = "multi_thread")]
async fn a_query_over_the_memory_limit_fails_with_53200_and_spares_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--memory-limit", "32MiB"],
    );
    let first = Arc::new(connect(&server.conn_str()).await);
    let second = connect(&server.conn_str()).await;
    // About a million distinct keys out of order: a hash table well over 32 MiB, which cannot
    // spill. (Over a sorted generate_series the aggregate streams in constant memory instead.)
    let big = "SELECT count(DISTINCT v % 1000003) FROM generate_series(1, 2000000) AS t(v)";
    let started = Instant::now();
    let task = {
        let first = first.clone();
        tokio::spawn(async move { first.simple_query(big).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count_runs(&second).await, 17);
    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the query ends")
        .unwrap()
        .expect_err("the query stayed within 32 MiB");
    assert_eq!(code(&err), Some("53200"), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Extended protocol too; and both connections go on.
    let err = first
        .query(big, &[])
        .await
        .expect_err("the query stayed within 32 MiB");
    assert_eq!(code(&err), Some("53200"), "{err:?}");
    assert_eq!(count_runs(&first).await, 17);
    assert_eq!(count_runs(&second).await, 17);
}

// ---------------------------------------------------------------------------------------------
// 8. statement_timeout

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_set_by_the_session_stops_a_query_with_57014() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &["--demo"]);
    let client = connect(&server.conn_str()).await;
    let other = connect(&server.conn_str()).await;
    client
        .simple_query("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    assert_eq!(
        simple_value(&client, "SHOW statement_timeout")
            .await
            .as_deref(),
        Some("300ms")
    );
    let started = Instant::now();
    let err = stopped(client.simple_query(ENDLESS))
        .await
        .expect_err("the query succeeded");
    assert_eq!(code(&err), Some("57014"), "{err:?}");
    assert!(message(&err).contains("timeout"), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let err = stopped(client.query(ENDLESS, &[]))
        .await
        .expect_err("the query succeeded");
    assert_eq!(code(&err), Some("57014"), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count_runs(&client).await, 17);
    // The setting is the session's own.
    assert_eq!(
        simple_value(&other, "SHOW statement_timeout")
            .await
            .as_deref(),
        Some("0")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_from_the_server_applies_until_a_session_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--statement-timeout", "300ms"],
    );
    let client = connect(&server.conn_str()).await;
    assert_eq!(
        simple_value(&client, "SHOW statement_timeout")
            .await
            .as_deref(),
        Some("300ms")
    );
    let started = Instant::now();
    let err = stopped(client.simple_query(ENDLESS))
        .await
        .expect_err("the query succeeded");
    assert_eq!(code(&err), Some("57014"), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count_runs(&client).await, 17);

    let other = connect(&server.conn_str()).await;
    other
        .simple_query("SET statement_timeout = 0")
        .await
        .unwrap();
    assert_eq!(
        simple_value(&other, "SHOW statement_timeout")
            .await
            .as_deref(),
        Some("0")
    );
    // Only that session lifted it.
    assert_eq!(
        simple_value(&client, "SHOW statement_timeout")
            .await
            .as_deref(),
        Some("300ms")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "statement_timeout = \"300ms\"\nmax_connections = 1\nmemory_limit = \"32MiB\"\n",
        &[],
        "",
    );
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--config", config.to_str().unwrap()],
    );
    let client = connect(&server.conn_str()).await;
    assert_eq!(
        simple_value(&client, "SHOW statement_timeout")
            .await
            .as_deref(),
        Some("300ms")
    );
    let err = stopped(client.simple_query(ENDLESS))
        .await
        .expect_err("the query succeeded");
    assert_eq!(code(&err), Some("57014"), "{err:?}");
    let err = open(&server.conn_str())
        .await
        .map(|_| ())
        .expect_err("a second connection was accepted");
    assert_eq!(code(&err), Some("53300"), "{err:?}");
    client
        .simple_query("SET statement_timeout = 0")
        .await
        .unwrap();
    let err = client
        .simple_query("SELECT count(DISTINCT v % 1000003) FROM generate_series(1, 2000000) AS t(v)")
        .await
        .expect_err("the query stayed within 32 MiB");
    assert_eq!(code(&err), Some("53200"), "{err:?}");
    assert_eq!(count_runs(&client).await, 17);
}

// ---------------------------------------------------------------------------------------------
// 9. Cancel

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_request_stops_a_running_query_with_57014() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &["--demo"]);
    let client = Arc::new(connect(&server.conn_str()).await);
    for extended in [false, true] {
        let task = {
            let client = client.clone();
            tokio::spawn(async move {
                if extended {
                    client.query(ENDLESS, &[]).await.map(|_| ())
                } else {
                    client.simple_query(ENDLESS).await.map(|_| ())
                }
            })
        };
        // Let the statement start: a cancel request for an idle connection does nothing.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(!task.is_finished(), "the query ended before the cancel");
        let cancelled = Instant::now();
        client
            .cancel_token()
            .cancel_query(NoTls)
            .await
            .expect("cancel request sent");
        let err = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the cancelled query ends within seconds")
            .unwrap()
            .expect_err("the query succeeded");
        assert_eq!(code(&err), Some("57014"), "extended: {extended}: {err:?}");
        assert!(
            cancelled.elapsed() < Duration::from_secs(5),
            "{:?}",
            cancelled.elapsed()
        );
        // The connection goes on, and the next query is not cancelled.
        assert_eq!(count_runs(&client).await, 17);
    }
}

// ---------------------------------------------------------------------------------------------
// 10. Connection limit

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_max_connections_get_53300() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("wh"),
        &["--demo", "--max-connections", "2"],
    );
    let conn = server.conn_str() + " connect_timeout=10";
    let (first, first_task) = open(&conn).await.expect("first connection");
    let (second, _second_task) = open(&conn).await.expect("second connection");
    assert_eq!(count_runs(&first).await, 17);
    assert_eq!(count_runs(&second).await, 17);

    let err = open(&conn)
        .await
        .map(|_| ())
        .expect_err("a third connection was accepted");
    assert_eq!(code(&err), Some("53300"), "{err:?}");
    assert!(message(&err).contains("too many clients"), "{err:?}");
    assert_eq!(count_runs(&first).await, 17);

    drop(first);
    first_task.await.unwrap();
    // The server notices the closed socket on its own time.
    let deadline = Instant::now() + Duration::from_secs(5);
    let third = loop {
        match open(&conn).await {
            Ok((client, _)) => break client,
            Err(e) if code(&e) == Some("53300") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no connection after one closed: {e:?}"),
        }
    };
    assert_eq!(count_runs(&third).await, 17);
    assert_eq!(count_runs(&second).await, 17);
}

// ---------------------------------------------------------------------------------------------
// 11. Graceful shutdown

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_running_query_finish_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServeProcess::start(
        &dir.path().join("wh"),
        &["--demo", "--pg-listen", "127.0.0.1:0"],
    );
    let conn = format!(
        "host=127.0.0.1 port={} user=prov9 dbname=prov9 connect_timeout=10",
        server.port
    );
    let busy = Arc::new(connect(&conn).await);
    let idle = connect(&conn).await;
    assert_eq!(count_runs(&idle).await, 17);

    // About two seconds of work in a debug build.
    let query = "SELECT count(DISTINCT v % 1000003) FROM generate_series(1, 3000000) AS t(v)";
    let task = {
        let busy = busy.clone();
        tokio::spawn(async move { busy.query_one(query, &[]).await.map(|r| r.get::<_, i64>(0)) })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!task.is_finished(), "the query ended before SIGTERM");
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let term = Instant::now();

    let count = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the query ends")
        .unwrap()
        .expect("the running query completes despite SIGTERM");
    assert_eq!(count, 1_000_003);

    let exit = tokio::task::spawn_blocking(move || {
        let exit = server.wait_exit(Duration::from_secs(20));
        (exit, server.log())
    })
    .await
    .unwrap();
    let (exit, log) = exit;
    let exit = exit.unwrap_or_else(|| panic!("prov9 serve still runs after SIGTERM:\n{log}"));
    assert!(
        term.elapsed() < Duration::from_secs(15),
        "stopping took {:?}",
        term.elapsed()
    );
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("prov9: stopped"), "{log}");
    // The idle connection was closed.
    assert!(idle.simple_query("SELECT 1").await.is_err());
}
