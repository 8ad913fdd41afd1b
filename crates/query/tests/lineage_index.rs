//! The lineage index and its table functions against a reference: random graphs with cycles,
//! a breadth-first search written out here, and DataFusion's own `WITH RECURSIVE`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use prov9_model::tables::LineageEdgeRow;
use prov9_query::Engine;
use prov9_store::Warehouse;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn edge(src: &str, dst: &str) -> LineageEdgeRow {
    LineageEdgeRow {
        src: src.into(),
        dst: dst.into(),
        edge_type: "input".into(),
        run_id: Some(format!("run:{src}")),
        event_time: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
    }
}

/// `n` nodes, `m` random edges (self-loops, cycles and parallel paths included).
fn random_edges(rng: &mut Rng, n: u64, m: usize) -> Vec<LineageEdgeRow> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < m {
        let (s, d) = (rng.below(n), rng.below(n));
        if seen.insert((s, d)) {
            out.push(edge(&format!("n{s}"), &format!("n{d}")));
        }
    }
    out
}

/// Shortest hop count to every node reachable from `start` (not `start` itself).
fn reference(edges: &[LineageEdgeRow], start: &str, upstream: bool) -> BTreeMap<String, i64> {
    let mut next: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in edges {
        let (from, to) = if upstream {
            (&e.dst, &e.src)
        } else {
            (&e.src, &e.dst)
        };
        next.entry(from).or_default().push(to);
    }
    let mut depth = BTreeMap::new();
    let mut queue = VecDeque::from([(start, 0i64)]);
    while let Some((node, d)) = queue.pop_front() {
        for &to in next.get(node).into_iter().flatten() {
            if to != start && !depth.contains_key(to) {
                depth.insert(to.to_string(), d + 1);
                queue.push_back((to, d + 1));
            }
        }
    }
    depth
}

async fn rows(engine: &Engine, sql: &str) -> Vec<RecordBatch> {
    engine
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .1
}

async fn node_depths(engine: &Engine, sql: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for b in rows(engine, sql).await {
        let nodes = b.column(0).as_string::<i32>();
        let depths = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(nodes.value(i).to_string(), depths.value(i));
        }
    }
    out
}

async fn node_set(engine: &Engine, sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for b in rows(engine, sql).await {
        let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        for v in col.as_string::<i32>().iter().flatten() {
            out.insert(v.to_string());
        }
    }
    out
}

