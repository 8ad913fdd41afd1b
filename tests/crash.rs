//! Crashes and concurrent writers: producers stream events one per request while fold-ins and
//! compaction rewrite the tables, `serve` or `prov9 load` is killed with SIGKILL at random
//! moments, or another process compacts the same warehouse. Every acknowledged event is kept
//! once, no query ever sees part of a batch, and the final answers equal the same events loaded
//! in bulk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// Zero in every snapshot a query can see: each run's events are all there with its row, and
/// no event is stored twice. A run's START is acknowledged before its COMPLETE is sent, so a
/// COMPLETE run has exactly two events; a batch committed to some tables and not others (or
/// a tail counted twice) breaks one of the three.
const TORN_ROWS: &str = "SELECT \
       (SELECT count(*) FROM runs r \
          LEFT JOIN (SELECT run_id, count(*) AS n FROM events GROUP BY run_id) e ON e.run_id = r.run_id \
          WHERE e.n IS NULL OR e.n <> CASE WHEN r.state = 'COMPLETE' THEN 2 ELSE 1 END) \
     + (SELECT count(*) FROM (SELECT DISTINCT run_id FROM events) e \
          WHERE e.run_id NOT IN (SELECT run_id FROM runs)) \
     + (SELECT count(*) - count(DISTINCT event_id) FROM events), \
     (SELECT count(*) FROM events)";

/// Answers compared with the same events loaded in bulk.
const QUERIES: &[&str] = &[
    "SELECT count(*), count(DISTINCT event_id) FROM events",
    "SELECT state, count(*) FROM runs GROUP BY state ORDER BY state",
    "SELECT count(*) FROM jobs",
    "SELECT count(*) FROM datasets",
    "SELECT count(*) FROM dataset_versions",
    "SELECT count(*) FROM transformations",
    "SELECT count(*) FROM lineage_edges",
    "SELECT count(*) FROM lineage_upstream('dataset:s3://lake:clean/p0_r9@00000000-0000-4000-8000-000000000009')",
    "SELECT state FROM runs WHERE run_id = 'run:00000001-0000-4000-8000-000000000007'",
];

