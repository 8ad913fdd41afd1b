//! A real dbt project (tests/dbt/shop, DuckDB) run by OpenLineage's `dbt-ol`, sending its events
//! to `prov9 serve` over HTTP: models become jobs with their SQL, dbt's job types and column
//! lineage; each test's result becomes a `quality_checks` row on the version it tested (one
//! `not_null` fails on purpose); and the README's "trained on data that failed a check?" query
//! finds the model version a training run made from that data.
//!
//! dbt-ol comes from `DBT_OL` (a path) or PATH; .ci/run installs it into a virtualenv of its own.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::readme::sql_blocks;

#[test]
fn dbt_ol_sends_models_tests_and_their_results() {
    let Some(dbt_ol) = venv_tool("DBT_OL", "dbt-ol") else {
        assert!(missing_client(
            "dbt-ol (pip install -r tests/dbt/requirements.txt)"
        ));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &[]);
    let project = dir.path().join("shop");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dbt/shop"),
        &project,
    );

    let out = Command::new(&dbt_ol)
        .args(["build", "--profiles-dir", ".", "--project-dir", "."])
        .current_dir(&project)
        .env("PATH", path_with_folder_of(&dbt_ol))
        .env("SHOP_DUCKDB", project.join("shop.duckdb"))
        .env(
            "OPENLINEAGE_URL",
            format!("http://127.0.0.1:{}", server.http_port),
        )
        .env("OPENLINEAGE_NAMESPACE", "shop")
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .expect("dbt-ol runs");
    let log = format!("{}\n{}", stdout(&out), stderr(&out));
    // One test fails on purpose, so dbt (and dbt-ol) exit 1; the events are sent regardless.
    assert!(log.contains("PASS=9") && log.contains("ERROR=1"), "{log}");
    assert!(log.contains("Emitted 10 OpenLineage events"), "{log}");

    let rows = |q: &str| server_csv(server.port, q);
    assert_eq!(
        rows(
            "SELECT integration_job_type, count(*), count(sql) FROM jobs \
              WHERE integration = 'DBT' GROUP BY 1 ORDER BY 1"
        ),
        ["JOB,1,0", "MODEL,2,2", "TEST,2,0"]
    );
    // The model's SQL, compiled, and its column lineage from the seed.
    let sql = rows("SELECT sql FROM jobs WHERE name LIKE '%customer_features.build.run'");
    assert!(sql[0].contains("left join"), "{sql:?}");
    assert!(
        !rows("SELECT * FROM column_lineage WHERE dst_column = 'spend'").is_empty(),
        "spend comes from orders.amount"
    );

    // Six assertions, sent on the test runs' START and end alike, recorded once each, on the
    // version of the model the test read.
    assert_eq!(
        rows(
            "SELECT d.name, q.assertion, q.column_name, q.success, q.severity, q.actual, q.expected \
              FROM quality_checks q JOIN dataset_versions v ON v.version_id = q.dataset_version_id \
              JOIN datasets d ON d.dataset_id = v.dataset_id \
              ORDER BY d.name, q.column_name, q.assertion"
        ),
        [
            "shop.main.customer_features,not_null,customer_id,t,error,0,0",
            "shop.main.customer_features,unique,customer_id,t,error,0,0",
            "shop.main.customer_features,not_null,email,f,error,1,0",
            "shop.main.orders,not_null,order_id,t,error,0,0",
            "shop.main.orders,unique,order_id,t,error,0,0",
            "shop.main.orders,accepted_values,status,t,error,0,0",
        ]
    );
    assert_eq!(
        rows(
            "SELECT count(*) FROM quality_checks q JOIN dataset_versions v \
              ON v.version_id = q.dataset_version_id WHERE v.version_origin <> 'run'"
        ),
        ["0"],
        "every check is on a version a dbt model run wrote"
    );
    // dbt's run is the parent of every node's run.
    assert_eq!(
        rows("SELECT count(*) FROM lineage_edges WHERE edge_type = 'parent'"),
        ["4"]
    );

    // A training run reads the features the failed check was on: the README's query finds it.
    let features =
        rows("SELECT namespace FROM datasets WHERE name = 'shop.main.customer_features'").remove(0);
    let training = serde_json::json!({
        "eventType": "COMPLETE", "eventTime": chrono::Utc::now().to_rfc3339(),
        "producer": "tests/dbt.rs",
        "run": {"runId": "01937a4c-0000-7000-8000-0000000000aa", "facets": {
            "prov9_training": {"model": {"name": "churn", "version": "7"}}}},
        "job": {"namespace": "ml", "name": "train_churn"},
        "inputs": [{"namespace": features, "name": "shop.main.customer_features"}],
        "outputs": []
    });
    let (status, body) = post(server.http_port, &[], &training.to_string());
    assert_eq!(status, 201, "{body}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let query = sql_blocks(&readme)
        .into_iter()
        .find(|b| {
            b.not_run
                .as_deref()
                .is_some_and(|r| r.contains("tests/dbt.rs"))
        })
        .expect("the README's failed-checks query");
    assert_eq!(rows(&query.text), ["churn,7,not_null email"]);
}
