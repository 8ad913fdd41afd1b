//! Marquez's read API on the HTTP port, against the demo: every route answers in Marquez 0.51's
//! shapes (envelopes, field names, nulls written out, run states, error bodies), the lineage
//! graph holds exactly what the SQL lineage functions reach (collapsed to datasets and jobs),
//! and reads take API keys like ingest does.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

/// `GET path` on the HTTP port: (status, JSON body).
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let (status, body) = http(port, "GET", path, headers, b"");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, json)
}

fn ok(port: u16, path: &str) -> Value {
    let (status, json) = get(port, path, &[]);
    assert_eq!(status, 200, "{path}: {json}");
    json
}

/// Every key is present (a null counts: Marquez writes nulls out).
fn has(what: &str, value: &Value, keys: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {value}"));
    for key in keys {
        assert!(object.contains_key(*key), "{what} lacks {key}: {value}");
    }
}

const RUN_KEYS: &[&str] = &[
    "id",
    "createdAt",
    "updatedAt",
    "nominalStartTime",
    "nominalEndTime",
    "state",
    "startedAt",
    "endedAt",
    "durationMs",
    "args",
    "jobVersion",
    "inputDatasetVersions",
    "outputDatasetVersions",
    "facets",
];
const JOB_KEYS: &[&str] = &[
    "id",
    "type",
    "name",
    "simpleName",
    "parentJobName",
    "parentJobUuid",
    "createdAt",
    "updatedAt",
    "namespace",
    "inputs",
    "outputs",
    "location",
    "description",
    "latestRun",
    "latestRuns",
    "facets",
    "currentVersion",
    "labels",
    "tags",
];
const DATASET_DATA_KEYS: &[&str] = &[
    "id",
    "type",
    "name",
    "physicalName",
    "createdAt",
    "updatedAt",
    "namespace",
    "sourceName",
    "fields",
    "tags",
    "lastModifiedAt",
    "description",
    "lastLifecycleState",
];

/// A path segment, percent-encoded (`s3://acme-lake` -> `s3%3A%2F%2Facme-lake`).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn is_iso(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with('Z'))
}

