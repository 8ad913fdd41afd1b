//! `prov9 load mlruns/`, `prov9 load mlflow.db` and `prov9 load postgresql://…`: MLflow stores
//! written by the real MLflow library (its file store, and its tracking database on SQLite and
//! on PostgreSQL) are imported, and MLflow's own API agrees with prov9's SQL on every run, param,
//! tag, metric point, dataset input and model (tests/python/mlflow_history.py does the comparing
//! over psycopg).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mlflow_history.py")
}

/// `python3 mlflow_history.py ARGS`; its stdout, after asserting it succeeded.
fn mlflow_history(args: &[&str]) -> String {
    mlflow_history_in(Path::new("."), args)
}

/// [`mlflow_history`] run in `dir`: a tracking database's artifacts go to `dir/mlruns`.
fn mlflow_history_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mlflow_history.py {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn have_mlflow() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mlflow, psycopg"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok || !missing_client(
        "python3 with mlflow and psycopg (pip install -r tests/python/requirements.txt)",
    )
}

fn load(data: &Path, store: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["load", "--no-progress"];
    args.extend_from_slice(extra);
    args.push(store.to_str().unwrap());
    run(data, &args)
}

/// "… 36 events read, 5 new; …" -> 5
fn new_events(summary: &str) -> usize {
    let before = summary.split(" new;").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn mlflow_store_imports_whole_and_again_only_what_is_new() {
    if !have_mlflow() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("mlruns");
    let data = dir.path().join("wh");
    mlflow_history(&["generate", store.to_str().unwrap()]);

    let out = load(&data, &store, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out);
    assert!(first.starts_with("loaded 9 MLflow runs"), "{first}");

    let server = Server::start(&data, &[]);
    let agreed = mlflow_history(&["check", store.to_str().unwrap(), &server.conn_str()]);
    eprintln!("{agreed}");
    // The comparison covered real data, not empty sets.
    assert_whole_history(&agreed);
    // Lineage reaches from the dataset MLflow logged, through the run, to both models.
    assert_eq!(
        sql_rows(
            &data,
            "SELECT e.src, m.name FROM lineage_edges e JOIN lineage_edges o ON o.src = e.dst \
             JOIN model_versions m ON m.version_id = o.dst \
             WHERE e.src LIKE 'dataset:s3://ml-data:fraud/train.parquet@%' ORDER BY m.name"
        )
        .iter()
        .map(|r| r.split_once(',').unwrap().1)
        .collect::<Vec<_>>(),
        vec!["fraud-detection/model", "fraud-detector"]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT job_type FROM jobs WHERE name = 'fraud-detection'"
        ),
        vec!["training"]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT code_version FROM runs WHERE (environment->'mlflow'->>'runName') = 'baseline'"
        ),
        vec!["8c1f0e2a9b"]
    );

    // Importing the same store again adds nothing at all.
    let before = snapshot(&data);
    let out = load(&data, &store, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(new_events(&stdout(&out)), 0, "{}", stdout(&out));
    assert!(
        before == snapshot(&data),
        "a repeated import changed the warehouse"
    );

    // More history later: only the new run and the new metric points come in.
    mlflow_history(&["extend", store.to_str().unwrap()]);
    let out = load(&data, &store, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let agreed = mlflow_history(&["check", store.to_str().unwrap(), &server.conn_str()]);
    assert_extended(&stdout(&out), &agreed);
}

#[test]
fn bad_mlflow_files_are_named_and_lose_nothing_else() {
    if !have_mlflow() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("mlruns");
    mlflow_history(&["generate", store.to_str().unwrap()]);
    // A crash mid-write cut a metric line; another run lost its meta.yaml.
    let runs = |name: &str| -> PathBuf {
        let hit = walk(&store)
            .into_iter()
            .find(|p| {
                p.ends_with("tags/mlflow.runName") && std::fs::read_to_string(p).unwrap() == name
            })
            .unwrap_or_else(|| panic!("run {name} not in the store"));
        hit.parent().unwrap().parent().unwrap().to_path_buf()
    };
    let baseline = runs("baseline");
    let loss = baseline.join("metrics/loss");
    let text = std::fs::read_to_string(&loss).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = format!("{}\n{}", lines[..10].join("\n"), &lines[10][..8]);
    std::fs::write(&loss, cut).unwrap();
    let broken = runs("broken");
    std::fs::remove_file(broken.join("meta.yaml")).unwrap();

    // By default the load stops at the first, naming file and line; nothing is half-stored.
    let data = dir.path().join("wh");
    let out = load(&data, &store, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let bad = [
        (
            format!("{}:11", loss.display()),
            "expected `TIMESTAMP VALUE STEP`",
        ),
        (broken.join("meta.yaml").display().to_string(), "missing"),
    ];
    assert!(
        bad.iter()
            .any(|(at, why)| err.contains(&format!("{at}: {why}"))),
        "{err}"
    );
    assert_eq!(sql_rows(&data, "SELECT count(*) FROM runs"), vec!["0"]);

    // With --max-errors the two runs are set aside and every other run loads.
    let rejects = dir.path().join("rejects.ndjson");
    let out = load(
        &data,
        &store,
        &["--max-errors", "2", "--rejects", rejects.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 rejected"), "{}", stdout(&out));
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    let rejected: Vec<serde_json::Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (at, why) in &bad {
        assert!(
            rejected
                .iter()
                .any(|r| r["location"] == at.as_str()
                    && r["error"].as_str().unwrap().starts_with(why)),
            "{rejected:?}"
        );
    }
    assert_eq!(sql_rows(&data, "SELECT count(*) FROM runs"), vec!["7"]);
    let baseline_id = baseline.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        sql_rows(
            &data,
            &format!("SELECT count(*) FROM runs WHERE run_id = 'run:{baseline_id}'")
        ),
        vec!["0"]
    );

    // Repaired, the store loads the rest; nothing loaded before is doubled.
    std::fs::write(&loss, text).unwrap();
    let out = load(&data, &store, &["--format", "mlflow"]);
    assert!(!out.status.success(), "the meta.yaml is still missing");
    let out = load(
        &data,
        &store,
        &["--max-errors", "1", "--rejects", rejects.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sql_rows(&data, "SELECT count(*) FROM runs"), vec!["8"]);
    assert_eq!(
        sql_rows(
            &data,
            "SELECT count(*) = count(DISTINCT event_id) FROM events"
        ),
        vec!["true"]
    );

    // --format mlflow on something else says what it expected.
    let out = load(&data, dir.path(), &["--format", "mlflow"]);
    assert!(
        stderr(&out).contains("not an MLflow store"),
        "{}",
        stderr(&out)
    );
}

/// What `check` must report for the history `generate` writes, whatever the store.
fn assert_whole_history(agreed: &str) {
    assert!(
        agreed.contains("4 experiments, 9 runs (2 deleted)")
            && agreed.contains("5690 metric points")
            && agreed.contains(
                "1 dataset inputs, 1 model inputs, 1 logged models, 1 registered model versions"
            ),
        "{agreed}"
    );
}

/// After `extend`: the load took only the new run and the new points, and MLflow agrees.
fn assert_extended(summary: &str, agreed: &str) {
    assert!(
        summary.contains("metrics +1230,") && summary.contains("runs +1;"),
        "{summary}"
    );
    assert!(
        agreed.contains("10 runs (2 deleted)") && agreed.contains("6920 metric points"),
        "{agreed}"
    );
}

#[test]
fn mlflow_sqlite_database_imports_whole_and_again_only_what_is_new() {
    if !have_mlflow() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mlflow.db");
    // MLflow's default tracking URI since 3.7, here with an absolute path.
    let uri = format!("sqlite:///{}", db.display());
    mlflow_history_in(dir.path(), &["generate", &uri]);
    let data = dir.path().join("wh");

    // The file as it is, no URI needed.
    let out = load(&data, &db, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("loaded 9 MLflow runs"),
        "{}",
        stdout(&out)
    );
    let server = Server::start(&data, &[]);
    let agreed = mlflow_history_in(dir.path(), &["check", &uri, &server.conn_str()]);
    eprintln!("{agreed}");
    assert_whole_history(&agreed);
    // Read from the database's own tables: the logged model's params (logged_model_params), its
    // flavor (the MLmodel file in its artifact location), and the registered version's source
    // logged model, with the table and key it was read from.
    assert_eq!(
        sql_rows(
            &data,
            "SELECT name, framework, hyperparameters->>'max_depth' FROM model_versions \
             WHERE namespace = 'mlflow' ORDER BY name"
        ),
        vec![
            "fraud-detection/model,python_function,8",
            "fraud-detector,,"
        ]
    );
    let registry = sql_rows(
        &data,
        "SELECT source, payload->'run'->'facets'->'prov9_training'->'mlflowRegistry'->>'loggedModelId' \
         FROM events WHERE source LIKE '%:model_versions/%'",
    );
    assert_eq!(registry.len(), 1, "{registry:?}");
    let (source, logged_model) = registry[0].split_once(',').unwrap();
    assert_eq!(
        source,
        format!("{}:model_versions/fraud-detector/1", db.display())
    );
    assert!(logged_model.starts_with("m-"), "{logged_model}");

    // Again by its tracking URI: nothing new, nothing rewritten.
    let before = snapshot(&data);
    let out = load(&data, Path::new(&uri), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(new_events(&stdout(&out)), 0, "{}", stdout(&out));
    assert!(
        before == snapshot(&data),
        "a repeated import changed the warehouse"
    );

    // More history later: only the new run and the new metric points come in.
    mlflow_history_in(dir.path(), &["extend", &uri]);
    let out = load(&data, &db, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let agreed = mlflow_history_in(dir.path(), &["check", &uri, &server.conn_str()]);
    assert_extended(&stdout(&out), &agreed);

    // The artifact root beside the database holds a model's JSON examples: not events.
    let fresh = dir.path().join("wh2");
    let out = load(&fresh, dir.path(), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("MLflow artifacts") && err.contains(&format!("prov9 load {}", db.display())),
        "{err}"
    );
    // A SQLite database that is not MLflow's.
    let other = dir.path().join("other.sqlite");
    let made = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('create table t(x)')",
        ])
        .arg(&other)
        .status()
        .unwrap();
    assert!(made.success());
    let out = load(&fresh, &other, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "{}: a SQLite database, but not an MLflow tracking store",
            other.display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn mlflow_postgresql_database_imports_like_its_sqlite() {
    if !have_mlflow() {
        return;
    }
    // As managed PostgreSQL runs: TLS only, so every connection below is encrypted.
    let Some(postgres) = TempPostgres::start_tls_only() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // As MLflow users write it: SQLAlchemy's dialect+driver form, libpq's TLS settings.
    let uri = format!(
        "postgresql+psycopg://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        postgres.port,
        postgres.ca_file().display()
    );
    mlflow_history_in(dir.path(), &["generate", &uri]);
    let data = dir.path().join("wh");
    let out = load(&data, Path::new(&uri), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("loaded 9 MLflow runs"),
        "{}",
        stdout(&out)
    );
    let server = Server::start(&data, &[]);
    let agreed = mlflow_history_in(dir.path(), &["check", &uri, &server.conn_str()]);
    eprintln!("{agreed}");
    assert_whole_history(&agreed);

    // A database that is not there: the error names it, without a password.
    let wrong = format!(
        "postgresql://postgres:hunter2@127.0.0.1:{}/nosuchdb",
        postgres.port
    );
    let out = load(&data, Path::new(&wrong), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "postgresql://postgres:***@127.0.0.1:{}/nosuchdb: cannot connect",
            postgres.port
        )) && !err.contains("hunter2"),
        "{err}"
    );
}

/// libpq's `sslmode` meanings against a server that refuses unencrypted connections: what
/// connects says the (empty) database is not MLflow's; what does not says why.
#[test]
fn mlflow_postgresql_connects_as_sslmode_says() {
    let Some(postgres) = TempPostgres::start_tls_only() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let ca = postgres.ca_file().display().to_string();
    let port = postgres.port;
    let attempt = |host: &str, query: &str| -> String {
        let uri = format!("postgresql://postgres@{host}:{port}/postgres{query}");
        let out = load(&data, Path::new(&uri), &[]);
        assert!(
            !out.status.success(),
            "{uri}: an empty database is not MLflow's"
        );
        stderr(&out)
    };
    let connected = "not an MLflow tracking store";
    for (host, query) in [
        ("127.0.0.1", ""), // prefer: TLS when offered
        ("127.0.0.1", "?sslmode=require"),
        ("127.0.0.1", &format!("?sslmode=verify-ca&sslrootcert={ca}")), // the CA, any name
        (
            "localhost",
            &format!("?sslmode=verify-full&sslrootcert={ca}"),
        ),
        (
            "localhost",
            &format!("?sslrootcert={ca}&application_name=prov9&sslmode=require"),
        ),
    ] {
        let err = attempt(host, query);
        assert!(err.contains(connected), "{host}{query}: {err}");
    }
    for (host, query, why) in [
        ("127.0.0.1", "?sslmode=disable".to_string(), "no encryption"),
        // The certificate names localhost, not 127.0.0.1.
        (
            "127.0.0.1",
            format!("?sslmode=verify-full&sslrootcert={ca}"),
            "certificate",
        ),
        // The system's CAs did not sign it.
        (
            "localhost",
            "?sslmode=verify-full".to_string(),
            "certificate",
        ),
        (
            "localhost",
            "?sslmode=verify-always".to_string(),
            "sslmode=verify-always is not one of",
        ),
        (
            "localhost",
            "?sslmode=require&sslrootcert=/nowhere/ca.crt".to_string(),
            "sslrootcert /nowhere/ca.crt",
        ),
    ] {
        let err = attempt(host, &query);
        assert!(
            !err.contains(connected) && err.contains(why),
            "{host}{query}: {err}"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