#[tokio::test]
async fn traversals_match_a_reference_on_random_graphs_with_cycles() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (n, m) in [(30, 60), (200, 500), (500, 700)] {
        let warehouse = Warehouse::open("memory://").await.unwrap();
        let edges = random_edges(&mut rng, n, m);
        warehouse
            .append_published("lineage_edges", vec![LineageEdgeRow::to_batch(&edges)])
            .await
            .unwrap();
        let engine = Engine::new(&warehouse).await.unwrap();
        for _ in 0..8 {
            let start = format!("n{}", rng.below(n));
            for (function, upstream) in [("lineage_upstream", true), ("lineage_downstream", false)]
            {
                let expected = reference(&edges, &start, upstream);
                let got = node_depths(
                    &engine,
                    &format!("SELECT node, depth FROM {function}('{start}')"),
                )
                .await;
                assert_eq!(
                    got, expected,
                    "{function}('{start}') on {n} nodes, {m} edges"
                );
                let bounded = node_depths(
                    &engine,
                    &format!("SELECT node, depth FROM {function}('{start}', 2)"),
                )
                .await;
                let expected_bounded: BTreeMap<_, _> = expected
                    .iter()
                    .filter(|(_, d)| **d <= 2)
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                assert_eq!(bounded, expected_bounded, "{function}('{start}', 2)");

                // The same closure from DataFusion's own recursive CTE (which includes the start).
                let (near, far) = if upstream {
                    ("dst", "src")
                } else {
                    ("src", "dst")
                };
                let mut cte = node_set(&engine, &format!(
                    "WITH RECURSIVE c(node) AS (SELECT '{start}' UNION SELECT e.{far} FROM lineage_edges e JOIN c ON e.{near} = c.node) SELECT node FROM c"
                )).await;
                cte.remove(&start);
                let closure: BTreeSet<String> = expected.keys().cloned().collect();
                assert_eq!(cte, closure, "WITH RECURSIVE from {start}");
                // A filter in the recursive term keeps the per-hop plan; here it drops nothing.
                let mut filtered = node_set(&engine, &format!(
                    "WITH RECURSIVE c(node) AS (SELECT '{start}' UNION SELECT e.{far} FROM lineage_edges e JOIN c ON e.{near} = c.node WHERE e.edge_type = 'input') SELECT node FROM c"
                )).await;
                filtered.remove(&start);
                assert_eq!(filtered, closure, "filtered WITH RECURSIVE from {start}");
                // A join filter keeps even the join per hop: the whole edge table is read (from
                // the index) each hop.
                let mut joined = node_set(&engine, &format!(
                    "WITH RECURSIVE c(node) AS (SELECT '{start}' UNION SELECT e.{far} FROM lineage_edges e JOIN c ON e.{near} = c.node AND e.{far} <> c.node) SELECT node FROM c"
                )).await;
                joined.remove(&start);
                assert_eq!(
                    joined, closure,
                    "WITH RECURSIVE with a join filter from {start}"
                );

                // Several start nodes (one unknown, one NULL): their closures' union, starts kept.
                let other = format!("n{}", rng.below(n));
                let mut expected_both: BTreeSet<String> = closure.clone();
                expected_both.extend(reference(&edges, &other, upstream).into_keys());
                expected_both.extend([start.clone(), other.clone(), "nowhere".to_string()]);
                let both = rows(&engine, &format!(
                    "WITH RECURSIVE c(node) AS (SELECT * FROM (VALUES ('{start}'), ('{other}'), ('nowhere'), (NULL), ('{start}')) AS s(node) UNION SELECT e.{far} FROM lineage_edges e JOIN c ON e.{near} = c.node) SELECT node FROM c"
                )).await;
                let mut nulls = 0;
                let mut got_both = BTreeSet::new();
                for b in &both {
                    let column =
                        arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)
                            .unwrap();
                    for v in column.as_string::<i32>() {
                        match v {
                            Some(v) => assert!(got_both.insert(v.to_string()), "{v} twice"),
                            None => nulls += 1,
                        }
                    }
                }
                assert_eq!(nulls, 1, "UNION keeps one NULL");
                assert_eq!(got_both, expected_both, "closure from {start} and {other}");
            }

            // A path is a chain of edges from `from` to `to`, as short as the reference says.
            let (from, to) = (format!("n{}", rng.below(n)), format!("n{}", rng.below(n)));
            let path = rows(
                &engine,
                &format!(
                    "SELECT step, src, dst, node FROM lineage_path('{from}', '{to}') ORDER BY step"
                ),
            )
            .await;
            let hops: Vec<(String, String)> = path
                .iter()
                .flat_map(|b| {
                    let (s, d) = (
                        b.column(1).as_string::<i32>(),
                        b.column(2).as_string::<i32>(),
                    );
                    (0..b.num_rows())
                        .map(|i| (s.value(i).to_string(), d.value(i).to_string()))
                        .collect::<Vec<_>>()
                })
                .collect();
            match reference(&edges, &from, false).get(&to) {
                Some(distance) if from != to => {
                    assert_eq!(hops.len() as i64, *distance, "path {from} -> {to}");
                    assert_eq!(hops[0].0, from);
                    assert_eq!(hops.last().unwrap().1, to);
                    assert!(hops.windows(2).all(|w| w[0].1 == w[1].0), "{hops:?}");
                    assert!(
                        hops.iter()
                            .all(|h| edges.iter().any(|e| e.src == h.0 && e.dst == h.1))
                    );
                }
                _ => assert!(
                    hops.is_empty(),
                    "no path {from} -> {to} expected, got {hops:?}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn the_index_follows_new_commits_and_rewrites() {
    let warehouse = Warehouse::open("memory://").await.unwrap();
    let engine = Engine::new(&warehouse).await.unwrap();
    let down = "SELECT node FROM lineage_downstream('a') ORDER BY node";
    assert!(
        node_set(&engine, down).await.is_empty(),
        "an empty warehouse reaches nothing"
    );

    let append = |edges: Vec<LineageEdgeRow>| {
        let warehouse = warehouse.clone();
        async move {
            warehouse
                .append_published("lineage_edges", vec![LineageEdgeRow::to_batch(&edges)])
                .await
                .unwrap()
        }
    };
    append(vec![edge("a", "b"), edge("b", "c")]).await;
    assert_eq!(
        node_set(&engine, down).await,
        BTreeSet::from(["b".into(), "c".into()])
    );
    // A second commit: only its file is read, and the graph grows.
    append(vec![edge("c", "d"), edge("d", "a")]).await;
    assert_eq!(
        node_set(&engine, down).await,
        BTreeSet::from(["b".into(), "c".into(), "d".into()])
    );
    assert_eq!(engine.lineage_index().graph().await.edge_count(), 4);
    // Recursive SQL served from the index sees the same commit, every column included.
    append(vec![edge("d", "e")]).await;
    let cte = "WITH RECURSIVE d(node, at, run) AS (SELECT 'a', CAST(NULL AS TIMESTAMP) AS at, CAST(NULL AS VARCHAR) AS run \
               UNION SELECT e.dst, e.event_time, e.run_id FROM lineage_edges e JOIN d ON e.src = d.node) \
               SELECT node FROM d WHERE at = TIMESTAMP '2026-01-01T00:00:00' AND run LIKE 'run:%'";
    assert_eq!(
        node_set(&engine, cte).await,
        BTreeSet::from(["a".into(), "b".into(), "c".into(), "d".into(), "e".into()])
    );

    // A rewrite (a MERGE replaces the file holding b -> c): the index starts over.
    warehouse
        .upsert_published(
            "lineage_edges",
            LineageEdgeRow::to_batch(&[edge("b", "z")]),
            "src",
            None,
        )
        .await
        .unwrap();
    let after = node_set(&engine, down).await;
    assert_eq!(
        after,
        BTreeSet::from(["b".into(), "z".into()]),
        "b -> c is gone, b -> z is new"
    );
    assert_eq!(engine.lineage_index().graph().await.edge_count(), 5);
}

#[tokio::test]
async fn bad_arguments_are_plan_errors() {
    let warehouse = Warehouse::open("memory://").await.unwrap();
    let engine = Engine::new(&warehouse).await.unwrap();
    for (sql, says) in [
        ("SELECT * FROM lineage_upstream()", "takes 1 or 2 arguments"),
        (
            "SELECT * FROM lineage_upstream(42)",
            "must be a text literal",
        ),
        (
            "SELECT * FROM lineage_downstream('a', -1)",
            "max_depth must be a non-negative integer",
        ),
        ("SELECT * FROM lineage_path('a')", "takes 2 arguments"),
    ] {
        let err = engine
            .query(sql)
            .await
            .err()
            .unwrap_or_else(|| panic!("{sql} ran"))
            .to_string();
        assert!(err.contains(says), "{sql}: {err}");
    }
}

/// An engine over `edges` with several partitions, as on any multi-core machine, so that
/// exchanges are planned at all, and even these tiny files are scanned in several.
async fn engine_with_partitions(edges: &[LineageEdgeRow], max_depth: usize) -> Engine {
    let warehouse = Warehouse::open("memory://").await.unwrap();
    for edge in edges {
        warehouse
            .append_published(
                "lineage_edges",
                vec![LineageEdgeRow::to_batch(std::slice::from_ref(edge))],
            )
            .await
            .unwrap();
    }
    let mut config = datafusion::prelude::SessionConfig::new();
    config
        .options_mut()
        .extensions
        .insert(prov9_query::Prov9Options::default());
    let config = config
        .set_usize("prov9.max_recursion_depth", max_depth)
        .with_target_partitions(4)
        .with_repartition_file_min_size(0);
    Engine::with_config(&warehouse, config).await.unwrap()
}

async fn explain(engine: &Engine, sql: &str) -> String {
    arrow::util::pretty::pretty_format_batches(&rows(engine, &format!("EXPLAIN {sql}")).await)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn recursive_sql_over_lineage_edges_reads_the_index_and_stops_runaways() {
    let engine =
        engine_with_partitions(&[edge("a", "b"), edge("b", "c"), edge("c", "a")], 50).await;
    // The join against lineage_edges inside the recursion is served from the index.
    let up = "WITH RECURSIVE up(node) AS (SELECT 'c' UNION SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node) SELECT node FROM up";
    let plan = explain(&engine, up).await;
    // A plain closure is one traversal of the index, not a join per hop.
    assert!(plan.contains("LineageClosureExec: Upstream"), "{plan}");
    assert!(!plan.contains("RecursiveQueryExec"), "{plan}");
    assert_eq!(
        node_set(&engine, up).await,
        BTreeSet::from(["a".into(), "b".into(), "c".into()])
    );
    // Anything more (here a filter) keeps DataFusion's per-hop recursion, each hop's edges
    // read from the index.
    let up = "WITH RECURSIVE up(node) AS (SELECT 'c' UNION SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node WHERE e.edge_type <> 'output') SELECT node FROM up";
    let plan = explain(&engine, up).await;
    assert!(plan.contains("RecursiveQueryExec"), "{plan}");
    assert!(plan.contains("FrontierEdgesExec: Upstream"), "{plan}");
    assert!(plan.contains("FrontierTapExec"), "{plan}");
    // The recursive term runs once per hop on one partition: no exchange below the hop limit.
    let term = &plan[plan.find("HopLimitExec").expect("a hop limit")..];
    assert!(
        !term.contains("RepartitionExec") && !term.contains("CoalescePartitionsExec"),
        "{plan}"
    );
    assert_eq!(
        node_set(&engine, up).await,
        BTreeSet::from(["a".into(), "b".into(), "c".into()])
    );
    // A join the rule does not take reads lineage_edges from the index, not from Delta files.
    let unindexed = "WITH RECURSIVE up(node) AS (SELECT 'c' UNION SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node AND e.src <> up.node) SELECT node FROM up";
    let unindexed_plan = arrow::util::pretty::pretty_format_batches(
        &rows(&engine, &format!("EXPLAIN {unindexed}")).await,
    )
    .unwrap()
    .to_string();
    assert!(
        unindexed_plan.contains("IndexEdgesExec"),
        "{unindexed_plan}"
    );
    assert!(
        !plan.contains("DataSourceExec") && !plan.contains("DeltaScan"),
        "{plan}"
    );
    assert_eq!(
        node_set(&engine, unindexed).await,
        BTreeSet::from(["a".into(), "b".into(), "c".into()])
    );
    // Outside a recursion, lineage_edges is scanned as usual.
    let plain = arrow::util::pretty::pretty_format_batches(
        &rows(
            &engine,
            "EXPLAIN SELECT * FROM lineage_edges e JOIN runs r ON e.run_id = r.run_id",
        )
        .await,
    )
    .unwrap()
    .to_string();
    assert!(!plain.contains("FrontierEdgesExec"), "{plain}");

    // UNION ALL around the cycle never ends by itself: stopped at the configured depth.
    let runaway = "WITH RECURSIVE up(node, d) AS (SELECT 'c', 0 UNION ALL SELECT e.src, d + 1 FROM lineage_edges e JOIN up ON e.dst = up.node) SELECT count(*) FROM up";
    let err = engine
        .query(runaway)
        .await
        .expect_err("a runaway recursion fails")
        .to_string();
    assert!(
        err.contains("recursive query stopped after 50 iterations"),
        "{err}"
    );
    // Bounded in the query, it ends, with one row per hop.
    let bounded = "WITH RECURSIVE up(node, d) AS (SELECT 'c', 0 UNION ALL SELECT e.src, d + 1 FROM lineage_edges e JOIN up ON e.dst = up.node WHERE up.d < 30) SELECT count(*) FROM up";
    let count = rows(&engine, bounded).await[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(count, 31);
}

#[tokio::test]
async fn queries_over_lineage_calls_alone_run_in_one_partition() {
    let engine = engine_with_partitions(
        &[
            edge("a", "b"),
            edge("b", "c"),
            edge("b", "d"),
            edge("c", "a"),
        ],
        50,
    )
    .await;
    let count = "SELECT count(*) FROM lineage_downstream('a', 10)";
    let plan = explain(&engine, count).await;
    assert!(plan.contains("LineageCallExec"), "{plan}");
    assert!(
        !plan.contains("RepartitionExec") && !plan.contains("CoalescePartitionsExec"),
        "{plan}"
    );
    let counted = rows(&engine, count).await[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(
        counted, 3,
        "b, c and d: not the start, though the cycle reaches it"
    );

    // Grouping and sorting work on the one partition.
    let by_depth = "SELECT depth, count(*) AS nodes FROM lineage_downstream('a', 10) GROUP BY depth ORDER BY depth";
    let plan = explain(&engine, by_depth).await;
    assert!(!plan.contains("RepartitionExec"), "{plan}");
    let got = arrow::util::pretty::pretty_format_batches(&rows(&engine, by_depth).await)
        .unwrap()
        .to_string();
    let expected = [
        "+-------+-------+",
        "| depth | nodes |",
        "+-------+-------+",
        "| 1     | 1     |",
        "| 2     | 2     |",
        "+-------+-------+",
    ];
    assert_eq!(got.lines().collect::<Vec<_>>(), expected);

    // Two calls side by side are two partitions: the aggregate above still gets them merged.
    let both = "SELECT count(*) FROM (SELECT node FROM lineage_downstream('a', 10) UNION ALL SELECT node FROM lineage_upstream('a', 10))";
    let counted = rows(&engine, both).await[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(counted, 3 + 2, "b, c, d downstream; c, b upstream");
}
