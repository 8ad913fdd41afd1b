//! `prov9_query::exec_wrapper` used from another crate, as the server's `ControlledExec` does:
//! a wrapper that counts the streams it opens, written with `forward_to_input!`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::limit_pushdown::LimitPushdown;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ReplaceChildrenOptions,
    SendableRecordBatchStream, StatisticsArgs, StatisticsContext, collect,
};
use datafusion::prelude::SessionContext;
use prov9_query::exec_wrapper::ExecWrapper;

/// Passes its input through, counting the streams it opens (in `opened`, shared by rebuilds).
#[derive(Debug)]
struct CountingExec {
    input: Arc<dyn ExecutionPlan>,
    opened: Arc<AtomicUsize>,
}

impl DisplayAs for CountingExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CountingExec")
    }
}

impl ExecWrapper for CountingExec {
    fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        CountingExec {
            input,
            opened: Arc::clone(&self.opened),
        }
    }
}

impl ExecutionPlan for CountingExec {
    fn name(&self) -> &str {
        "CountingExec"
    }

    prov9_query::forward_to_input!(statistics, limit, filters);

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
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.input.execute(partition, context)
    }
}

fn five_rows() -> Arc<dyn ExecutionPlan> {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]))],
    )
    .unwrap();
    MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
}

#[tokio::test]
async fn a_wrapper_from_another_crate_is_transparent() {
    let opened = Arc::new(AtomicUsize::new(0));
    let node: Arc<dyn ExecutionPlan> = Arc::new(CountingExec {
        input: five_rows(),
        opened: Arc::clone(&opened),
    });
    let stats = StatisticsContext::new()
        .compute(node.as_ref(), &StatisticsArgs::new())
        .unwrap();
    assert_eq!(stats.num_rows, Precision::Exact(5));

    // Rebuilt by a rewrite: one input exactly, and the shared counter kept.
    let keep = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep);
    let err = Arc::clone(&node)
        .replace_children(vec![five_rows(), five_rows()], keep)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("CountingExec takes exactly one input, was given 2"),
        "{err}"
    );
    let node = Arc::clone(&node)
        .replace_children(vec![five_rows()], keep)
        .unwrap();

    // A LIMIT above the wrapper moves below it.
    let limited: Arc<dyn ExecutionPlan> =
        Arc::new(GlobalLimitExec::new(Arc::clone(&node), 0, Some(2)));
    let optimized = LimitPushdown::new()
        .optimize(limited, &ConfigOptions::default())
        .unwrap();
    assert_eq!(optimized.name(), "CountingExec");
    let ctx = SessionContext::new();
    let batches = collect(optimized, ctx.task_ctx()).await.unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    assert_eq!(opened.load(Ordering::Relaxed), 1);
}
