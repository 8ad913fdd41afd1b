//! `lineage_upstream(node [, max_depth])`, `lineage_downstream(node [, max_depth])` and
//! `lineage_path(from, to)`: table functions answered from the lineage index.
//!
//! Each returns one row per reached node with the edge that reached it:
//! `node, depth, src, dst, edge_type, run_id` (`depth` is `step` for a path). The start node is
//! not listed; an unknown node reaches nothing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::graph::{Direction, Graph};
use super::index::LineageIndex;

/// Which table function.
#[derive(Debug, Clone, Copy)]
pub enum Traversal {
    Upstream,
    Downstream,
    Path,
}

impl Traversal {
    pub fn name(self) -> &'static str {
        match self {
            Traversal::Upstream => "lineage_upstream",
            Traversal::Downstream => "lineage_downstream",
            Traversal::Path => "lineage_path",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Traversal::Upstream => "lineage_upstream(node text [, max_depth integer])",
            Traversal::Downstream => "lineage_downstream(node text [, max_depth integer])",
            Traversal::Path => "lineage_path(from_node text, to_node text)",
        }
    }
}

#[derive(Debug)]
pub struct LineageFunction {
    pub index: Arc<LineageIndex>,
    pub traversal: Traversal,
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(v, _) => Some(v),
        Expr::Cast(c) => literal(&c.expr),
        _ => None,
    }
}

impl TableFunctionImpl for LineageFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let t = self.traversal;
        let exprs = args.exprs();
        let text = |i: usize| -> Result<String> {
            match exprs.get(i).and_then(literal) {
                Some(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)),
                ) => Ok(s.clone()),
                _ => plan_err!(
                    "{}: argument {} must be a text literal (a node id such as 'run:…')",
                    t.usage(),
                    i + 1
                ),
            }
        };
        let (max_args, min_args) = match t {
            Traversal::Path => (2, 2),
            _ => (2, 1),
        };
        if exprs.len() < min_args || exprs.len() > max_args {
            return plan_err!(
                "{} takes {}",
                t.usage(),
                if min_args == max_args {
                    "2 arguments".to_string()
                } else {
                    "1 or 2 arguments".to_string()
                }
            );
        }
        let start = text(0)?;
        let request = match t {
            Traversal::Path => Request::Path {
                from: start,
                to: text(1)?,
            },
            _ => {
                let max_depth = match exprs.get(1) {
                    None => None,
                    Some(e) => match literal(e).and_then(|v| v.cast_to(&DataType::Int64).ok()) {
                        Some(ScalarValue::Int64(Some(d))) if d >= 0 => {
                            Some(u32::try_from(d).unwrap_or(u32::MAX))
                        }
                        Some(ScalarValue::Int64(None)) => None,
                        _ => {
                            return plan_err!(
                                "{}: max_depth must be a non-negative integer literal (or NULL for no limit)",
                                t.usage()
                            );
                        }
                    },
                };
                let direction = if matches!(t, Traversal::Upstream) {
                    Direction::Upstream
                } else {
                    Direction::Downstream
                };
                Request::Traverse {
                    start,
                    direction,
                    max_depth,
                }
            }
        };
        Ok(Arc::new(LineageTable {
            index: self.index.clone(),
            request,
            schema: schema(t),
        }))
    }
}

fn schema(t: Traversal) -> SchemaRef {
    let depth = if matches!(t, Traversal::Path) {
        "step"
    } else {
        "depth"
    };
    Arc::new(Schema::new(vec![
        Field::new("node", DataType::Utf8, false),
        Field::new(depth, DataType::Int64, false),
        Field::new("src", DataType::Utf8, false),
        Field::new("dst", DataType::Utf8, false),
        Field::new("edge_type", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, true),
    ]))
}

#[derive(Debug, Clone)]
enum Request {
    Traverse {
        start: String,
        direction: Direction,
        max_depth: Option<u32>,
    },
    Path {
        from: String,
        to: String,
    },
}

/// The result of one call, computed when scanned (so from the newest commit).
#[derive(Debug)]
struct LineageTable {
    index: Arc<LineageIndex>,
    request: Request,
    schema: SchemaRef,
}

impl LineageTable {
    /// The rows of the call, with only the `projection`'s columns built (none for `count(*)`).
    fn rows(&self, graph: &Graph, projection: Option<&Vec<usize>>) -> Result<RecordBatch> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let mut b = RowsBuilder::new(&columns);
        match &self.request {
            Request::Traverse {
                start,
                direction,
                max_depth,
            } => {
                if let Some(start) = graph.node(start) {
                    for r in graph.traverse(start, *direction, *max_depth) {
                        b.push(graph, r.node, r.depth as i64, r.edge);
                    }
                }
            }
            Request::Path { from, to } => {
                if let (Some(from), Some(to)) = (graph.node(from), graph.node(to))
                    && let Some(path) = graph.shortest_path(from, to)
                {
                    for (step, edge) in path.into_iter().enumerate() {
                        b.push(graph, graph.edge(edge).dst, step as i64 + 1, edge);
                    }
                }
            }
        }
        let schema = Arc::new(self.schema.project(&columns)?);
        b.finish(schema)
    }
}

/// One builder per output column, in the order of the table's schema:
/// `node, depth|step, src, dst, edge_type, run_id`.
enum ColumnBuilder {
    Node(StringBuilder),
    Depth(Int64Builder),
    Src(StringBuilder),
    Dst(StringBuilder),
    EdgeType(StringBuilder),
    RunId(StringBuilder),
}

struct RowsBuilder {
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl RowsBuilder {
    fn new(columns: &[usize]) -> Self {
        let columns = columns
            .iter()
            .map(|c| match c {
                0 => ColumnBuilder::Node(StringBuilder::new()),
                1 => ColumnBuilder::Depth(Int64Builder::new()),
                2 => ColumnBuilder::Src(StringBuilder::new()),
                3 => ColumnBuilder::Dst(StringBuilder::new()),
                4 => ColumnBuilder::EdgeType(StringBuilder::new()),
                _ => ColumnBuilder::RunId(StringBuilder::new()),
            })
            .collect();
        RowsBuilder { columns, rows: 0 }
    }

    fn push(&mut self, graph: &Graph, node: u32, depth: i64, edge: u32) {
        let e = graph.edge(edge);
        self.rows += 1;
        for column in &mut self.columns {
            match column {
                ColumnBuilder::Node(b) => b.append_value(graph.name(node).as_ref()),
                ColumnBuilder::Depth(b) => b.append_value(depth),
                ColumnBuilder::Src(b) => b.append_value(graph.name(e.src).as_ref()),
                ColumnBuilder::Dst(b) => b.append_value(graph.name(e.dst).as_ref()),
                ColumnBuilder::EdgeType(b) => b.append_value(graph.edge_type(e).as_ref()),
                ColumnBuilder::RunId(b) => b.append_option(e.run.map(|r| graph.name(r).as_ref())),
            }
        }
    }

    fn finish(self, schema: SchemaRef) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|column| -> ArrayRef {
                match column {
                    ColumnBuilder::Depth(mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Node(mut b)
                    | ColumnBuilder::Src(mut b)
                    | ColumnBuilder::Dst(mut b)
                    | ColumnBuilder::EdgeType(mut b)
                    | ColumnBuilder::RunId(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
    }
}

#[async_trait]
impl TableProvider for LineageTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let graph = self
            .index
            .current()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batch = self.rows(&graph, projection)?;
        drop(graph);
        let schema = batch.schema();
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            schema,
            None,
        )?)
    }
}
