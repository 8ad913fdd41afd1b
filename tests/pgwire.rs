//! A real Postgres client (tokio-postgres) against the demo served by the whole app in this process.
//!
//! What a statement and its answer show — results in both protocols, SQLSTATEs, SET/SHOW,
//! transactions, cursors, COPY TO STDOUT, the refused writes — is pinned in `sql/slt/`, which
//! tests/slt_wire.rs runs over the wire. These tests need more: parameters, binary values,
//! portals, timing, ingest between statements, the bytes on the socket.

use crate::common::*;
use tokio_postgres::NoTls;

async fn connect(server: &InProcess) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server.conn_str(), NoTls)
        .await
        .expect("connects");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// tokio-postgres asks for binary results in the extended protocol: every type must decode, and
/// parameters arrive typed.
#[tokio::test(flavor = "multi_thread")]
async fn types_round_trip_in_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(&dir.path().join("wh"), true);
    let client = connect(&server).await;

    // A text parameter; JSON access in the result.
    let rows = client
        .query("SELECT name, version, hyperparameters->>'max_depth' AS depth FROM model_versions WHERE name = $1 ORDER BY version", &[&"churn"])
        .await
        .unwrap();
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("churn".into(), "1".into(), "6".into()),
            ("churn".into(), "2".into(), "8".into())
        ]
    );

    let row = client
        .query_one(
            "SELECT true AS yes, CAST(9007199254740993 AS BIGINT) AS big, CAST(1.5 AS DOUBLE) AS half, \
             CAST(NULL AS TEXT) AS nothing, ARRAY[1, 2, 3] AS arr, run_id, started_at, parameters \
             FROM runs WHERE parameters IS NOT NULL ORDER BY run_id LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>("yes"));
    assert_eq!(row.get::<_, i64>("big"), 9_007_199_254_740_993);
    assert_eq!(row.get::<_, f64>("half"), 1.5);
    assert_eq!(row.get::<_, Option<String>>("nothing"), None);
    assert_eq!(row.get::<_, Vec<i64>>("arr"), vec![1, 2, 3]);
    let parameters: String = row.get("parameters");
    let json: serde_json::Value = serde_json::from_str(&parameters).expect("JSON text");
    assert!(json.is_object(), "{parameters}");

    // The same instant in binary and in text.
    let run_id: String = row.get("run_id");
    let started: chrono::DateTime<chrono::Utc> = row.get("started_at");
    let text = simple_rows(
        &client
            .simple_query(&format!(
                "SELECT CAST(to_unixtime(started_at) AS BIGINT) FROM runs WHERE run_id = '{run_id}'"
            ))
            .await
            .unwrap(),
    );
    assert_eq!(text, vec![vec![Some(started.timestamp().to_string())]]);

    // A prepared lookup by key (answered without planning) types its columns as the planned
    // query does.
    let columns = "run_id, started_at, parameters, state";
    let lookup = client
        .prepare(&format!("SELECT {columns} FROM runs WHERE run_id = $1"))
        .await
        .unwrap();
    let planned = client
        .prepare(&format!(
            "SELECT {columns} FROM runs WHERE run_id = $1 AND state IS NOT NULL"
        ))
        .await
        .unwrap();
    let fast = client.query_one(&lookup, &[&run_id]).await.unwrap();
    let slow = client.query_one(&planned, &[&run_id]).await.unwrap();
    let types = |row: &tokio_postgres::Row| -> Vec<String> {
        row.columns()
            .iter()
            .map(|c| c.type_().to_string())
            .collect()
    };
    assert_eq!(types(&fast), types(&slow));
    assert_eq!(fast.get::<_, String>("run_id"), run_id);
    assert_eq!(fast.get::<_, chrono::DateTime<chrono::Utc>>(1), started);
    assert_eq!(fast.get::<_, String>(2), parameters);
    assert_eq!(fast.get::<_, String>(3), slow.get::<_, String>(3));
    let none = client.query(&lookup, &[&"run:none"]).await.unwrap();
    assert!(none.is_empty());

    // A timestamptz parameter, sent in binary.
    let later: i64 = client
        .query_one(
            "SELECT count(*) FROM runs WHERE started_at >= $1",
            &[&started],
        )
        .await
        .unwrap()
        .get(0);
    assert!(later >= 1);
    let all: i64 = client
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .unwrap()
        .get(0);
    assert!(later <= all);
}

