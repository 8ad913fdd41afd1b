//! OpenLineage over HTTP, as Airflow and Dagster send it: the real openlineage-python HTTP
//! transport, concurrent producers, and every error answer of `POST /api/v1/lineage`.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn python_with(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
        || !missing_client(&format!(
            "python3 with {modules} (pip install -r tests/python/requirements.txt -r tests/clients/python/requirements.txt)"
        ))
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
        .display()
        .to_string()
}

/// A count asked of the server over a new connection: acknowledged events must be visible
/// there at once, before they are folded into the tables.
fn count(server: &Server, sql: &str) -> i64 {
    server_rows(server.port, sql)[0]
        .as_deref()
        .expect("a count")
        .parse()
        .expect("a count")
}

const GOOD: &str = r#"{"eventType":"START","eventTime":"2026-11-01T10:00:00Z","producer":"https://example.com/test","run":{"runId":"0b9c8a1e-1111-4d2c-9a3e-000000000001"},"job":{"namespace":"n","name":"j"}}"#;

#[test]
fn openlineage_python_http_transport_plain_and_gzip() {
    if !python_with("openlineage.client, psycopg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let server = Server::start(&data, &[]);
    let url = format!("http://127.0.0.1:{}", server.http_port);
    let dsn = format!(
        "host=127.0.0.1 port={} user=prov9 dbname=prov9",
        server.port
    );

    // Every emit returns after the 201; the script then reads the events table over the wire.
    let out = Command::new("python3")
        .args([
            &script("airflow_like_pipeline.py"),
            "--http",
            &url,
            "--check-dsn",
            &dsn,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let emitted: i64 = stdout(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("emitted N events");
    assert_eq!(count(&server, "SELECT count(*) FROM events"), emitted);
    assert_eq!(count(&server, "SELECT count(*) FROM runs"), 7);
    let runs_failed = count(&server, "SELECT count(*) FROM runs WHERE state = 'FAIL'");
    assert_eq!(runs_failed, 1);

    // The same events again, gzip-compressed: accepted, and nothing new is stored.
    let out = Command::new("python3")
        .args([
            &script("airflow_like_pipeline.py"),
            "--http",
            &url,
            "--gzip",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(count(&server, "SELECT count(*) FROM events"), emitted);
    assert_eq!(count(&server, "SELECT count(*) FROM runs"), 7);
}

#[test]
fn sixteen_producers_lose_and_duplicate_nothing() {
    if !python_with("requests") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let server = Server::start(&data, &[]);
    let url = format!("http://127.0.0.1:{}", server.http_port);
    let run = || {
        let out = Command::new("python3")
            .args([&script("http_producers.py"), &url, "16", "10000", "25"])
            .output()
            .unwrap();
        eprintln!("{}", stdout(&out));
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(report["acknowledged"], 10000);
    };
    run();
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 10000);
    assert_eq!(
        count(&server, "SELECT count(DISTINCT event_id) FROM events"),
        10000
    );
    assert_eq!(count(&server, "SELECT count(*) FROM runs"), 10000);
    // Everything again: all acknowledged, nothing twice.
    run();
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 10000);
}

#[test]
fn bad_requests_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    // The key is "k1"; the config holds only its SHA-256.
    let config = dir.path().join("prov9.toml");
    let digest = sha256_hex("k1");
    std::fs::write(
        &config,
        format!("max_body = \"4KiB\"\n\n[[api_keys]]\nname = \"airflow\"\nsha256 = \"{digest}\"\n"),
    )
    .unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let port = server.http_port;
    let key = [("Authorization", "Bearer k1")];

    assert_eq!(http(port, "GET", "/healthz", &[], b"").0, 200);
    let (status, body) = http(port, "GET", "/readyz", &[], b"");
    assert_eq!(status, 200, "{body}");

    // No key, a wrong key: 401, on both ingest routes.
    assert_eq!(post(port, &[], GOOD).0, 401);
    assert_eq!(post_batch(port, &[], &format!("[{GOOD}]")).0, 401);
    assert_eq!(post(port, &[("Authorization", "Bearer k2")], GOOD).0, 401);

    // A malformed event: 400 naming the field.
    let bad = GOOD.replace(
        r#""runId":"0b9c8a1e-1111-4d2c-9a3e-000000000001""#,
        r#""runId":5"#,
    );
    let (status, body) = post(port, &key, &bad);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("run.runId"), "{body}");
    // A batch with one bad event: 400 naming it, and none of the batch is stored.
    let (status, body) = post(port, &key, &format!("[{GOOD},{bad}]"));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("event 2") && body.contains("run.runId"),
        "{body}"
    );
    let (status, body) = post(port, &key, "{not json");
    assert_eq!(status, 400, "{body}");
    // Over the size limit: 413.
    let big = format!("[{}]", vec![GOOD; 40].join(","));
    assert_eq!(post(port, &key, &big).0, 413);
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 0);

    // The good event alone: 201, stored once even when sent twice.
    let (status, body) = post(port, &key, GOOD);
    assert_eq!(status, 201, "{body}");
    assert_eq!(post(port, &key, GOOD).0, 201);
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 1);
}

