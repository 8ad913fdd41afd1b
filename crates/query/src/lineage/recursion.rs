//! Users' own `WITH RECURSIVE` over `lineage_edges`, answered from the lineage index.
//!
//! DataFusion runs a recursive CTE by re-running its recursive term once per hop; when that term
//! joins the work table (the frontier) with `lineage_edges`, each hop scans the whole edge table.
//! [`IndexedRecursion`] is a physical optimizer rule that finds that join inside a
//! `RecursiveQueryExec` and makes the frontier the hash join's build side, then swaps the edge
//! scan for [`FrontierEdgesExec`]: by the time the join reads its probe side, the frontier has
//! passed through [`FrontierTapExec`], and only the edges touching it are read from the index.
//! Everything else — filters and projections over the edges, the join itself, UNION
//! deduplication — stays DataFusion's, so answers are unchanged; only the scan shrinks from the
//! whole table to the frontier's edges.
//!
//! Every recursive term also gets a [`HopLimitExec`]: a recursion that does not end (UNION ALL
//! around a cycle) fails after `prov9.max_recursion_depth` hops (default 10,000) with a clear
//! error instead of running forever.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinType, resources_datafusion_err};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, HashJoinExecBuilder, PartitionMode};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::work_table::WorkTableExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};

use super::closure::closure_of;
use super::edges_table::EdgeScanExec;
use super::frontier::{Frontier, FrontierEdgesExec, FrontierTapExec};
use super::graph::Direction;
use super::single_partition::without_exchanges;
use crate::Prov9Options;
use crate::exec_wrapper::ExecWrapper;

#[derive(Debug)]
pub struct IndexedRecursion;