/// Producer `p`'s runs, START then COMPLETE, each reading a shared dataset and writing its own.
fn producer_events(p: usize, runs: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(runs * 2);
    for r in 0..runs {
        let run_id = format!("{p:08x}-0000-4000-8000-{r:012x}");
        let job = format!(r#"{{"namespace":"live","name":"task_{}"}}"#, r % 7);
        let io = format!(
            r#""inputs":[{{"namespace":"s3://lake","name":"raw/t{}"}}],"outputs":[{{"namespace":"s3://lake","name":"clean/p{p}_r{r}"}}]"#,
            r % 13
        );
        for (kind, second) in [("START", 0), ("COMPLETE", 30)] {
            out.push(format!(
                r#"{{"eventType":"{kind}","eventTime":"2026-11-0{}T{:02}:{:02}:{second:02}Z","run":{{"runId":"{run_id}"}},"job":{job},{io},"producer":"crash-test","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json"}}"#,
                p + 1,
                r / 60,
                r % 60
            ));
        }
    }
    out
}

/// The rows of [`QUERIES`] on a warehouse no server holds.
fn answers(data: &Path) -> Vec<Vec<String>> {
    QUERIES.iter().map(|q| sql_rows(data, q)).collect()
}

/// The same events loaded in one `prov9 load`.
fn bulk_answers(dir: &Path, events: &[Vec<String>]) -> Vec<Vec<String>> {
    let file = dir.join("all.ndjson");
    std::fs::write(&file, events.concat().join("\n")).unwrap();
    let bulk = dir.join("bulk");
    let out = run(&bulk, &["load", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    answers(&bulk)
}

/// A `serve` that producers and a checker follow across restarts: (pg, http) ports, 0 while
/// it is down.
type Ports = Arc<Mutex<(u16, u16)>>;

/// Streams every event, one per request, retrying until it is acknowledged (a retried event
/// the server had already stored is recognised by its id).
fn produce(events: Vec<String>, ports: Ports, acknowledged: Arc<AtomicUsize>) {
    for event in events {
        let mut delay = Duration::from_millis(20);
        loop {
            let http_port = ports.lock().unwrap().1;
            let answer = (http_port != 0)
                .then(|| {
                    try_http(
                        http_port,
                        "POST",
                        "/api/v1/lineage",
                        &[("Content-Type", "application/json")],
                        event.as_bytes(),
                    )
                })
                .and_then(Result::ok);
            match answer {
                Some((201, _)) => break,
                Some((503, _)) | None => {}
                Some((status, body)) => panic!("{status}: {body}"),
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        acknowledged.fetch_add(1, Ordering::SeqCst);
    }
}

/// Asks [`TORN_ROWS`] over and over until `done`: every answer must be zero torn rows and at
/// least the events acknowledged before it was asked. Returns how many answers came.
fn check(ports: Ports, acknowledged: Arc<AtomicUsize>, done: Arc<AtomicBool>) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut answered = 0;
    while !done.load(Ordering::SeqCst) {
        let pg_port = ports.lock().unwrap().0;
        let acked_before = acknowledged.load(Ordering::SeqCst);
        let rows = (pg_port != 0)
            .then(|| {
                runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(
                        &format!("host=127.0.0.1 port={pg_port} user=prov9 dbname=prov9"),
                        tokio_postgres::NoTls,
                    )
                    .await
                    .ok()?;
                    tokio::spawn(connection);
                    client.simple_query(TORN_ROWS).await.ok()
                })
            })
            .flatten();
        match rows.as_deref().map(simple_rows).as_deref() {
            Some([row]) => {
                let torn = row[0].as_deref().unwrap();
                let events: usize = row[1].as_deref().unwrap().parse().unwrap();
                assert_eq!(torn, "0", "a query saw part of a batch ({events} events)");
                assert!(
                    events >= acked_before,
                    "{acked_before} events were acknowledged, a later query saw {events}"
                );
                answered += 1;
            }
            Some(other) => panic!("unexpected answer {other:?}"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    answered
}

/// Producers and a checker against `serve` (with `serve_args`) while `disturb` runs on the main
/// thread; then every event is there once and the answers equal a bulk load's.
fn stream_while(
    serve_args: &[&str],
    disturb: impl FnOnce(&Path, &mut Server, &Ports, &AtomicUsize),
) -> Vec<String> {
    const PRODUCERS: usize = 3;
    const RUNS: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let events: Vec<Vec<String>> = (0..PRODUCERS).map(|p| producer_events(p, RUNS)).collect();
    let total = PRODUCERS * RUNS * 2;
    let mut server = Server::start(&data, serve_args);
    let ports: Ports = Arc::new(Mutex::new((server.port, server.http_port)));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = events
        .iter()
        .cloned()
        .map(|e| {
            let (ports, acknowledged) = (ports.clone(), acknowledged.clone());
            std::thread::spawn(move || produce(e, ports, acknowledged))
        })
        .collect();
    let checker = {
        let (ports, acknowledged, done) = (ports.clone(), acknowledged.clone(), done.clone());
        std::thread::spawn(move || check(ports, acknowledged, done))
    };
    disturb(&data, &mut server, &ports, &acknowledged);
    for producer in producers {
        producer.join().expect("a producer failed");
    }
    // One more answer after the last acknowledgement.
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::SeqCst);
    let answered = checker.join().expect("the checker failed");
    assert!(
        answered > 0,
        "no query was answered while producers streamed"
    );
    assert_eq!(acknowledged.load(Ordering::SeqCst), total);
    assert_eq!(
        server_csv(
            server.port,
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ),
        [format!("{total},{total}")]
    );
    let sources = server_rows(
        server.port,
        "SELECT DISTINCT source FROM prov9_commits ORDER BY source",
    );
    server.stop();
    assert_eq!(answers(&data), bulk_answers(dir.path(), &events));
    sources.into_iter().map(Option::unwrap_or_default).collect()
}

#[test]
fn kill_9_during_fold_ins_and_compaction_loses_nothing_and_tears_no_batch() {
    let serve_args = [
        "--fold-every",
        "100ms",
        "--fold-events",
        "40",
        "--maintenance-every",
        "250ms",
        "--compact-files",
        "4",
    ];
    let sources = stream_while(&serve_args, |data, server, ports, acknowledged| {
        // Kill at moments spread over the stream: a fold-in or a compaction is usually running.
        let mut rng = fastrand_like(0x9e37_79b9);
        let compactions = |port| {
            server_rows(
                port,
                "SELECT count(*) FROM prov9_commits WHERE source = 'maintenance'",
            )[0]
            .clone()
            .unwrap_or_default()
        };
        for kill in 0..6 {
            let wait = 300 + rng() % 900;
            std::thread::sleep(Duration::from_millis(wait));
            if kill == 3 {
                // A machine busy with other tests may restart slower than the kills come: let
                // one compaction land before the next kill, so some kills follow compactions.
                let before = compactions(server.port);
                let deadline = Instant::now() + Duration::from_secs(30);
                while compactions(server.port) == before && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            *ports.lock().unwrap() = (0, 0);
            let started = Instant::now();
            server.kill_and_restart(data, &serve_args);
            *ports.lock().unwrap() = (server.port, server.http_port);
            eprintln!(
                "restarted after {wait} ms in {:.1} s; {} acknowledged",
                started.elapsed().as_secs_f64(),
                acknowledged.load(Ordering::SeqCst)
            );
        }
    });
    // Fold-ins and compactions ran between the kills.
    for source in ["http", "maintenance"] {
        assert!(sources.iter().any(|s| s == source), "{sources:?}");
    }
}

#[test]
fn another_process_compacting_during_live_ingest_changes_no_answer() {
    let serve_args = [
        "--fold-every",
        "100ms",
        "--fold-events",
        "40",
        "--no-maintenance",
    ];
    let sources = stream_while(&serve_args, |data, _, _, acknowledged| {
        let mut optimized = 0;
        while optimized < 4 || acknowledged.load(Ordering::SeqCst) < 300 {
            let out = run(data, &["optimize", "--no-progress"]);
            assert!(out.status.success(), "{}", stderr(&out));
            optimized += 1;
        }
    });
    assert!(sources.iter().any(|s| s == "maintenance"), "{sources:?}");
}

#[test]
fn kill_9_during_prov9_load_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let events: Vec<Vec<String>> = (0..2).map(|p| producer_events(p, 300)).collect();
    let file = dir.path().join("all.ndjson");
    std::fs::write(&file, events.concat().join("\n")).unwrap();
    let load = || {
        prov9()
            .arg("--data")
            .arg(&data)
            .args(["load", "--no-progress", "--batch-size", "25"])
            .arg(&file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = fastrand_like(0x85eb_ca6b);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let mut child = load();
        std::thread::sleep(Duration::from_millis(700 + rng() % 1500));
        let _ = child.kill();
        let _ = child.wait();
        let row = sql_rows(&data, TORN_ROWS).remove(0);
        let (torn, count) = row.split_once(',').unwrap();
        assert_eq!(torn, "0", "a batch was cut in part ({count} events)");
        seen.push(count.parse::<usize>().unwrap());
    }
    assert!(
        seen.iter().any(|&n| n > 0 && n < 1200),
        "no kill landed mid-load: {seen:?}"
    );
    let mut child = load();
    assert!(child.wait().unwrap().success());
    assert_eq!(answers(&data), bulk_answers(dir.path(), &events));
}

/// A small deterministic generator (xorshift), so a failing run can be repeated.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
