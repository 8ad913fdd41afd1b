//! Plans answered from the lineage index alone run in one partition.
//!
//! A lineage call ([`LineageCallExec`]) or a recursive term's frontier yields its rows from one
//! walk of the in-memory index, in one partition. DataFusion would still spread them over its
//! target partitions (a round-robin `RepartitionExec` under an aggregate, say): at planning it
//! cannot know how few rows will come, and each exchange spawns tasks and channels every time
//! the plan runs. For a lineage query of a few thousand rows those hand-offs between threads
//! cost more than all the work. When every leaf
//! of a plan yields one partition and one of them reads the index, removing the exchanges
//! leaves a valid plan: one partition satisfies every distribution an operator asks for. A plan
//! that also reads a table keeps its parallelism.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use super::call_exec::LineageCallExec;

/// `plan` without its exchanges, when every leaf yields one partition and some node satisfies
/// `reads_index`; otherwise `plan` as it is.
pub(crate) fn without_exchanges(
    plan: Arc<dyn ExecutionPlan>,
    reads_index: impl Fn(&dyn ExecutionPlan) -> bool,
) -> Result<Arc<dyn ExecutionPlan>> {
    let indexed = plan.exists(|p| Ok(reads_index(p.as_ref())))?;
    let single_leaves = !plan.exists(|p| {
        Ok(p.children().is_empty() && p.output_partitioning().partition_count() != 1)
    })?;
    if !indexed || !single_leaves {
        return Ok(plan);
    }
    let single = Arc::clone(&plan)
        .transform_up(|p| {
            // A coalesce with a fetch is also a limit: it stays.
            let exchange = p.is::<RepartitionExec>()
                || (p.is::<CoalescePartitionsExec>() && p.fetch().is_none());
            Ok(match p.children().as_slice() {
                [input] if exchange => Transformed::yes(Arc::clone(input)),
                _ => Transformed::no(p),
            })
        })
        .data()?;
    // A node may join partitions of its own (a UNION has its inputs' partitions side by side);
    // then what it feeds needed the exchanges.
    let one_partition = !single.exists(|p| Ok(p.output_partitioning().partition_count() != 1))?;
    Ok(if one_partition { single } else { plan })
}

/// The physical optimizer rule that runs queries over lineage calls alone in one partition.
#[derive(Debug)]
pub struct LineageCallsInOnePartition;

impl PhysicalOptimizerRule for LineageCallsInOnePartition {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        without_exchanges(plan, |p| p.is::<LineageCallExec>())
    }

    fn name(&self) -> &str {
        "prov9_lineage_calls_in_one_partition"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
