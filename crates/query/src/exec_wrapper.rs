//! Shared pieces of `ExecutionPlan`s that wrap one input.
//!
//! Several of prov9's plan nodes sit over exactly one input and yield its batches as they come,
//! doing something on the side: `FrontierTapExec` notes each row's key,
//! `HopLimitExec` counts the re-executions of a recursive term, `EdgeScanExec` marks a scan of
//! `lineage_edges` for the recursion rule, the server's `ControlledExec` stops a cancelled
//! statement. Such a node has its input's plan properties, and DataFusion's defaults for the rest
//! of [`ExecutionPlan`] make it opaque: no statistics, no limit or filter pushdown through it,
//! "may reorder rows". DataFusion's own transparent wrapper, `CooperativeExec`, forwards all of
//! these instead.
//!
//! Here are the pieces:
//! - [`single_child`] and [`no_children`]: the checks `with_new_children` owes its callers (one
//!   input exactly, or none for a leaf), with an internal error naming the node otherwise;
//! - [`ExecWrapper`] (the input, and the node over another input) and the
//!   [`forward_to_input!`](crate::forward_to_input) macro, which writes the `ExecutionPlan`
//!   methods a wrapper shares with every other, plus those of the forwarding groups it names.
//!
//! ```ignore
//! impl ExecWrapper for HopLimitExec {
//!     fn input(&self) -> &Arc<dyn ExecutionPlan> { &self.input }
//!     fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
//!         HopLimitExec { input, max_depth: self.max_depth, hops: Arc::clone(&self.hops) }
//!     }
//! }
//!
//! impl ExecutionPlan for HopLimitExec {
//!     fn name(&self) -> &str { "HopLimitExec" }
//!     prov9_query::forward_to_input!(statistics, limit, filters);
//!     fn apply_expressions(&self, …) -> Result<TreeNodeRecursion> { … }
//!     fn execute(&self, …) -> Result<SendableRecordBatchStream> { … }
//! }
//! ```
//!
//! # What the macro always writes
//!
//! For a node whose output *is* its input's batches, in order (it may end early with an error):
//! - `properties`: the input's (ordering, partitioning, equivalences, boundedness);
//! - `children`: the input; `with_new_children`: [`single_child`], then
//!   [`ExecWrapper::with_input`] (so `reset_state` and every optimizer rewrite keep the node's
//!   own state, such as a shared counter);
//! - `maintains_input_order`: `true`, which the input's ordering in `properties` already claims;
//! - `benefits_from_input_partitioning`: `false`: the node does no work of its own worth more
//!   threads (as DataFusion says of a projection of plain columns). A round-robin exchange, when
//!   one helps, goes above it, under whatever does the work.
//!
//! # Forwarding groups, each valid only under its condition
//!
//! - `statistics`: the input's statistics are the node's (`child_stats_requests` asks for the
//!   input's at the same partition, `statistics_from_inputs` returns them) and
//!   `cardinality_effect` is `Equal`. Valid when every input row comes out once, unchanged: an
//!   error that ends the stream yields no result, so it does not count.
//! - `limit`: `supports_limit_pushdown`, so a LIMIT above the node may move below it. Valid when
//!   the node needs no more rows than its consumer reads, and nothing later discards the subtree
//!   under the node (as the recursion rule discards what an `EdgeScanExec` wraps: a fetch pushed
//!   in there would be lost).
//! - `filters`: `gather_filters_for_pushdown` offers the parent's filters to the input (a filter
//!   refers to columns by position, and the schema is the input's). The default
//!   `handle_child_pushdown_result` already reports them as the input handled them. Same
//!   condition as `limit`, and the node must not depend on seeing the rows a filter drops.
//!
//! Not forwarded, on purpose:
//! - `fetch`: it is the node's own row limit. The input's would make the limit pushdown rule
//!   (and `without_exchanges`, which keeps a coalesce with a fetch) count a limit twice.
//! - `try_swapping_with_projection`, `try_pushdown_sort` (CooperativeExec forwards both): of our
//!   wrappers only `EdgeScanExec` is in the plan while DataFusion's rules run, and for it both
//!   would be wrong. Its `projection` tells the recursion rule which table columns it yields, and
//!   the rule drops whatever is under it. `FrontierTapExec` reads its input's columns by position.

use std::sync::Arc;