fn post_batch(port: u16, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    http(port, "POST", "/api/v1/lineage/batch", &all, body.as_bytes())
}

/// OpenLineage's standard batch endpoint: an array in, 200 once committed, all or nothing.
#[test]
fn batch_endpoint_commits_an_array_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &[]);
    let port = server.http_port;
    let event = |n: u32, state: &str| {
        GOOD.replace("000000000001", &format!("{n:012}"))
            .replace("START", state)
    };

    // Not an array: 400 saying where a single event goes.
    let (status, body) = post_batch(port, &[], GOOD);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("JSON array") && body.contains("/api/v1/lineage"),
        "{body}"
    );
    // One bad event: 400 naming it; nothing of the batch is stored.
    let bad =
        event(9, "START").replace(r#""eventTime":"2026-11-01T10:00:00Z""#, r#""eventTime":7"#);
    let (status, body) = post_batch(port, &[], &format!("[{},{bad}]", event(8, "START")));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("event 2") && body.contains("eventTime"),
        "{body}"
    );
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 0);

    // An empty batch is a no-op.
    assert_eq!(
        post_batch(port, &[], "[]"),
        (200, r#"{"accepted":0}"#.to_string())
    );
    let batch = format!(
        "[{},{},{}]",
        event(1, "START"),
        event(1, "COMPLETE"),
        event(2, "START")
    );
    let (status, body) = post_batch(port, &[], &batch);
    assert_eq!((status, body.as_str()), (200, r#"{"accepted":3}"#));
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 3);
    assert_eq!(
        server_rows(server.port, "SELECT state FROM runs ORDER BY run_id"),
        vec![Some("COMPLETE".to_string()), Some("START".to_string())]
    );
    // Resent (a producer's retry): stored once.
    assert_eq!(post_batch(port, &[], &batch).0, 200);
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 3);
}

#[test]
fn ingest_beyond_loopback_needs_api_keys() {
    let dir = tempfile::tempdir().unwrap();
    let message = serve_must_fail(
        &dir.path().join("wh"),
        &["--pg-listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0"],
    );
    assert!(message.contains("API keys"), "{message}");
}

/// The README's runnable example: every prov9 facet, from the OpenLineage Python client.
#[test]
fn ml_facets_example_fills_every_ml_table() {
    if !python_with("openlineage.client") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let server = Server::start(&data, &[]);
    let out = Command::new("python3")
        .args([
            &script("ml_facets_example.py"),
            &format!("http://127.0.0.1:{}", server.http_port),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(count(&server, "SELECT count(*) FROM events"), 8);
    assert_eq!(count(&server, "SELECT count(*) FROM transformations"), 3);
    assert_eq!(
        server_csv(
            server.port,
            "SELECT name, version, architecture FROM model_versions"
        ),
        vec!["fraud,1,gradient_boosted_trees"]
    );
    assert_eq!(
        server_csv(
            server.port,
            "SELECT \"key\", value FROM metrics ORDER BY \"key\""
        ),
        vec!["auc,0.934", "precision_at_1pct,0.71", "train_auc,0.951"]
    );
    assert_eq!(
        server_csv(server.port, "SELECT environment, target FROM deployments"),
        vec!["prod,k8s://risk-prod/fraud-scorer"]
    );
    assert_eq!(
        server_csv(server.port, "SELECT job_type FROM jobs ORDER BY job_type"),
        vec!["deployment", "evaluation", "preprocessing", "training"]
    );
}
