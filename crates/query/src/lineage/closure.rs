//! The commonest recursive lineage query — every node reachable from some start nodes —
//! answered by one traversal of the lineage index instead of one join per hop.
//!
//! ```sql
//! WITH RECURSIVE up(node) AS (
//!     SELECT 'model:…'                      -- any query yielding the start nodes
//!     UNION
//!     SELECT e.src FROM lineage_edges e JOIN up ON e.dst = up.node
//! )
//! SELECT … FROM up
//! ```
//!
//! With `UNION` (not `UNION ALL`), one column, and a recursive term that is nothing but the join
//! of the work table with `lineage_edges` on one endpoint, projected to the other endpoint, the
//! answer is exactly the start nodes (distinct) plus the closure from them: [`closure_of`]
//! recognises that shape in a term [`super::IndexedRecursion`] has already rewritten and
//! replaces the whole `RecursiveQueryExec` with [`LineageClosureExec`]. DataFusion otherwise
//! re-plans the hash join, and deduplicates, once per hop: about 80 hops for a model's upstream.
//! Any other recursive term (a filter, a depth column, another table) keeps the per-hop plan.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{JoinType, NullEquality};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::work_table::WorkTableExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream, collect,
};
use futures::StreamExt;
use prov9_model::tables::LineageEdgeRow;

use super::frontier::{FrontierEdgesExec, FrontierTapExec};
use super::graph::Direction;
use super::index::LineageIndex;
use super::one_partition;
use crate::exec_wrapper::single_child;

/// `recursive` as one traversal, when its rewritten recursive `term` is a plain closure.
pub(super) fn closure_of(
    recursive: &RecursiveQueryExec,
    term: &Arc<dyn ExecutionPlan>,
) -> Option<LineageClosureExec> {
    let schema = recursive.schema();
    if !recursive.is_distinct()
        || schema.fields().len() != 1
        || !is_text(schema.field(0).data_type())
    {
        return None;
    }
    let (join, column) = through_renames(term, 0)?;
    let join = join.downcast_ref::<HashJoinExec>()?;
    if join.join_type() != &JoinType::Inner
        || join.filter().is_some()
        || join.null_equality() != NullEquality::NullEqualsNothing
    {
        return None;
    }
    // IndexedRecursion put the frontier on the left, the index's edges on the right.
    let tap = join.left().downcast_ref::<FrontierTapExec>()?;
    let (work_table, key) = through_renames(&tap.input, text_column(&tap.key)?)?;
    if !work_table.is::<WorkTableExec>() || key != 0 {
        return None;
    }
    let edges = join.right().downcast_ref::<FrontierEdgesExec>()?;
    let left_width = join.left().schema().fields().len();
    let joined = match &join.projection {
        Some(p) => *p.get(column)?,
        None => column,
    };
    let edge_column = edges.table_column(joined.checked_sub(left_width)?)?;
    let far_end = match edges.direction {
        Direction::Upstream => "src",
        Direction::Downstream => "dst",
    };
    (LineageEdgeRow::schema().field(edge_column).name() == far_end).then(|| {
        LineageClosureExec::new(
            Arc::clone(recursive.static_term()),
            Arc::clone(&edges.index),
            edges.direction,
            recursive.schema(),
        )
    })
}

/// Follow output `column` of `plan` through projections that only pick columns (or cast one
/// text type to another, as a `'literal'` start makes DataFusion do).
fn through_renames(
    plan: &Arc<dyn ExecutionPlan>,
    column: usize,
) -> Option<(&Arc<dyn ExecutionPlan>, usize)> {
    if let Some(p) = plan.downcast_ref::<ProjectionExec>() {
        let input = p.input();
        let picked = text_column(&p.expr().get(column)?.expr)?;
        if !is_text(input.schema().field(picked).data_type()) {
            return None;
        }
        return through_renames(input, picked);
    }
    if plan.name() == "CoalesceBatchesExec" || plan.name() == "CooperativeExec" {
        return through_renames(plan.children().first()?, column);
    }
    Some((plan, column))
}

/// The input column `expr` is, possibly cast to a text type.
fn text_column(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    if let Some(c) = expr.downcast_ref::<Column>() {
        return Some(c.index());
    }
    let cast = expr.downcast_ref::<CastExpr>()?;
    is_text(cast.cast_type()).then_some(())?;
    let column = cast.expr().downcast_ref::<Column>()?;
    Some(column.index())
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// The start nodes (distinct, as `UNION` keeps them) and then every node reachable from them,
/// each once.
#[derive(Debug)]
pub struct LineageClosureExec {
    start: Arc<dyn ExecutionPlan>,
    index: Arc<LineageIndex>,
    direction: Direction,
    properties: Arc<PlanProperties>,
}

impl LineageClosureExec {
    fn new(
        start: Arc<dyn ExecutionPlan>,
        index: Arc<LineageIndex>,
        direction: Direction,
        schema: SchemaRef,
    ) -> Self {
        let start = if start.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(start)) as _
        } else {
            start
        };
        let properties = one_partition(schema, EmissionType::Final);
        LineageClosureExec {
            start,
            index,
            direction,
            properties,
        }
    }
}

impl DisplayAs for LineageClosureExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "LineageClosureExec: {:?} from the lineage index",
            self.direction
        )
    }
}

impl ExecutionPlan for LineageClosureExec {
    fn name(&self) -> &str {
        "LineageClosureExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.start]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Only the one-child check: the node has its own properties (one partition, its own
        // rows), so nothing of its start's is forwarded.
        let start = single_child(children, self.name())?;
        Ok(Arc::new(LineageClosureExec::new(
            start,
            Arc::clone(&self.index),
            self.direction,
            self.schema(),
        )))
    }

    fn execute(
        &self,
        _partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (start, index, direction) = (
            Arc::clone(&self.start),
            Arc::clone(&self.index),
            self.direction,
        );
        let schema = self.schema();
        let out_schema = Arc::clone(&schema);
        let batch = futures::stream::once(async move {
            let starts = collect(start, context).await?;
            let mut names = StringBuilder::new();
            let mut listed: HashSet<String> = HashSet::new();
            let mut null_listed = false;
            let graph = index.graph().await;
            let mut from = Vec::new();
            for batch in &starts {
                let column = cast(batch.column(0), &DataType::Utf8)?;
                for value in column.as_string::<i32>() {
                    match value {
                        // UNION keeps one NULL; it joins no edge.
                        None if !null_listed => {
                            null_listed = true;
                            names.append_null();
                        }
                        None => {}
                        Some(name) if listed.insert(name.to_string()) => {
                            names.append_value(name);
                            from.extend(graph.node(name));
                        }
                        Some(_) => {}
                    }
                }
            }
            for reached in graph.traverse_from(&from, direction, None) {
                names.append_value(graph.name(reached.node).as_ref());
            }
            drop(graph);
            let names = names.finish();
            let column = cast(&names, schema.field(0).data_type())?;
            Ok(RecordBatch::try_new(schema, vec![column])?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            out_schema,
            batch.boxed(),
        )))
    }
}