use datafusion::common::internal_err;
use datafusion::error::Result;
use datafusion::physical_plan::ExecutionPlan;

/// The one input of a single-input node, from the children DataFusion hands to
/// `with_new_children`; an internal error naming `name` when there is not exactly one.
pub fn single_child(
    children: Vec<Arc<dyn ExecutionPlan>>,
    name: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    let given = children.len();
    let Ok([input]) = <[_; 1]>::try_from(children) else {
        return internal_err!("{name} takes exactly one input, was given {given}");
    };
    Ok(input)
}

/// Checks the children DataFusion hands a leaf's `with_new_children`: an internal error naming
/// `name` unless there are none.
pub fn no_children(children: &[Arc<dyn ExecutionPlan>], name: &str) -> Result<()> {
    if children.is_empty() {
        Ok(())
    } else {
        internal_err!("{name} has no inputs, was given {}", children.len())
    }
}

/// A plan node over exactly one input whose batches it yields as they come, with its input's
/// plan properties. Implement it, then write
/// [`forward_to_input!`](crate::forward_to_input) in the node's `impl ExecutionPlan`.
pub trait ExecWrapper: ExecutionPlan + Sized {
    /// The wrapped input.
    fn input(&self) -> &Arc<dyn ExecutionPlan>;

    /// This node over `input` instead, keeping everything else (shared state included: DataFusion
    /// rebuilds nodes through `with_new_children` when it rewrites a plan or resets it to run
    /// again).
    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self;
}

/// The methods [`forward_to_input!`](crate::forward_to_input) writes, as functions, so the macro
/// needs nothing in scope where it is used.
#[doc(hidden)]
pub mod __private {
    pub use std::sync::Arc;

    pub use datafusion::common::config::ConfigOptions;
    pub use datafusion::common::{Result, Statistics};
    pub use datafusion::physical_expr::PhysicalExpr;
    pub use datafusion::physical_plan::execution_plan::CardinalityEffect;
    pub use datafusion::physical_plan::filter_pushdown::{FilterDescription, FilterPushdownPhase};
    pub use datafusion::physical_plan::{
        ChildStats, ExecutionPlan, PlanProperties, StatisticsArgs,
    };

    use super::{ExecWrapper, single_child};

    pub fn properties<W: ExecWrapper>(node: &W) -> &Arc<PlanProperties> {
        node.input().properties()
    }

    pub fn children<W: ExecWrapper>(node: &W) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![node.input()]
    }

    pub fn with_new_children<W: ExecWrapper>(
        node: Arc<W>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = single_child(children, node.name())?;
        Ok(Arc::new(node.with_input(input)))
    }

    pub fn input_stats_at(partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    pub fn input_stats(input_stats: &[Arc<Statistics>]) -> Result<Arc<Statistics>> {
        match input_stats {
            [input] => Ok(Arc::clone(input)),
            _ => datafusion::common::internal_err!(
                "a wrapper expects its input's statistics alone, was given {}",
                input_stats.len()
            ),
        }
    }

    pub fn filters_to_input<W: ExecWrapper>(
        node: &W,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &[node.input()])
    }
}

