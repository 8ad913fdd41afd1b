//! The walk a drawing shows: the lineage table functions' rows for a node, with each node's
//! name from `lineage_nodes`, asked of the query engine in SQL (so a drawing holds exactly
//! what `lineage_upstream` / `lineage_downstream` answer).

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use prov9_query::{Engine, QueryError, string_literal as literal};

use crate::{Direction, Edge, LineageGraph, Node};

/// Why a walk has no graph.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error(
        "{0} is not in the lineage graph; node ids look like dataset:<namespace>:<name>@<version>, \
         run:<run id>, model:<namespace>:<name>@<version> (list them: SELECT node_id, kind, name FROM lineage_nodes)"
    )]
    UnknownNode(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// The node's graph: `lineage_upstream` / `lineage_downstream` rows with `lineage_nodes` names.
pub async fn walk(
    engine: &Engine,
    node: &str,
    directions: &[Direction],
    depth: Option<u32>,
) -> Result<LineageGraph, WalkError> {
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
        return Err(WalkError::UnknownNode(node.to_string()));
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
