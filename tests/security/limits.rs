//! What a session may tune, and the limits that stop queries and connections: memory,
//! statement_timeout, cancel, max_connections, graceful shutdown.

use super::*;

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