/// Writes the `ExecutionPlan` methods of an [`ExecWrapper`](crate::exec_wrapper::ExecWrapper),
/// inside its `impl ExecutionPlan` block: `properties`, `children`, `with_new_children`
/// (checked), `maintains_input_order` and `benefits_from_input_partitioning` always, and the
/// methods of each forwarding group named: `statistics`, `limit`, `filters`. See
/// [`exec_wrapper`](crate::exec_wrapper) for what each does and when it is valid.
///
/// The node still writes `name`, `apply_expressions` and `execute` (and `DisplayAs`).
#[macro_export]
macro_rules! forward_to_input {
    (@statistics) => {
        fn child_stats_requests(
            &self,
            partition: ::std::option::Option<usize>,
        ) -> ::std::vec::Vec<$crate::exec_wrapper::__private::ChildStats> {
            $crate::exec_wrapper::__private::input_stats_at(partition)
        }

        fn statistics_from_inputs(
            &self,
            input_stats: &[$crate::exec_wrapper::__private::Arc<
                $crate::exec_wrapper::__private::Statistics,
            >],
            _args: &$crate::exec_wrapper::__private::StatisticsArgs,
        ) -> $crate::exec_wrapper::__private::Result<
            $crate::exec_wrapper::__private::Arc<$crate::exec_wrapper::__private::Statistics>,
        > {
            $crate::exec_wrapper::__private::input_stats(input_stats)
        }

        fn cardinality_effect(&self) -> $crate::exec_wrapper::__private::CardinalityEffect {
            $crate::exec_wrapper::__private::CardinalityEffect::Equal
        }
    };
    (@limit) => {
        fn supports_limit_pushdown(&self) -> bool {
            true
        }
    };
    (@filters) => {
        fn gather_filters_for_pushdown(
            &self,
            _phase: $crate::exec_wrapper::__private::FilterPushdownPhase,
            parent_filters: ::std::vec::Vec<
                $crate::exec_wrapper::__private::Arc<dyn $crate::exec_wrapper::__private::PhysicalExpr>,
            >,
            _config: &$crate::exec_wrapper::__private::ConfigOptions,
        ) -> $crate::exec_wrapper::__private::Result<$crate::exec_wrapper::__private::FilterDescription>
        {
            $crate::exec_wrapper::__private::filters_to_input(self, parent_filters)
        }
    };
    (@$other:ident) => {
        ::std::compile_error!(::std::concat!(
            "forward_to_input!: unknown forwarding group `",
            ::std::stringify!($other),
            "` (statistics, limit, filters)"
        ));
    };
    ($($group:ident),* $(,)?) => {
        fn properties(
            &self,
        ) -> &$crate::exec_wrapper::__private::Arc<$crate::exec_wrapper::__private::PlanProperties>
        {
            $crate::exec_wrapper::__private::properties(self)
        }

        fn children(
            &self,
        ) -> ::std::vec::Vec<
            &$crate::exec_wrapper::__private::Arc<dyn $crate::exec_wrapper::__private::ExecutionPlan>,
        > {
            $crate::exec_wrapper::__private::children(self)
        }

        fn with_new_children(
            self: $crate::exec_wrapper::__private::Arc<Self>,
            children: ::std::vec::Vec<
                $crate::exec_wrapper::__private::Arc<dyn $crate::exec_wrapper::__private::ExecutionPlan>,
            >,
        ) -> $crate::exec_wrapper::__private::Result<
            $crate::exec_wrapper::__private::Arc<dyn $crate::exec_wrapper::__private::ExecutionPlan>,
        > {
            $crate::exec_wrapper::__private::with_new_children(self, children)
        }

        fn maintains_input_order(&self) -> ::std::vec::Vec<bool> {
            ::std::vec![true]
        }

        fn benefits_from_input_partitioning(&self) -> ::std::vec::Vec<bool> {
            ::std::vec![false]
        }

        $($crate::forward_to_input!(@$group);)*
    };
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::stats::Precision;
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::execution::TaskContext;
    use datafusion::physical_expr::PhysicalExpr;
    use datafusion::physical_plan::execution_plan::CardinalityEffect;
    use datafusion::physical_plan::{
        DisplayAs, DisplayFormatType, SendableRecordBatchStream, StatisticsArgs, StatisticsContext,
        collect,
    };
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A wrapper forwarding everything, and one forwarding only what every wrapper does.
    #[derive(Debug)]
    struct Transparent {
        input: Arc<dyn ExecutionPlan>,
        tag: u32,
    }

    #[derive(Debug)]
    struct Opaque {
        input: Arc<dyn ExecutionPlan>,
    }

    impl DisplayAs for Transparent {
        fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "Transparent")
        }
    }

    impl DisplayAs for Opaque {
        fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "Opaque")
        }
    }

    impl ExecWrapper for Transparent {
        fn input(&self) -> &Arc<dyn ExecutionPlan> {
            &self.input
        }

        fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
            Transparent {
                input,
                tag: self.tag,
            }
        }
    }

    impl ExecWrapper for Opaque {
        fn input(&self) -> &Arc<dyn ExecutionPlan> {
            &self.input
        }

        fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
            Opaque { input }
        }
    }

    impl ExecutionPlan for Transparent {
        fn name(&self) -> &str {
            "Transparent"
        }

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
            self.input.execute(partition, context)
        }
    }

    impl ExecutionPlan for Opaque {
        fn name(&self) -> &str {
            "Opaque"
        }

        crate::forward_to_input!();

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
            self.input.execute(partition, context)
        }
    }

    /// Three rows in one partition, with exact statistics.
    fn three_rows() -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
    }

    fn rows(plan: &dyn ExecutionPlan) -> Precision<usize> {
        StatisticsContext::new()
            .compute(plan, &StatisticsArgs::new())
            .unwrap()
            .num_rows
    }

    #[test]
    fn single_child_takes_exactly_one() {
        assert!(single_child(vec![three_rows()], "X").is_ok());
        for given in [vec![], vec![three_rows(), three_rows()]] {
            let err = single_child(given, "FrontierTapExec")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("FrontierTapExec takes exactly one input"),
                "{err}"
            );
        }
        assert!(no_children(&[], "X").is_ok());
        let err = no_children(&[three_rows()], "LineageCallExec").unwrap_err();
        assert!(
            err.to_string().contains("LineageCallExec has no inputs"),
            "{err}"
        );
    }

    #[test]
    #[expect(
        deprecated,
        reason = "with_new_children is what optimizer rules call, via replace_children"
    )]
    fn with_new_children_checks_the_count_and_keeps_the_node() {
        let node = Arc::new(Transparent {
            input: three_rows(),
            tag: 7,
        });
        for wrong in [vec![], vec![three_rows(), three_rows()]] {
            let err = Arc::clone(&node).with_new_children(wrong).unwrap_err();
            assert!(
                err.to_string()
                    .contains("Transparent takes exactly one input"),
                "{err}"
            );
        }
        let other = three_rows();
        let rebuilt = Arc::clone(&node)
            .with_new_children(vec![Arc::clone(&other)])
            .unwrap();
        let rebuilt = rebuilt.downcast_ref::<Transparent>().unwrap();
        assert_eq!(rebuilt.tag, 7);
        assert!(Arc::ptr_eq(&rebuilt.input, &other));
    }

    #[test]
    fn a_transparent_wrapper_forwards_its_inputs_statistics_and_pushdowns() {
        let input = three_rows();
        assert_eq!(rows(input.as_ref()), Precision::Exact(3));
        let node = Transparent {
            input: Arc::clone(&input),
            tag: 0,
        };
        assert_eq!(rows(&node), Precision::Exact(3));
        assert!(matches!(
            node.cardinality_effect(),
            CardinalityEffect::Equal
        ));
        assert!(node.supports_limit_pushdown());
        assert_eq!(node.fetch(), None);
        assert!(Arc::ptr_eq(node.properties(), input.properties()));
        assert_eq!(node.maintains_input_order(), vec![true]);
        assert_eq!(node.benefits_from_input_partitioning(), vec![false]);

        // Without the groups, DataFusion's defaults: nothing known, nothing pushed through.
        let node = Opaque { input };
        assert_eq!(rows(&node), Precision::Absent);
        assert!(matches!(
            node.cardinality_effect(),
            CardinalityEffect::Unknown
        ));
        assert!(!node.supports_limit_pushdown());
        assert_eq!(node.maintains_input_order(), vec![true]);
    }

    #[test]
    fn filters_reach_the_input_only_through_a_transparent_wrapper() {
        use datafusion::physical_expr::expressions::{col, lit};
        use datafusion::physical_plan::filter_pushdown::FilterPushdownPhase;
        let input = three_rows();
        let filter = datafusion::physical_expr::expressions::binary(
            col("v", &input.schema()).unwrap(),
            datafusion::logical_expr::Operator::Gt,
            lit(1i64),
            &input.schema(),
        )
        .unwrap();
        let config = datafusion::common::config::ConfigOptions::default();
        let pushed = |node: &dyn ExecutionPlan| {
            let description = node
                .gather_filters_for_pushdown(
                    FilterPushdownPhase::Pre,
                    vec![Arc::clone(&filter)],
                    &config,
                )
                .unwrap();
            let child = &description.parent_filters()[0];
            child.iter().all(|f| {
                matches!(
                    f.discriminant,
                    datafusion::physical_plan::filter_pushdown::PushedDown::Yes
                )
            })
        };
        let transparent = Transparent {
            input: Arc::clone(&input),
            tag: 0,
        };
        assert!(pushed(&transparent));
        assert!(!pushed(&Opaque { input }));
    }

    #[tokio::test]
    async fn a_wrapper_yields_its_inputs_rows() {
        let node = Arc::new(Transparent {
            input: three_rows(),
            tag: 0,
        });
        let batches = collect(node, SessionContext::new().task_ctx())
            .await
            .unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    }
}