impl PhysicalOptimizerRule for IndexedRecursion {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let max_depth = config.extensions.get::<Prov9Options>().map_or_else(
            || Prov9Options::default().max_recursion_depth,
            |o| o.max_recursion_depth,
        );
        // The index follows the newest snapshot; a query of the past recurses over the table.
        if Prov9Options::travels(config) {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(recursive) = node.downcast_ref::<RecursiveQueryExec>() else {
                return Ok(Transformed::no(node));
            };
            let term = Arc::clone(recursive.recursive_term());
            let term = term.transform_up(index_join).data()?;
            // The term runs again for every hop, so its exchanges' hand-offs between threads
            // were paid per hop (about 80 hops for a 1,000-node closure).
            let term = without_exchanges(term, |p| p.is::<FrontierEdgesExec>())?;
            if let Some(closure) = closure_of(recursive, &term) {
                return Ok(Transformed::yes(Arc::new(closure)));
            }
            let term: Arc<dyn ExecutionPlan> = Arc::new(HopLimitExec {
                input: term,
                max_depth,
                hops: Arc::new(AtomicUsize::new(0)),
            });
            let children = vec![Arc::clone(recursive.static_term()), term];
            Ok(Transformed::yes(node.replace_children(
                children,
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
            )?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "prov9_indexed_recursion"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A recursive term answered from the index, run on one partition.
///
fn contains_work_table(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.exists(|p| Ok(p.is::<WorkTableExec>()))
        .unwrap_or(false)
}

/// Follow output column `column` of `plan` down to an `EdgeScanExec`: the scan and the table
/// column (`src`, `dst`, …) it is. Only plans that keep rows and columns as they are, or filter
/// or rename them, are walked through.
fn trace_edge_column(
    plan: &Arc<dyn ExecutionPlan>,
    column: usize,
) -> Option<(&EdgeScanExec, String)> {
    if let Some(scan) = plan.downcast_ref::<EdgeScanExec>() {
        let field = scan.input.schema().field(column).name().clone();
        return Some((scan, field));
    }
    if let Some(p) = plan.downcast_ref::<ProjectionExec>() {
        let c = p.expr().get(column)?.expr.downcast_ref::<Column>()?;
        return trace_edge_column(p.input(), c.index());
    }
    if let Some(f) = plan.downcast_ref::<FilterExec>() {
        let column = match f.projection() {
            Some(p) => *p.get(column)?,
            None => column,
        };
        return trace_edge_column(f.input(), column);
    }
    let passes_through = plan.is::<CoalescePartitionsExec>()
        || plan.is::<RepartitionExec>()
        || plan.name() == "CoalesceBatchesExec"
        || plan.name() == "CooperativeExec";
    if passes_through && plan.children().len() == 1 {
        return trace_edge_column(plan.children()[0], column);
    }
    None
}

/// Rewrite one node of a recursive term if it is the frontier ⋈ lineage_edges join.
fn index_join(node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else {
        return Ok(Transformed::no(node));
    };
    if join.join_type() != &JoinType::Inner || join.filter().is_some() || join.on().len() != 1 {
        return Ok(Transformed::no(node));
    }
    let (left, right) = (join.left(), join.right());
    let frontier_is_left = match (contains_work_table(left), contains_work_table(right)) {
        (true, false) => true,
        (false, true) => false,
        _ => return Ok(Transformed::no(node)),
    };
    let (frontier_side, edge_side) = if frontier_is_left {
        (left, right)
    } else {
        (right, left)
    };
    let (left_key, right_key) = &join.on()[0];
    let (frontier_key, edge_key) = if frontier_is_left {
        (left_key, right_key)
    } else {
        (right_key, left_key)
    };
    let Some(edge_column) = edge_key.downcast_ref::<Column>() else {
        return Ok(Transformed::no(node));
    };
    let Some((scan, field)) = trace_edge_column(edge_side, edge_column.index()) else {
        return Ok(Transformed::no(node));
    };
    let direction = match field.as_str() {
        "dst" => Direction::Upstream,
        "src" => Direction::Downstream,
        _ => return Ok(Transformed::no(node)),
    };
    let frontier = Arc::new(Frontier::default());
    let edges: Arc<dyn ExecutionPlan> = Arc::new(FrontierEdgesExec::new(
        Arc::clone(&scan.index),
        Arc::clone(&frontier),
        direction,
        scan.projection.clone(),
        scan.input.schema(),
    ));
    let edge_side = Arc::clone(edge_side)
        .transform_up(|p| {
            Ok(if p.is::<EdgeScanExec>() {
                Transformed::yes(Arc::clone(&edges))
            } else {
                Transformed::no(p)
            })
        })
        .data()?;
    let mut frontier_side = Arc::clone(frontier_side);
    if frontier_side.output_partitioning().partition_count() > 1 {
        frontier_side = Arc::new(CoalescePartitionsExec::new(frontier_side));
    }
    let tap: Arc<dyn ExecutionPlan> = Arc::new(FrontierTapExec {
        input: frontier_side,
        key: Arc::clone(frontier_key),
        frontier,
    });
    // The frontier is the build side, so it is complete before any edge is looked up. Output
    // columns keep their order: the join's projection is remapped when the sides swap.
    let (left_width, right_width) = (left.schema().fields().len(), right.schema().fields().len());
    let projection: Vec<usize> = match &join.projection {
        Some(p) => p.iter().copied().collect(),
        None => (0..left_width + right_width).collect(),
    };
    let projection = if frontier_is_left {
        projection
    } else {
        projection
            .into_iter()
            .map(|i| {
                if i < left_width {
                    right_width + i
                } else {
                    i - left_width
                }
            })
            .collect()
    };
    let rewritten = HashJoinExecBuilder::new(
        tap,
        edge_side,
        vec![(Arc::clone(frontier_key), Arc::clone(edge_key))],
        JoinType::Inner,
    )
    .with_partition_mode(PartitionMode::CollectLeft)
    .with_null_equality(join.null_equality())
    .with_projection(Some(projection))
    .build_exec()?;
    Ok(Transformed::yes(rewritten))
}

/// Counts the hops of a recursion (each re-execution of its recursive term) and stops it past
/// `max_depth`.
#[derive(Debug)]
struct HopLimitExec {
    input: Arc<dyn ExecutionPlan>,
    max_depth: usize,
    hops: Arc<AtomicUsize>,
}

impl DisplayAs for HopLimitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "HopLimitExec: max_depth={}", self.max_depth)
    }
}

impl ExecWrapper for HopLimitExec {
    fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        // The count survives the per-hop reset of the plan's state: it is the recursion's.
        HopLimitExec {
            input,
            max_depth: self.max_depth,
            hops: Arc::clone(&self.hops),
        }
    }
}

impl ExecutionPlan for HopLimitExec {
    fn name(&self) -> &str {
        "HopLimitExec"
    }

    // It limits executions, not rows: each run yields its input's rows, all of them, or fails.
    // So statistics are the input's and a limit or filter may go below it, like through
    // DataFusion's CooperativeExec.
    crate::forward_to_input!(statistics, limit, filters);

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let hop = self.hops.fetch_add(1, Ordering::Relaxed) + 1;
        if hop > self.max_depth {
            return Err(resources_datafusion_err!(
                "recursive query stopped after {} iterations (prov9.max_recursion_depth): it does not end on its own, as UNION ALL over a cycle does not; use UNION, or bound the depth in the query",
                self.max_depth
            ));
        }
        self.input.execute(partition, context)
    }
}
