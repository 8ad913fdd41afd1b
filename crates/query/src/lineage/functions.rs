//! `lineage_upstream(node [, max_depth])`, `lineage_downstream(node [, max_depth])` and
//! `lineage_path(from, to)`: table functions answered from the lineage index.
//!
//! Each returns one row per reached node with the edge that reached it:
//! `node, depth, src, dst, edge_type, run_id` (`depth` is `step` for a path). The start node is
//! not listed; an unknown node reaches nothing.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::DataFusionError;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::call_exec::{LineageCallExec, Request};
use super::graph::Direction;
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

/// Whether `table` is a lineage table function's call: its rows come from the index when its
/// plan runs, never from a snapshot taken at planning.
pub fn is_lineage_call(table: &dyn TableProvider) -> bool {
    table.downcast_ref::<LineageTable>().is_some()
}

/// The result of one call, computed when executed (so from the newest commit).
#[derive(Debug)]
struct LineageTable {
    index: Arc<LineageIndex>,
    request: Request,
    schema: SchemaRef,
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
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        // A past snapshot (`prov9.as_of`) walks a graph of its own, built now; otherwise the
        // live index is walked when the plan runs.
        let past = match prov9_store::Snapshot::pinned() {
            Some(snapshot) if snapshot.past => Some(
                self.index
                    .graph_at(&snapshot)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?,
            ),
            _ => None,
        };
        Ok(Arc::new(LineageCallExec::new(
            self.index.clone(),
            past,
            self.request.clone(),
            Arc::new(self.schema.project(&columns)?),
            columns,
        )))
    }
}
