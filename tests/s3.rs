//! S3 through an S3-compatible server on loopback (moto's server): a warehouse in S3 (`prov9
//! load` and `prov9 sql` read and write it through object_store's client, and two writers
//! committing at once both land: Delta commits are conditional writes), and an event archive in
//! a bucket loaded into a local warehouse.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// moto's S3 server on a free loopback port with one bucket, stopped on drop.
struct S3 {
    child: Child,
    port: u16,
}

impl S3 {
    fn start() -> Option<S3> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Ok(child) = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            missing_client("python3 with moto[server] (pip install 'moto[server]')");
            return None;
        };
        let mut s3 = S3 { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(_)) = s3.child.try_wait() {
                missing_client("moto[server] (pip install 'moto[server]')");
                return None;
            }
            if let Ok((200, _)) = try_http(port, "PUT", "/prov9", &[], b"") {
                return Some(s3);
            }
            assert!(Instant::now() < deadline, "moto's server did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `prov9` with the server's endpoint and keys in its environment.
    fn client(&self) -> Command {
        let mut cmd = prov9();
        cmd.env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", self.port),
        )
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
        cmd
    }

    /// `prov9 --data s3://prov9/<prefix> ARGS`, with the server's endpoint and keys.
    fn prov9(&self, prefix: &str, args: &[&str]) -> Command {
        let mut cmd = self.client();
        cmd.arg("--data")
            .arg(format!("s3://prov9/{prefix}"))
            .args(args);
        cmd
    }

    fn rows(&self, prefix: &str, query: &str) -> Vec<String> {
        let out = self
            .prov9(prefix, &["sql", "--format", "csv", query])
            .output()
            .unwrap();
        assert!(out.status.success(), "{query}: {}", stderr(&out));
        stdout(&out).lines().skip(1).map(str::to_string).collect()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const COUNTS: &str = "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM runs) AS runs, \
    (SELECT count(*) FROM lineage_edges) AS edges, (SELECT count(*) FROM dataset_versions) AS versions";

fn local_counts(dir: &Path, files: &[&Path]) -> Vec<String> {
    let data = dir.join("local");
    for file in files {
        let out = run(&data, &["load", "--no-progress", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    sql_rows(&data, COUNTS)
}

#[test]
fn a_warehouse_in_s3_loads_answers_and_two_writers_lose_nothing() {
    let Some(s3) = S3::start() else { return };
    let dir = tempfile::tempdir().unwrap();

    // A missing warehouse is refused, not created.
    let out = s3.prov9("none", &["sql", COUNTS]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no warehouse at s3://prov9/none"),
        "{}",
        stderr(&out)
    );

    let demo = demo_file();
    let out = s3
        .prov9("one", &["load", "--no-progress", demo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = local_counts(dir.path(), &[&demo]);
    assert_eq!(s3.rows("one", COUNTS), expected);

    // Two loads into one new warehouse at the same moment, in small batches, so that their
    // commits race for the same versions: both finish and every row is there once.
    let text = std::fs::read_to_string(&demo).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let (first, second) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    std::fs::write(&first, a.join("\n")).unwrap();
    std::fs::write(&second, b.join("\n")).unwrap();
    let loads: Vec<Child> = [&first, &second]
        .iter()
        .map(|file| {
            s3.prov9(
                "two",
                &[
                    "load",
                    "--no-progress",
                    "--batch-size",
                    "5",
                    file.to_str().unwrap(),
                ],
            )
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for load in loads {
        let out = load.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // No commit was lost: every event once, every run, every edge, every dataset version.
    // (A row both writers create as new at the same moment, a dataset first seen by both, can
    // be stored twice: README, "Two writers".)
    let distinct = "SELECT (SELECT count(*) FROM events) AS events, \
        (SELECT count(DISTINCT event_id) FROM events) AS ids, (SELECT count(*) FROM runs) AS runs, \
        (SELECT count(*) FROM lineage_edges) AS edges, \
        (SELECT count(DISTINCT version_id) FROM dataset_versions) AS versions";
    assert_eq!(
        s3.rows("two", distinct),
        sql_rows(&dir.path().join("local"), distinct)
    );
}

/// An event archive in a bucket, as OpenLineage's S3 transport writes it (one event per object,
/// keys in time order) with an NDJSON.gz object among them: `prov9 load s3://bucket/prefix/`.
#[test]
fn an_event_archive_in_a_bucket_loads_once_in_key_order() {
    let Some(s3) = S3::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let put = |key: &str, body: &[u8]| {
        let (status, answer) = http(s3.port, "PUT", &format!("/prov9/{key}"), &[], body);
        assert_eq!(status, 200, "PUT {key}: {answer}");
    };
    let demo = std::fs::read_to_string(demo_file()).unwrap();
    let lines: Vec<&str> = demo.lines().filter(|l| !l.trim().is_empty()).collect();
    let (single, rest) = lines.split_at(lines.len() / 2);
    for (i, line) in single.iter().enumerate() {
        // Pretty-printed, as a transport's debug mode writes them.
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = serde_json::to_string_pretty(&value).unwrap();
        put(
            &format!("archive/{:013}.json", 1_780_000_000_000u64 + i as u64),
            text.as_bytes(),
        );
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, rest.join("\n").as_bytes()).unwrap();
    put("archive/zz-rest.ndjson.gz", &gzip.finish().unwrap());
    put("archive/README.txt", b"not events: skipped by its name");

    let load = |data: &Path, url: &str| {
        // The warehouse is local; only the input is in the bucket.
        s3.client()
            .args([
                "--data",
                data.to_str().unwrap(),
                "load",
                "--no-progress",
                url,
            ])
            .output()
            .unwrap()
    };
    let data = dir.path().join("wh");
    let out = load(&data, "s3://prov9/archive/");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("loaded {} files", single.len() + 1)),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        sql_rows(&data, COUNTS),
        local_counts(dir.path(), &[&demo_file()])
    );
    // Where each event came from: the object, and its line inside it.
    let sources = sql_rows(
        &data,
        "SELECT source FROM events WHERE source LIKE 's3://prov9/archive/zz-rest.ndjson.gz:%' ORDER BY source LIMIT 1",
    );
    assert_eq!(sources, vec!["s3://prov9/archive/zz-rest.ndjson.gz:1"]);

    // Loaded again: nothing new.
    let out = load(&data, "s3://prov9/archive/");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(" 0 new;"), "{}", stdout(&out));

    // A broken object is named with its line; an empty prefix says there is nothing to load.
    put(
        "bad/0001.json",
        b"{\"eventType\": \"START\",\n  \"eventTime\": ",
    );
    let out = load(&data, "s3://prov9/bad/");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("s3://prov9/bad/0001.json:2: invalid JSON"),
        "{}",
        stderr(&out)
    );
    let out = load(&data, "s3://prov9/nothing-here/");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("s3://prov9/nothing-here/: no loadable files"),
        "{}",
        stderr(&out)
    );
}
