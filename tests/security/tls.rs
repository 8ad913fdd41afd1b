//! TLS: psql over sslmode=require, refused plain connections, bad certificates.

use super::*;

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
