//! NDJSON written by the real OpenLineage Python client (file transport) for a two-day,
//! Airflow-like pipeline: load it and check what SQL says about it.

use std::process::Command;

use crate::common::*;

fn generate(out: &std::path::Path, per_file: bool) -> bool {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python/airflow_like_pipeline.py");
    let has_client = Command::new("python3")
        .args(["-c", "import openlineage.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_client {
        return !missing_client("python3 with openlineage-python (pip install openlineage-python)");
    }
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    if per_file {
        cmd.arg("--files");
    }
    let status = cmd.arg(out).status().unwrap();
    assert!(status.success(), "the generator failed");
    true
}

#[test]
fn two_day_pipeline_from_the_python_client() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openlineage.ndjson");
    if !generate(&file, false) {
        return;
    }
    let data = dir.path().join("wh");
    let out = run(&data, &["load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Runs: one row per run in its latest state; day 2's failed attempt keeps its error.
    assert_eq!(
        sql_rows(
            &data,
            "SELECT j.name, r.state, count(*) FROM runs r JOIN jobs j USING (job_id) GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        vec![
            "orders_dag.clean_orders,COMPLETE,2",
            "orders_dag.clean_orders,FAIL,1",
            "orders_dag.extract_orders,COMPLETE,2",
            "orders_dag.train_churn,COMPLETE,2",
        ]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT error_message, ended_at > started_at FROM runs WHERE state = 'FAIL'"
        ),
        vec!["psycopg2.OperationalError: server closed the connection unexpectedly,true"]
    );
    assert_eq!(
        sql_rows(&data, "SELECT code_version FROM runs GROUP BY code_version"),
        vec!["a1b2c3d"]
    );

    // Datasets and their versions, with row counts, linked in order.
    assert_eq!(
        sql_rows(&data, "SELECT namespace, name FROM datasets ORDER BY name"),
        vec![
            "s3://acme-warehouse,clean/orders",
            "postgres://shop-db:5432,public.orders",
            "s3://acme-warehouse,raw/orders"
        ]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT v.row_count, v.previous_version_id IS NULL, v.version_origin FROM dataset_versions v \
             WHERE v.dataset_id = 'dataset:s3://acme-warehouse:raw/orders' ORDER BY v.created_at"
        ),
        vec!["1000,true,run", "2000,false,run"]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT row_count FROM dataset_versions WHERE dataset_id LIKE '%clean/orders' ORDER BY created_at"
        ),
        vec!["990", "1980"]
    );

    // Column lineage, version to version.
    assert_eq!(
        sql_rows(
            &data,
            "SELECT src_column, dst_column, transformation, count(*) FROM column_lineage GROUP BY 1, 2, 3 ORDER BY 1"
        ),
        vec![
            "amount,amount,\"round(amount, 2)\",2",
            "customer_id,customer_id,identity,2"
        ]
    );

    // Version-exact recursive lineage: day 2's model comes from day 2's raw data only.
    let upstream = "WITH RECURSIVE up(node_id) AS ( \
            SELECT version_id FROM model_versions WHERE name = 'churn' AND version = '2' \
            UNION SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node_id) \
        SELECT n.kind, n.name, n.created_at FROM up JOIN lineage_nodes n USING (node_id) \
        WHERE n.kind = 'dataset_version' ORDER BY n.name";
    assert_eq!(
        sql_rows(&data, upstream),
        vec![
            "clean/orders,2026-11-02T02:25:00Z",
            "public.orders,2026-11-01T02:00:00Z",
            "raw/orders,2026-11-02T02:05:00Z",
        ]
        .into_iter()
        .map(|s| format!("dataset_version,{s}"))
        .collect::<Vec<_>>()
    );

    // Training facet: model versions with hyperparameters, reachable through JSON operators.
    assert_eq!(
        sql_rows(
            &data,
            "SELECT version, hyperparameters->>'max_iter', architecture FROM model_versions ORDER BY version"
        ),
        vec!["1,100,logistic_regression", "2,200,logistic_regression"]
    );

    // Loading again changes nothing.
    let before = snapshot(&data);
    let out = run(&data, &["load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 new"), "{}", stdout(&out));
    assert!(before == snapshot(&data), "reloading changed the warehouse");
}

/// The file transport's default mode: one (here pretty-printed) `.json` file per event. The same
/// events load to the same rows, with the same ids: an event's id hashes its canonical JSON.
#[test]
fn one_file_per_event_loads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openlineage.ndjson");
    let per_event = dir.path().join("events");
    std::fs::create_dir_all(&per_event).unwrap();
    if !generate(&file, false) || !generate(&per_event.join("ol"), true) {
        return;
    }
    assert_eq!(std::fs::read_dir(&per_event).unwrap().count(), 14);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(run(&a, &["load", file.to_str().unwrap()]).status.success());
    let out = run(&b, &["load", per_event.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("loaded 14 files: 14 events read, 14 new"),
        "{}",
        stdout(&out)
    );
    let ids = "SELECT event_id FROM events ORDER BY event_id";
    assert_eq!(sql_rows(&a, ids), sql_rows(&b, ids));
    for table in [
        "runs",
        "dataset_versions",
        "lineage_edges",
        "column_lineage",
        "model_versions",
    ] {
        let q = format!("SELECT count(*) FROM {table}");
        assert_eq!(sql_rows(&a, &q), sql_rows(&b, &q), "{table}");
    }
    // A pretty-printed file cut short names its file and line.
    let first = std::fs::read_dir(&per_event)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, &text[..text.len() / 2]).unwrap();
    let out = run(&dir.path().join("c"), &["load", first.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{}:", first.display()))
            && stderr(&out).contains("invalid JSON"),
        "{}",
        stderr(&out)
    );
}