/// Portals: a client's row count cannot make the server reserve unbounded memory (a FETCH's:
/// sql/slt/wire/transactions.slt), and each FETCH gets its own statement_timeout.
#[tokio::test(flavor = "multi_thread")]
async fn portals_and_fetch_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(&dir.path().join("wh"), true);
    let mut client = connect(&server).await;
    let runs: i64 = client
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .unwrap()
        .get(0);

    // An Execute asking for i32::MAX rows: all rows, and the server lives on.
    let tx = client.transaction().await.unwrap();
    let portal = tx
        .bind("SELECT run_id FROM runs ORDER BY run_id", &[])
        .await
        .unwrap();
    let rows = tx.query_portal(&portal, i32::MAX).await.unwrap();
    assert_eq!(rows.len() as i64, runs);
    tx.commit().await.unwrap();

    // The timeout runs per statement: a FETCH long after its DECLARE still has all of it.
    let messages = client
        .simple_query(
            "SET statement_timeout = '500ms'; BEGIN; \
             DECLARE slow CURSOR FOR SELECT run_id FROM runs ORDER BY run_id",
        )
        .await
        .unwrap();
    assert!(simple_rows(&messages).is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let rows = simple_rows(&client.simple_query("FETCH 5 FROM slow").await.unwrap());
    assert_eq!(rows.len(), 5);
    client.simple_query("COMMIT").await.unwrap();
}

/// Replies to Parse, Bind, Describe and Execute wait for Sync (or Flush), as Postgres's do: one
/// write per round trip instead of one per message. Spoken byte by byte, since drivers hide it.
#[test]
fn extended_replies_are_sent_at_sync_or_flush() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }
    /// Reads whole messages until one with `last` arrives; returns their tags.
    fn read_until(socket: &mut TcpStream, last: u8) -> Vec<u8> {
        let mut tags = Vec::new();
        loop {
            let mut header = [0u8; 5];
            socket.read_exact(&mut header).expect("a message");
            let len = i32::from_be_bytes(header[1..5].try_into().unwrap()) as usize;
            let mut body = vec![0u8; len - 4];
            socket.read_exact(&mut body).unwrap();
            tags.push(header[0]);
            if header[0] == last {
                return tags;
            }
        }
    }
    /// Whether anything arrives within a moment.
    fn anything_pending(socket: &mut TcpStream) -> bool {
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        let pending = socket.peek(&mut byte).is_ok_and(|n| n > 0);
        socket.set_read_timeout(None).unwrap();
        pending
    }

    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(&dir.path().join("wh"), true);
    let mut socket = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut startup = 196_608i32.to_be_bytes().to_vec(); // protocol 3.0
    startup.extend_from_slice(b"user\0prov9\0database\0prov9\0\0");
    let mut framed = (startup.len() as i32 + 4).to_be_bytes().to_vec();
    framed.extend_from_slice(&startup);
    socket.write_all(&framed).unwrap();
    read_until(&mut socket, b'Z');

    let mut batch = message(b'P', b"\0SELECT state FROM runs LIMIT 2\0\0\0");
    batch.extend(message(b'B', b"\0\0\0\0\0\0\0\0"));
    batch.extend(message(b'D', b"P\0"));
    batch.extend(message(b'E', b"\0\0\0\0\0"));
    socket.write_all(&batch).unwrap();
    assert!(
        !anything_pending(&mut socket),
        "replies before Sync or Flush"
    );
    socket.write_all(&message(b'H', b"")).unwrap();
    assert_eq!(
        read_until(&mut socket, b'C'),
        b"12TDDC",
        "ParseComplete, BindComplete, RowDescription, two rows, CommandComplete at Flush"
    );
    socket.write_all(&message(b'S', b"")).unwrap();
    assert_eq!(read_until(&mut socket, b'Z'), b"Z");

    // An error is reported at once, and the rest of the batch is skipped until Sync.
    let mut failing = message(b'P', b"\0SELECT nope FROM runs\0\0\0");
    failing.extend(message(b'B', b"\0\0\0\0\0\0\0\0"));
    failing.extend(message(b'S', b""));
    socket.write_all(&failing).unwrap();
    assert_eq!(read_until(&mut socket, b'Z'), b"EZ");
    socket.write_all(&message(b'X', b"")).unwrap();
}

