//! Lineage across job hierarchies, through SQL: an Airflow-shaped task run reads a CSV and its
//! child query run writes a table. The table's upstream reaches the CSV through the `parent`
//! edge, in the table functions and in both `WITH RECURSIVE` paths, and a recursion that leaves
//! `parent` edges out stops at the query run.

use crate::common::*;

const TABLE: &str =
    "dataset:postgres://db:5432:shop.public.orders@01937a4c-0000-7000-8000-0000000000c1";
const CSV: &str = "dataset:file:/data/orders.csv@unversioned";

fn events() -> String {
    let parent = |run: &str, job: &str| {
        format!(
            r#""parent":{{"run":{{"runId":"{run}"}},"job":{{"namespace":"airflow","name":"{job}"}},"root":{{"run":{{"runId":"01937a4c-0000-7000-8000-0000000000a1"}},"job":{{"namespace":"airflow","name":"shop"}}}}}}"#
        )
    };
    [
        r#"{"eventType":"COMPLETE","eventTime":"2026-03-01T00:00:00Z","producer":"t","run":{"runId":"01937a4c-0000-7000-8000-0000000000a1"},"job":{"namespace":"airflow","name":"shop"},"inputs":[],"outputs":[]}"#.to_string(),
        format!(
            r#"{{"eventType":"COMPLETE","eventTime":"2026-03-01T00:05:00Z","producer":"t","run":{{"runId":"01937a4c-0000-7000-8000-0000000000b1","facets":{{{}}}}},"job":{{"namespace":"airflow","name":"shop.load"}},"inputs":[{{"namespace":"file","name":"/data/orders.csv"}}],"outputs":[]}}"#,
            parent("01937a4c-0000-7000-8000-0000000000a1", "shop")
        ),
        format!(
            r#"{{"eventType":"COMPLETE","eventTime":"2026-03-01T00:04:00Z","producer":"t","run":{{"runId":"01937a4c-0000-7000-8000-0000000000c1","facets":{{{}}}}},"job":{{"namespace":"airflow","name":"shop.load.query.1"}},"inputs":[],"outputs":[{{"namespace":"postgres://db:5432","name":"shop.public.orders"}}]}}"#,
            parent("01937a4c-0000-7000-8000-0000000000b1", "shop.load")
        ),
    ]
    .join("\n")
}

#[test]
fn a_tables_upstream_reaches_what_its_parent_task_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let file = dir.path().join("dag.ndjson");
    std::fs::write(&file, events()).unwrap();
    let out = run(&data, &["load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let functions = sql_rows(
        &data,
        &format!("SELECT node, edge_type FROM lineage_upstream('{TABLE}') ORDER BY depth, node"),
    );
    assert_eq!(
        functions,
        [
            "run:01937a4c-0000-7000-8000-0000000000c1,output".to_string(),
            "run:01937a4c-0000-7000-8000-0000000000b1,parent".to_string(),
            format!("{CSV},input"),
            "run:01937a4c-0000-7000-8000-0000000000a1,parent".to_string(),
        ]
    );
    // The closure form (one traversal over the index) and a recursion with a depth column
    // (hop by hop) give the same nodes.
    let closure = sql_rows(
        &data,
        &format!(
            "WITH RECURSIVE up(node) AS (SELECT '{TABLE}' UNION \
             SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node) \
             SELECT node FROM up WHERE node LIKE 'dataset:%' ORDER BY node"
        ),
    );
    assert_eq!(closure, [CSV.to_string(), TABLE.to_string()]);
    let by_hops = sql_rows(
        &data,
        &format!(
            "WITH RECURSIVE up(node, depth) AS (SELECT '{TABLE}', 0 UNION ALL \
             SELECT e.src, up.depth + 1 FROM lineage_edges e JOIN up ON e.dst = up.node \
             WHERE up.depth < 10) \
             SELECT node, depth FROM up WHERE node = '{CSV}'"
        ),
    );
    assert_eq!(by_hops, [format!("{CSV},3")]);
    // Leaving job hierarchies out: the walk stops at the query run.
    let own_inputs_only = sql_rows(
        &data,
        &format!(
            "WITH RECURSIVE up(node) AS (SELECT '{TABLE}' UNION \
             SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node \
             WHERE e.edge_type <> 'parent') \
             SELECT count(*) FROM up"
        ),
    );
    assert_eq!(own_inputs_only, ["2"]);
}