#[test]
fn marquez_routes_answer_in_marquez_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let app = InProcess::start(&dir.path().join("wh"), true);
    let port = app.http_port;

    // Namespaces, including those with `://` and `:port` in them.
    let namespaces = ok(port, "/api/v1/namespaces");
    let list = namespaces["namespaces"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"acme-ml") && names.contains(&"s3://acme-lake"),
        "{names:?}"
    );
    for n in list {
        has(
            "namespace",
            n,
            &[
                "name",
                "createdAt",
                "updatedAt",
                "ownerName",
                "description",
                "isHidden",
            ],
        );
        assert!(is_iso(&n["createdAt"]) && is_iso(&n["updatedAt"]), "{n}");
    }
    has(
        "namespace",
        &ok(port, "/api/v1/namespaces/s3%3A%2F%2Facme-lake"),
        &["name", "isHidden"],
    );
    assert!(ok(port, "/api/v1/tags")["tags"].is_array());

    // Jobs: the envelope, each job's shape, runs in Marquez's states.
    let jobs = ok(port, "/api/v1/namespaces/acme-ml/jobs?limit=3&offset=1");
    let total = jobs["totalCount"].as_u64().unwrap();
    let sql_total = sql_count(
        app.port,
        "SELECT count(*) FROM jobs WHERE namespace = 'acme-ml'",
    );
    assert_eq!(total, sql_total);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 3);
    for job in jobs["jobs"].as_array().unwrap() {
        has("job", job, JOB_KEYS);
        has("latestRun", &job["latestRun"], RUN_KEYS);
        assert!(
            ["COMPLETED", "FAILED", "ABORTED", "RUNNING", "NEW", "OTHER"]
                .contains(&job["latestRun"]["state"].as_str().unwrap())
        );
    }
    assert_eq!(
        ok(port, "/api/v1/jobs")["totalCount"].as_u64().unwrap(),
        sql_count(app.port, "SELECT count(*) FROM jobs")
    );
    // The demo has no failed run: filtering on FAILED leaves only jobs never run.
    let failed = ok(
        port,
        "/api/v1/jobs?lastRunStates=FAILED&lastRunStates=ABORTED",
    );
    let never_run = sql_count(
        app.port,
        "SELECT count(*) FROM jobs WHERE job_id NOT IN (SELECT job_id FROM runs)",
    );
    assert_eq!(failed["jobs"].as_array().unwrap().len() as u64, never_run);
    let completed = ok(port, "/api/v1/jobs?lastRunStates=COMPLETED");
    assert!(!completed["jobs"].as_array().unwrap().is_empty());

    let job = ok(port, "/api/v1/namespaces/acme-ml/jobs/train_churn_model");
    has("job", &job, JOB_KEYS);
    assert_eq!(job["id"]["name"], "train_churn_model");
    assert_eq!(job["inputs"][0]["name"], "features/churn_train", "{job}");
    let runs = ok(
        port,
        "/api/v1/namespaces/acme-ml/jobs/train_churn_model/runs?limit=2",
    );
    let run_total = sql_count(
        app.port,
        "SELECT count(*) FROM runs WHERE job_id = 'job:acme-ml:train_churn_model'",
    );
    assert_eq!(runs["totalCount"].as_u64().unwrap(), run_total);
    let newest = &runs["runs"][0];
    has("run", newest, RUN_KEYS);
    assert!(
        is_iso(&newest["startedAt"]) && newest["durationMs"].as_i64().unwrap() > 0,
        "{newest}"
    );
    let input = &newest["inputDatasetVersions"][0];
    has(
        "input",
        &input["datasetVersionId"],
        &["namespace", "name", "version"],
    );
    let run_id = newest["id"].as_str().unwrap();
    assert!(!run_id.starts_with("run:"));
    assert_eq!(
        ok(port, &format!("/api/v1/jobs/runs/{run_id}"))["id"],
        run_id
    );
    let facets = ok(port, &format!("/api/v1/jobs/runs/{run_id}/facets?type=job"));
    assert_eq!(facets["runId"], run_id);
    assert!(
        facets["facets"]["sourceCodeLocation"]["url"].is_string(),
        "{facets}"
    );

    // Datasets: names with `/` travel percent-encoded in one segment.
    let datasets = ok(
        port,
        "/api/v1/namespaces/s3%3A%2F%2Facme-lake/datasets?limit=100",
    );
    assert_eq!(
        datasets["totalCount"].as_u64().unwrap(),
        sql_count(
            app.port,
            "SELECT count(*) FROM datasets WHERE namespace = 's3://acme-lake'"
        )
    );
    for d in datasets["datasets"].as_array().unwrap() {
        has("dataset", d, DATASET_DATA_KEYS);
        has(
            "dataset",
            d,
            &["currentVersion", "columnLineage", "facets", "deleted"],
        );
        assert!(d["fields"].is_array());
    }
    let train = ok(
        port,
        "/api/v1/namespaces/s3%3A%2F%2Facme-lake/datasets/features%2Fchurn_train",
    );
    assert!(!train["fields"].as_array().unwrap().is_empty(), "{train}");
    let versions = ok(
        port,
        "/api/v1/namespaces/s3%3A%2F%2Facme-lake/datasets/features%2Fchurn_train/versions",
    );
    let version_total = sql_count(
        app.port,
        "SELECT count(*) FROM dataset_versions WHERE dataset_id = 'dataset:s3://acme-lake:features/churn_train'",
    );
    assert_eq!(versions["totalCount"].as_u64().unwrap(), version_total);
    has(
        "createdByRun",
        &versions["versions"][0]["createdByRun"],
        RUN_KEYS,
    );
    assert_eq!(versions["versions"][0]["version"], train["currentVersion"]);
    // Its columnLineage: each field made from others, with those inputs, as column_lineage says.
    let mut from_api = BTreeSet::new();
    for field in train["columnLineage"].as_array().unwrap() {
        has(
            "columnLineage",
            field,
            &[
                "name",
                "inputFields",
                "transformationDescription",
                "transformationType",
            ],
        );
        for input in field["inputFields"].as_array().unwrap() {
            from_api.insert(format!(
                "datasetField:{}:{}:{} -> {}",
                input["namespace"].as_str().unwrap(),
                input["dataset"].as_str().unwrap(),
                input["field"].as_str().unwrap(),
                field["name"].as_str().unwrap()
            ));
        }
    }
    let into_train = "datasetField:s3://acme-lake:features/churn_train:";
    let from_sql: BTreeSet<String> = server_query(app.port, COLUMN_EDGES)
        .into_iter()
        .filter_map(|r| {
            let field = r[1].as_deref()?.strip_prefix(into_train)?.to_string();
            Some(format!("{} -> {field}", r[0].as_deref()?))
        })
        .collect();
    assert!(from_sql.len() >= 3, "{from_sql:?}");
    assert_eq!(from_api, from_sql);
    let raw = ok(
        port,
        "/api/v1/namespaces/s3%3A%2F%2Facme-lake/datasets/raw%2Fcustomers",
    );
    assert_eq!(raw["columnLineage"], Value::Null, "nothing made its fields");

    // A model is a dataset of its namespace: listed, opened, its versions the model's.
    let models = ok(port, "/api/v1/namespaces/acme-ml/datasets");
    assert_eq!(
        models["totalCount"].as_u64().unwrap(),
        sql_count(
            app.port,
            "SELECT (SELECT count(*) FROM datasets WHERE namespace = 'acme-ml') + \
             (SELECT count(DISTINCT model_id) FROM model_versions WHERE namespace = 'acme-ml')"
        )
    );
    let churn = ok(port, "/api/v1/namespaces/acme-ml/datasets/churn");
    has("model as dataset", &churn, DATASET_DATA_KEYS);
    let churn_versions = ok(port, "/api/v1/namespaces/acme-ml/datasets/churn/versions");
    let newest = server_query(
        app.port,
        "SELECT version, training_run_id FROM model_versions WHERE model_id = 'model:acme-ml:churn' \
         ORDER BY created_at DESC LIMIT 1",
    )
    .remove(0);
    let trained_by = newest[1].as_deref().unwrap();
    assert_eq!(churn["currentVersion"].as_str(), newest[0].as_deref());
    assert_eq!(
        churn_versions["totalCount"].as_u64().unwrap(),
        sql_count(
            app.port,
            "SELECT count(*) FROM model_versions WHERE model_id = 'model:acme-ml:churn'"
        )
    );
    assert_eq!(
        churn_versions["versions"][0]["createdByRun"]["id"].as_str(),
        trained_by.strip_prefix("run:")
    );

    // Search, events, stats.
    let found = ok(port, "/api/v1/search?q=CHURN&limit=100");
    let results = found["results"].as_array().unwrap();
    assert_eq!(
        found["totalCount"].as_u64().unwrap() as usize,
        results.len()
    );
    assert!(
        results
            .iter()
            .any(|r| r["nodeId"] == "job:acme-ml:train_churn_model")
    );
    assert!(
        results
            .iter()
            .any(|r| r["nodeId"] == "dataset:s3://acme-lake:features/churn_train")
    );
    for r in results {
        has(
            "result",
            r,
            &["type", "name", "updatedAt", "namespace", "nodeId"],
        );
    }
    let jobs_only = ok(port, "/api/v1/search?q=churn&filter=JOB&limit=100");
    assert!(
        jobs_only["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] == "JOB")
    );
    let events = ok(port, "/api/v1/events/lineage?limit=5&sortDirection=desc");
    let times: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventTime"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 5);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(
        events["totalCount"].as_u64().unwrap(),
        sql_count(app.port, "SELECT count(*) FROM events")
    );
    let day = ok(port, "/api/v1/stats/lineage-events?period=DAY&timezone=UTC");
    assert_eq!(day.as_array().unwrap().len(), 24);
    has(
        "bucket",
        &day[0],
        &[
            "startInterval",
            "endInterval",
            "fail",
            "start",
            "complete",
            "abort",
        ],
    );
    let week = ok(
        port,
        "/api/v1/stats/jobs?period=WEEK&timezone=Europe/Berlin",
    );
    assert_eq!(week.as_array().unwrap().len(), 7);
    assert_eq!(
        week[6]["count"].as_u64().unwrap(),
        sql_count(app.port, "SELECT count(*) FROM jobs")
    );
    for what in ["datasets", "sources"] {
        assert_eq!(
            ok(port, &format!("/api/v1/stats/{what}?period=DAY"))
                .as_array()
                .unwrap()
                .len(),
            24
        );
    }

    // Errors: Marquez's body, and the connection's next request still answered.
    for (path, status, message) in [
        (
            "/api/v1/namespaces/nowhere",
            404,
            "Namespace 'nowhere' not found.",
        ),
        (
            "/api/v1/namespaces/acme-ml/jobs/nothing",
            404,
            "Job 'nothing' not found.",
        ),
        (
            "/api/v1/namespaces/acme-ml/datasets/nothing",
            404,
            "Dataset 'nothing' not found.",
        ),
        (
            "/api/v1/jobs/runs/00000000-0000-0000-0000-000000000000",
            404,
            "Run '00000000-0000-0000-0000-000000000000' not found.",
        ),
        (
            "/api/v1/lineage?nodeId=run:abc",
            404,
            "Node 'run:abc' must be of type dataset or job!",
        ),
        ("/api/v1/stats/jobs", 400, "Invalid period"),
        ("/api/v1/nothing", 404, "HTTP 404 Not Found"),
    ] {
        let (got, body) = get(port, path, &[]);
        assert_eq!(
            (got, body["code"].as_u64().unwrap() as u16),
            (status, status),
            "{path}: {body}"
        );
        assert_eq!(body["message"], message, "{path}");
    }
}

