//! `prov9 lineage NODE`: a node's upstream and downstream drawn as DOT, Mermaid, SVG or JSON,
//! from the same walk the SQL lineage functions answer.

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use prov9_graph::{Direction, Edge, LineageGraph, Node};
use prov9_query::Engine;
use prov9_store::Warehouse;

use crate::args::LineageArgs;

pub async fn run(data: &str, args: LineageArgs) -> anyhow::Result<()> {
    let warehouse = Warehouse::open_existing(data).await?;
    let engine = match &args.as_of {
        Some(time) => Engine::as_of(&warehouse, time).await?,
        None => Engine::new(&warehouse).await?,
    };
    let directions = match (args.upstream, args.downstream) {
        (true, false) => vec![Direction::Upstream],
        (false, true) => vec![Direction::Downstream],
        _ => vec![Direction::Upstream, Direction::Downstream],
    };
    let graph = walk(&engine, &args.node, &directions, args.depth).await?;
    print!("{}", graph.render(args.format.into()));
    Ok(())
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The node's graph: `lineage_upstream` / `lineage_downstream` rows with `lineage_nodes` names.
pub async fn walk(
    engine: &Engine,
    node: &str,
    directions: &[Direction],
    depth: Option<u32>,
) -> anyhow::Result<LineageGraph> {
    let describe = |id_column: &str, from: &str| {
        format!(
            "SELECT {id_column}, n.kind, n.namespace, n.name, n.version FROM {from} \
             LEFT JOIN lineage_nodes n ON n.node_id = {id_column}"
        )
    };
    let start_sql = format!(
        "{} WHERE s.node_id = {}",
        describe(
            "s.node_id",
            "(SELECT src AS node_id FROM lineage_edges UNION SELECT dst FROM lineage_edges) s"
        ),
        literal(node)
    );
    let (_, batches) = engine.query(&start_sql).await?;
    let Some(start) = nodes(&batches, Direction::Start).into_iter().next() else {
        anyhow::bail!(
            "{node} is not in the lineage graph; node ids look like dataset:<namespace>:<name>@<version>, \
             run:<run id>, model:<namespace>:<name>@<version> (list them: prov9 sql \"SELECT node_id, kind, name FROM lineage_nodes\")"
        );
    };
    let mut graph = LineageGraph::new(start.0);
    for &direction in directions {
        let function = match direction {
            Direction::Downstream => "lineage_downstream",
            _ => "lineage_upstream",
        };
        let call = match depth {
            Some(d) => format!("{function}({}, {d})", literal(node)),
            None => format!("{function}({})", literal(node)),
        };
        let sql = format!(
            "SELECT w.node, n.kind, n.namespace, n.name, n.version, w.depth, w.src, w.dst, w.edge_type, w.run_id \
             FROM {call} w LEFT JOIN lineage_nodes n ON n.node_id = w.node ORDER BY w.depth, w.node"
        );
        let (_, batches) = engine.query(&sql).await?;
        for (node, edge) in nodes(&batches, direction) {
            if let Some(edge) = edge {
                graph.reach(node, edge);
            }
        }
    }
    Ok(graph)
}

/// Rows `node, kind, namespace, name, version [, depth, src, dst, edge_type, run_id]`.
fn nodes(batches: &[RecordBatch], direction: Direction) -> Vec<(Node, Option<Edge>)> {
    let mut out = Vec::new();
    for b in batches {
        let text = |column: usize, row: usize| -> Option<String> {
            let array = b.column(column);
            if array.is_null(row) {
                return None;
            }
            let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8).ok()?;
            Some(array.as_string::<i32>().value(row).to_string())
        };
        for row in 0..b.num_rows() {
            let depth = if b.num_columns() > 5 {
                let depths = arrow::compute::cast(b.column(5), &arrow::datatypes::DataType::Int64)
                    .expect("depth is an integer");
                depths.as_primitive::<Int64Type>().value(row)
            } else {
                0
            };
            let node = Node {
                id: text(0, row).unwrap_or_default(),
                kind: text(1, row),
                namespace: text(2, row),
                name: text(3, row),
                version: text(4, row),
                depth,
                direction,
            };
            let edge = (b.num_columns() > 5).then(|| Edge {
                src: text(6, row).unwrap_or_default(),
                dst: text(7, row).unwrap_or_default(),
                edge_type: text(8, row).unwrap_or_default(),
                run_id: text(9, row),
            });
            out.push((node, edge));
        }
    }
    out
}
