//! A warehouse written by an older prov9 (tests/fixtures/warehouse-schema-v1, before the schema
//! gained the standard-facet columns and `quality_checks`) opens with today's prov9: it gains
//! the new columns in place, its rows read, look up and trace as before, and new events land.

use std::path::Path;

use crate::common::*;

fn log_entries(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}

#[test]
fn an_old_warehouse_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warehouse-schema-v1"),
        &data,
    );
    let jobs_log = log_entries(&data.join("jobs"));

    // The old rows, with the new columns NULL.
    assert_eq!(
        sql_rows(
            &data,
            "SELECT count(*), count(integration), count(sql) FROM jobs"
        ),
        ["8,0,0"]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT count(*), count(root_run_id), count(tags) FROM runs"
        ),
        ["17,0,0"]
    );
    assert_eq!(
        sql_rows(&data, "SELECT count(*), count(dataset_type) FROM datasets"),
        ["8,0"]
    );
    assert_eq!(
        sql_rows(&data, "SELECT count(*) FROM quality_checks"),
        ["0"]
    );
    // One metadata commit added the columns; opening again adds none.
    assert_eq!(log_entries(&data.join("jobs")), jobs_log + 1);
    sql_rows(&data, "SELECT 1");
    assert_eq!(log_entries(&data.join("jobs")), jobs_log + 1);

    // A point lookup (the key index reads single rows from the old files) and the lineage index.
    let run_id = sql_rows(&data, "SELECT run_id FROM runs WHERE state = 'FAIL'").remove(0);
    assert_eq!(
        sql_rows(
            &data,
            &format!("SELECT state, root_run_id IS NULL FROM runs WHERE run_id = '{run_id}'")
        ),
        ["FAIL,true"]
    );
    let model = sql_rows(
        &data,
        "SELECT version_id FROM model_versions ORDER BY version_id",
    )
    .remove(0);
    let upstream = sql_rows(
        &data,
        &format!("SELECT count(*) FROM lineage_upstream('{model}')"),
    );
    assert_ne!(upstream, ["0"], "{model} has upstream");

    // Travelling back to before the upgrade reads the old table versions in today's columns.
    let loaded = sql_rows(
        &data,
        "SELECT committed_at FROM prov9_commits WHERE source = 'load'",
    )
    .remove(0);
    assert_eq!(
        sql_rows(
            &data,
            "SELECT source FROM prov9_commits ORDER BY commit_id DESC LIMIT 1"
        ),
        ["upgraded"]
    );
    let as_of = |query: &str| {
        let out = run(
            &data,
            &["sql", "--format", "csv", "--as-of", &loaded, query],
        );
        assert!(out.status.success(), "{query}: {}", stderr(&out));
        stdout(&out)
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(as_of("SELECT count(*), count(tags) FROM runs"), ["17,0"]);
    // A filter on a column the old version lacks is answered above the scan.
    assert_eq!(
        as_of("SELECT count(*) FROM runs WHERE tags IS NULL AND root_run_id IS NULL"),
        ["17"]
    );
    assert_eq!(
        as_of(&format!(
            "SELECT state, tags FROM runs WHERE run_id = '{run_id}'"
        )),
        ["FAIL,"]
    );

    // New events fill the new columns next to the old rows.
    let events = dir.path().join("new.ndjson");
    std::fs::write(
        &events,
        r#"{"eventType":"COMPLETE","eventTime":"2026-12-01T00:00:00Z","producer":"t","run":{"runId":"01937a4c-0000-7000-8000-000000000001","facets":{"parent":{"run":{"runId":"01937a4c-0000-7000-8000-000000000000"},"job":{"namespace":"airflow","name":"dag"}}}},"job":{"namespace":"airflow","name":"dag.task","facets":{"jobType":{"processingType":"BATCH","integration":"AIRFLOW","jobType":"TASK"}}},"inputs":[{"namespace":"postgres://db:5432","name":"shop.public.orders","inputFacets":{"dataQualityAssertions":{"assertions":[{"assertion":"not_null","success":false,"column":"id"}]}}}],"outputs":[]}
"#,
    )
    .unwrap();
    let out = run(&data, &["load", events.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sql_rows(&data, "SELECT count(*), count(integration) FROM jobs"),
        ["9,1"]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT assertion, column_name, success FROM quality_checks"
        ),
        ["not_null,id,false"]
    );
    assert_eq!(
        sql_rows(
            &data,
            "SELECT count(*) FROM lineage_edges WHERE edge_type = 'parent'"
        ),
        ["1"]
    );

    // An old row updated: the MERGE rewrites a file written before the upgrade.
    let uuid = run_id.trim_start_matches("run:");
    let job = sql_rows(
        &data,
        &format!("SELECT j.namespace, j.name FROM runs r JOIN jobs j USING (job_id) WHERE r.run_id = '{run_id}'"),
    )
    .remove(0);
    let (namespace, name) = job.split_once(',').unwrap();
    std::fs::write(
        &events,
        format!(
            r#"{{"eventType":"OTHER","eventTime":"2026-12-02T00:00:00Z","producer":"t","run":{{"runId":"{uuid}","facets":{{"tags":{{"tags":[{{"key":"reviewed","value":"yes"}}]}}}}}},"job":{{"namespace":"{namespace}","name":"{name}"}},"inputs":[],"outputs":[]}}"#
        ),
    )
    .unwrap();
    let out = run(&data, &["load", events.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sql_rows(
            &data,
            &format!("SELECT state, tags LIKE '%reviewed%' FROM runs WHERE run_id = '{run_id}'")
        ),
        ["FAIL,true"]
    );
    assert_eq!(
        sql_rows(&data, "SELECT count(*), count(tags) FROM runs"),
        ["18,1"]
    );
}