/// A statement sent again runs the plan its connection kept (lineage calls only), and still
/// answers from the newest commit, in both protocols; what the optimiser folds at planning
/// (`now()`) is planned again.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_lineage_queries_answer_from_the_newest_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(&dir.path().join("wh"), false);
    let client = connect(&server).await;
    let run = "0b9c8a1e-4444-4d2c-9a3e-000000000001";
    let sql = format!("SELECT count(*) FROM lineage_downstream('run:{run}') WHERE depth >= 1");
    let counts = || async {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let simple = simple_rows(&client.simple_query(&sql).await.unwrap());
            seen.push(simple[0][0].as_deref().unwrap().parse::<i64>().unwrap());
            seen.push(client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        seen[0]
    };
    assert_eq!(counts().await, 0, "an unknown node reaches nothing");

    let event = |output: &str| {
        format!(
            r#"{{"eventType":"COMPLETE","eventTime":"2026-11-01T10:00:00Z","producer":"https://example.com/test","run":{{"runId":"{run}"}},"job":{{"namespace":"n","name":"j"}},"inputs":[],"outputs":[{{"namespace":"n","name":"{output}"}}]}}"#
        )
    };
    assert_eq!(post(server.http_port, &[], &event("first")).0, 201);
    let one = counts().await;
    assert!(one > 0, "the run's output is downstream of it");
    assert_eq!(post(server.http_port, &[], &event("second")).0, 201);
    assert!(counts().await > one, "a second output is too");

    let mut times = Vec::new();
    for _ in 0..2 {
        let rows = simple_rows(&client.simple_query("SELECT now()").await.unwrap());
        times.push(rows[0][0].clone().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_ne!(times[0], times[1], "now() is the time of each statement");
}

/// A long `IN` list on a column that is not a key (what a BI tool's multi-select sends)
/// answers. delta-rs turns a pushed `IN` into nested ORs and walked them recursively: a few
/// thousand values overflowed the stack and aborted the whole server.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_in_list_answers_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(&dir.path().join("wh"), true);
    let client = connect(&server).await;
    let edge = client
        .query_one(
            "SELECT dst FROM lineage_edges WHERE edge_type = 'input' LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let dst: String = edge.get(0);
    let mut values: Vec<String> = (0..5000).map(|i| format!("'run:nothing-{i}'")).collect();
    values.push(format!("'{dst}'"));
    for table_column in [
        "lineage_edges WHERE dst",
        "runs WHERE job_id",
        "runs r JOIN jobs j ON j.job_id = r.job_id WHERE r.job_id",
    ] {
        let sql = format!(
            "SELECT count(*) FROM {table_column} IN ({})",
            values.join(", ")
        );
        let n: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
        if table_column.starts_with("lineage_edges") {
            assert!(n >= 1, "the one real value matched");
        } else {
            assert_eq!(n, 0);
        }
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .unwrap()
        .get(0);
    assert!(n > 0, "the same connection still answers");
}