fn sql_count(pg_port: u16, sql: &str) -> u64 {
    server_rows(pg_port, sql)[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// The Marquez nodes `lineage_upstream`/`lineage_downstream` reach from `starts` within `hops`,
/// collapsed the way the API collapses them.
fn sql_collapsed(pg_port: u16, starts: &[String], hops: u32) -> BTreeSet<String> {
    let walks: Vec<String> = starts
        .iter()
        .flat_map(|s| {
            ["upstream", "downstream"]
                .map(|d| format!("SELECT node FROM lineage_{d}('{s}', {hops})"))
        })
        .chain(starts.iter().map(|s| format!("SELECT '{s}' AS node")))
        .collect();
    let sql = format!(
        "SELECT DISTINCT COALESCE(v.dataset_id, r.job_id, 'dataset:' || m.namespace || ':' || m.name) AS id \
         FROM ({}) w LEFT JOIN dataset_versions v ON v.version_id = w.node \
         LEFT JOIN runs r ON r.run_id = w.node LEFT JOIN model_versions m ON m.version_id = w.node",
        walks.join(" UNION ALL ")
    );
    server_rows(pg_port, &sql).into_iter().flatten().collect()
}

/// `GET /api/v1/lineage` of `node` at `depth`, checked to hold exactly the Marquez nodes the SQL
/// lineage functions reach from `starts` (its versions or runs): (path, nodes, node ids).
fn lineage_as_sql_reaches(
    app: &InProcess,
    node: &str,
    starts: &[String],
    depth: u32,
) -> (String, Vec<Value>, BTreeSet<String>) {
    let path = format!("/api/v1/lineage?nodeId={node}&depth={depth}");
    let graph = ok(app.http_port, &path);
    let nodes = graph["graph"].as_array().unwrap().clone();
    let ids: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = sql_collapsed(app.port, starts, 2 * depth);
    expected.insert(node.to_string());
    assert_eq!(ids, expected, "{path}");
    (path, nodes, ids)
}

#[test]
fn marquez_lineage_is_what_the_sql_lineage_functions_reach() {
    let dir = tempfile::tempdir().unwrap();
    let app = InProcess::start(&dir.path().join("wh"), true);
    let cases = [
        (
            "dataset:s3://acme-lake:features/churn_train",
            "SELECT version_id FROM dataset_versions WHERE dataset_id = 'dataset:s3://acme-lake:features/churn_train'",
        ),
        (
            "dataset:postgres://crm-db:5432:crm.public.customers",
            "SELECT version_id FROM dataset_versions WHERE dataset_id = 'dataset:postgres://crm-db:5432:crm.public.customers'",
        ),
        (
            "job:acme-ml:train_churn_model",
            "SELECT run_id FROM runs WHERE job_id = 'job:acme-ml:train_churn_model'",
        ),
        // A model shows as a dataset; the UI opens it from the graph like one.
        (
            "dataset:acme-ml:churn",
            "SELECT version_id FROM model_versions WHERE model_id = 'model:acme-ml:churn'",
        ),
        (
            "job:acme-ml:clean_clickstream",
            "SELECT run_id FROM runs WHERE job_id = 'job:acme-ml:clean_clickstream'",
        ),
    ];
    let mut sizes = Vec::new();
    for (node, starts_sql) in cases {
        let starts: Vec<String> = server_rows(app.port, starts_sql)
            .into_iter()
            .flatten()
            .collect();
        assert!(
            !starts.is_empty(),
            "{node} has versions or runs in the demo"
        );
        for depth in [1, 2, 20] {
            let (path, nodes, ids) = lineage_as_sql_reaches(&app, node, &starts, depth);
            let nodes = &nodes;
            sizes.push(ids.len());
            for n in nodes {
                let kind = n["type"].as_str().unwrap();
                assert_eq!(
                    kind == "JOB",
                    n["id"].as_str().unwrap().starts_with("job:"),
                    "{n}"
                );
                if kind == "DATASET" {
                    has("dataset data", &n["data"], DATASET_DATA_KEYS);
                    // Every dataset drawn opens (models included): its page and its versions.
                    let (ns, name) = (&n["data"]["namespace"], &n["data"]["name"]);
                    let dataset = format!(
                        "/api/v1/namespaces/{}/datasets/{}",
                        encode(ns.as_str().unwrap()),
                        encode(name.as_str().unwrap())
                    );
                    assert_eq!(&ok(app.http_port, &dataset)["name"], name, "{dataset}");
                    let versions = ok(app.http_port, &format!("{dataset}/versions"));
                    assert!(versions["totalCount"].as_u64().unwrap() >= 1, "{dataset}");
                } else {
                    has(
                        "job data",
                        &n["data"],
                        &[
                            "id",
                            "type",
                            "name",
                            "namespace",
                            "inputs",
                            "outputs",
                            "latestRun",
                            "currentRunUuid",
                        ],
                    );
                }
                // Edges run between nodes of the graph, datasets and jobs alternating, and each
                // is listed at both ends.
                for e in n["outEdges"].as_array().unwrap() {
                    assert_eq!(e["origin"], n["id"]);
                    let dst = e["destination"].as_str().unwrap();
                    assert!(ids.contains(dst), "{path}: edge to {dst} outside the graph");
                    let other = nodes.iter().find(|m| m["id"] == dst).unwrap();
                    assert!(
                        other["inEdges"].as_array().unwrap().contains(e),
                        "{path}: {e}"
                    );
                }
            }
        }
    }
    assert!(
        sizes.iter().any(|&n| n >= 8),
        "the graphs were real: {sizes:?}"
    );

    // Run lineage: the run, then the runs that wrote what it read, transitively.
    let run = server_rows(
        app.port,
        "SELECT training_run_id FROM model_versions WHERE version_id = 'model:acme-ml:churn@2'",
    )
    .remove(0)
    .unwrap();
    let uuid = run.strip_prefix("run:").unwrap();
    let lineage = ok(
        app.http_port,
        &format!("/api/v1/runlineage/upstream?runId={uuid}&depth=20"),
    );
    let runs = lineage["runs"].as_array().unwrap();
    assert_eq!(runs[0]["run"]["id"], uuid);
    let got: BTreeSet<String> = runs
        .iter()
        .map(|r| format!("run:{}", r["run"]["id"].as_str().unwrap()))
        .collect();
    let mut expected: BTreeSet<String> = server_rows(
        app.port,
        &format!("SELECT node FROM lineage_upstream('{run}', 40) WHERE node LIKE 'run:%'"),
    )
    .into_iter()
    .flatten()
    .collect();
    expected.insert(run.clone());
    assert_eq!(got, expected);
    assert!(got.len() >= 3, "{got:?}");
    for r in runs {
        has("run lineage", r, &["job", "run", "inputs"]);
        for input in r["inputs"].as_array().unwrap() {
            has(
                "input",
                input,
                &["namespace", "name", "version", "producedByRunId"],
            );
        }
    }
    let (status, _) = get(app.http_port, "/api/v1/runlineage/upstream?runId=nope", &[]);
    assert_eq!(status, 404);
}

/// Column lineage, collapsed to datasets: `datasetField:<ns>:<dataset>:<field>` ids.
const COLUMN_EDGES: &str = "SELECT DISTINCT \
     'datasetField:' || s.namespace || ':' || s.name || ':' || c.src_column AS src, \
     'datasetField:' || d.namespace || ':' || d.name || ':' || c.dst_column AS dst \
     FROM column_lineage c \
     JOIN dataset_versions sv ON sv.version_id = c.src_dataset_version JOIN datasets s ON s.dataset_id = sv.dataset_id \
     JOIN dataset_versions dv ON dv.version_id = c.dst_dataset_version JOIN datasets d ON d.dataset_id = dv.dataset_id";

#[test]
fn marquez_column_lineage_follows_column_lineage_rows() {
    let dir = tempfile::tempdir().unwrap();
    let app = InProcess::start(&dir.path().join("wh"), true);
    let edges: Vec<(String, String)> = server_query(app.port, COLUMN_EDGES)
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert!(edges.len() >= 5, "{edges:?}");
    let prefix = "datasetField:s3://acme-lake:features/churn_train:";
    // Breadth first over the SQL rows: fields `hops` upstream (and downstream) of the dataset's.
    let walk = |hops: usize, down: bool| -> BTreeSet<String> {
        let mut reached: BTreeSet<String> = edges
            .iter()
            .flat_map(|(a, b)| [a, b])
            .filter(|f| f.starts_with(prefix))
            .cloned()
            .collect();
        let mut frontier = reached.clone();
        for _ in 0..hops {
            let mut next = BTreeSet::new();
            for (src, dst) in &edges {
                if frontier.contains(dst) && !reached.contains(src) {
                    next.insert(src.clone());
                }
                if down && frontier.contains(src) && !reached.contains(dst) {
                    next.insert(dst.clone());
                }
            }
            reached.extend(next.iter().cloned());
            frontier = next;
        }
        reached
    };
    for (depth, down) in [(1, false), (2, false), (2, true)] {
        let path = format!(
            "/api/v1/column-lineage?nodeId=dataset:s3://acme-lake:features/churn_train&depth={depth}&withDownstream={down}"
        );
        let graph = ok(app.http_port, &path);
        let nodes = graph["graph"].as_array().unwrap();
        let ids: BTreeSet<String> = nodes
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, walk(depth, down), "{path}");
        for n in nodes {
            assert_eq!(n["type"], "DATASET_FIELD");
            has(
                "field data",
                &n["data"],
                &[
                    "namespace",
                    "dataset",
                    "datasetVersion",
                    "field",
                    "fieldType",
                    "transformationDescription",
                    "transformationType",
                    "inputFields",
                ],
            );
            // Marquez's quirk: inEdges go from the node to the fields it came from.
            for e in n["inEdges"].as_array().unwrap() {
                assert_eq!(e["origin"], n["id"]);
                assert!(
                    edges.contains(&(
                        e["destination"].as_str().unwrap().to_string(),
                        n["id"].as_str().unwrap().to_string()
                    )),
                    "{e}"
                );
            }
        }
    }
    let (status, body) = get(
        app.http_port,
        "/api/v1/column-lineage?nodeId=dataset:nowhere:x",
        &[],
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Could not find node"))
    );
}

#[test]
fn marquez_reads_take_api_keys_and_reader_keys_cannot_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prov9.toml");
    std::fs::write(
        &config,
        format!(
            "[[api_keys]]\nname = \"airflow\"\nsha256 = \"{}\"\n\n[[api_keys]]\nname = \"marquez-web\"\nsha256 = \"{}\"\nrole = \"read\"\n",
            sha256_hex("ingest-key"),
            sha256_hex("read-key")
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("wh"),
        &["--config", config.to_str().unwrap()],
    );
    let port = server.http_port;
    let (status, body) = get(port, "/api/v1/namespaces", &[]);
    assert_eq!((status, body["code"].as_u64()), (401, Some(401)), "{body}");
    assert_eq!(
        get(
            port,
            "/api/v1/namespaces",
            &[("Authorization", "Bearer wrong")]
        )
        .0,
        401
    );
    for key in ["Bearer read-key", "Bearer ingest-key"] {
        assert_eq!(
            get(port, "/api/v1/namespaces", &[("Authorization", key)]).0,
            200,
            "{key}"
        );
    }
    let event = r#"{"eventType":"START","eventTime":"2026-01-01T00:00:00Z","run":{"runId":"0190b4a6-0000-7000-8000-000000000001"},"job":{"namespace":"n","name":"j"},"producer":"p","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}"#;
    assert_eq!(
        post(port, &[("Authorization", "Bearer read-key")], event).0,
        401
    );
    assert_eq!(
        post(port, &[("Authorization", "Bearer ingest-key")], event).0,
        201
    );
    let jobs = get(
        port,
        "/api/v1/namespaces/n/jobs",
        &[("Authorization", "Bearer read-key")],
    )
    .1;
    assert_eq!(jobs["jobs"][0]["latestRun"]["state"], "RUNNING", "{jobs}");
    server.stop();
}

/// OpenLineage events of `producers` jobs each writing `part_<i>`, then one `consumer` job
/// reading every part into `all_parts`.
fn fan_in_events(producers: usize) -> String {
    let event = |run: usize, job: &str, inputs: Vec<String>, outputs: Vec<String>| {
        let datasets = |names: Vec<String>| -> Vec<Value> {
            names
                .into_iter()
                .map(|name| serde_json::json!({"namespace": "big", "name": name}))
                .collect()
        };
        serde_json::json!({
            "eventType": "COMPLETE",
            "eventTime": "2026-01-01T00:00:00Z",
            "producer": "prov9-tests",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            "run": {"runId": format!("00000000-0000-4000-8000-{run:012}")},
            "job": {"namespace": "big", "name": job},
            "inputs": datasets(inputs),
            "outputs": datasets(outputs),
        })
        .to_string()
    };
    let mut lines: Vec<String> = (0..producers)
        .map(|i| {
            event(
                i,
                &format!("producer_{i}"),
                vec![],
                vec![format!("part_{i}")],
            )
        })
        .collect();
    let parts = (0..producers).map(|i| format!("part_{i}")).collect();
    lines.push(event(
        producers,
        "consumer",
        parts,
        vec!["all_parts".to_string()],
    ));
    lines.join("\n")
}

/// A graph naming more rows than are worth looking up one by one (600 producer jobs feeding one
/// job: past 500 keys and one per 100 rows of their tables, so the routes read tables whole and
/// pick the rows) answers as the small ones do: exactly the nodes the SQL functions reach, each
/// with its own data, and a drawing naming nodes as `lineage_nodes` does.
#[test]
fn marquez_lineage_of_a_wide_fan_in_answers_as_a_small_one() {
    const PRODUCERS: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let events = dir.path().join("fan-in.ndjson");
    std::fs::write(&events, fan_in_events(PRODUCERS)).unwrap();
    let out = run(&data, &["load", "--no-progress", events.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The drawing (`prov9 lineage`) names every node as lineage_nodes does.
    let part = sql_rows(
        &data,
        "SELECT version_id FROM dataset_versions WHERE dataset_id = 'dataset:big:all_parts'",
    )
    .remove(0);
    let out = run(&data, &["lineage", &part, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let drawing: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let drawn: BTreeSet<String> = drawing["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            ["id", "kind", "namespace", "name"]
                .map(|key| n[key].as_str().unwrap_or_default().to_string())
                .join("|")
        })
        .collect();
    assert_eq!(drawn.len(), 2 * PRODUCERS + 2);
    let named: BTreeSet<String> = sql_rows(
        &data,
        &format!(
            "SELECT node_id || '|' || kind || '|' || COALESCE(namespace, '') || '|' || \
             COALESCE(name, '') FROM lineage_nodes WHERE node_id IN \
             (SELECT node FROM lineage_upstream('{part}') UNION SELECT '{part}')"
        ),
    )
    .into_iter()
    .collect();
    assert_eq!(drawn, named);

    let app = InProcess::start(&data, false);
    for (node, starts_sql) in [
        (
            "dataset:big:all_parts",
            "SELECT version_id FROM dataset_versions WHERE dataset_id = 'dataset:big:all_parts'",
        ),
        (
            "job:big:consumer",
            "SELECT run_id FROM runs WHERE job_id = 'job:big:consumer'",
        ),
    ] {
        let starts: Vec<String> = server_rows(app.port, starts_sql)
            .into_iter()
            .flatten()
            .collect();
        let (path, nodes, ids) = lineage_as_sql_reaches(&app, node, &starts, 2);
        assert!(ids.len() > 2 * PRODUCERS, "{path}: {} nodes", ids.len());
        for n in nodes {
            let id = n["id"].as_str().unwrap();
            let data = &n["data"];
            assert_eq!(
                format!(
                    "{}:big:{}",
                    n["type"].as_str().unwrap().to_lowercase(),
                    data["name"].as_str().unwrap()
                ),
                id,
                "{path}: {n}"
            );
            if let Some(i) = id.strip_prefix("job:big:producer_") {
                let i: usize = i.parse().unwrap();
                assert_eq!(
                    data["latestRun"]["id"],
                    format!("00000000-0000-4000-8000-{i:012}"),
                    "{id}"
                );
                assert_eq!(
                    data["outputs"],
                    serde_json::json!([{"namespace": "big", "name": format!("part_{i}")}]),
                    "{id}"
                );
                assert_eq!(
                    n["outEdges"][0]["destination"],
                    format!("dataset:big:part_{i}")
                );
            }
        }
    }
}

/// A version id is `<dataset id>@<version>`; the routes read a version's dataset off its id, so
/// `@` inside a dataset name or a version (where the id cannot tell which `@` separates) must
/// still collapse and list exactly as the SQL does.
#[test]
fn marquez_names_and_versions_with_at_signs_collapse_as_the_sql_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wh");
    let dataset = |name: &str, version: Option<&str>| match version {
        Some(v) => serde_json::json!({"namespace": "s3://b", "name": name,
            "facets": {"version": {"_producer": "t", "_schemaURL": "t", "datasetVersion": v}}}),
        None => serde_json::json!({"namespace": "s3://b", "name": name}),
    };
    let event = |run: u32, job: &str, inputs: Value, outputs: Value| {
        serde_json::json!({
            "eventType": "COMPLETE",
            "eventTime": format!("2026-01-01T00:0{run}:00Z"),
            "producer": "prov9-tests",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            "run": {"runId": format!("00000000-0000-4000-8000-{run:012}")},
            "job": {"namespace": "at", "name": job},
            "inputs": inputs,
            "outputs": outputs,
        })
        .to_string()
    };
    let events = [
        event(
            1,
            "clean",
            serde_json::json!([dataset("user@corp/raw", Some("sha@1"))]),
            serde_json::json!([dataset("clean", Some("7"))]),
        ),
        event(
            2,
            "report",
            serde_json::json!([dataset("clean", Some("7"))]),
            serde_json::json!([dataset("report@daily", None)]),
        ),
    ];
    let file = dir.path().join("at.ndjson");
    std::fs::write(&file, events.join("\n")).unwrap();
    let out = run(&data, &["load", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let app = InProcess::start(&data, false);
    for dataset in ["user@corp/raw", "clean", "report@daily"] {
        let id = format!("dataset:s3://b:{dataset}");
        let starts: Vec<String> = server_rows(
            app.port,
            &format!("SELECT version_id FROM dataset_versions WHERE dataset_id = '{id}'"),
        )
        .into_iter()
        .flatten()
        .collect();
        let (path, _, ids) = lineage_as_sql_reaches(&app, &id, &starts, 2);
        assert_eq!(ids.len(), 5, "{path}: {ids:?}");
    }
    // The run I/O names each version's dataset and version whole, `@` and all.
    let version = |name: &str, version: &str| serde_json::json!({"datasetVersionId": {"namespace": "s3://b", "name": name, "version": version}, "facets": {}});
    let job = ok(app.http_port, "/api/v1/namespaces/at/jobs/clean");
    assert_eq!(
        job["latestRun"]["inputDatasetVersions"],
        serde_json::json!([version("user@corp/raw", "sha@1")]),
        "{job}"
    );
    assert_eq!(
        job["latestRun"]["outputDatasetVersions"],
        serde_json::json!([version("clean", "7")]),
        "{job}"
    );
    assert_eq!(
        job["inputs"],
        serde_json::json!([{"namespace": "s3://b", "name": "user@corp/raw"}])
    );
    let graph = ok(
        app.http_port,
        "/api/v1/lineage?nodeId=job:at:report&depth=1",
    );
    let report = graph["graph"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "job:at:report")
        .unwrap();
    let outputs = &report["data"]["latestRun"]["outputDatasetVersions"];
    assert_eq!(
        outputs[0]["datasetVersionId"]["name"], "report@daily",
        "{report}"
    );
    let written = server_rows(
        app.port,
        "SELECT version FROM dataset_versions WHERE dataset_id = 'dataset:s3://b:report@daily'",
    );
    assert_eq!(
        outputs[0]["datasetVersionId"]["version"].as_str(),
        written[0].as_deref(),
        "{report}"
    );
}
