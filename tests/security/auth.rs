//! Passwords, users and the config file; listening beyond loopback.

use super::*;

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
