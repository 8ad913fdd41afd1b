//! A connection keeps the physical plans of the queries it ran last, when running them again is
//! sure to give what planning them again would: a statement sent again (a dashboard refreshing
//! its lineage panel, a client without prepared statements) then skips the optimiser and the
//! physical planner, which cost more than answering a lineage table function from the index.
//!
//! A plan is kept only if nothing in it is a snapshot taken at planning:
//! - it reads no table but lineage table function calls, whose [`LineageCallExec`] walks the
//!   index when it runs. A table scan's file list is the table's version at planning, and the
//!   optimiser may even answer `count(*)` from a table's statistics, leaving a constant;
//! - it calls no stable function (`now()`, `current_date`): the optimiser folds those to a value;
//! - every node starts afresh when the plan is rebuilt for its next run ([`reset_plan_states`],
//!   as DataFusion re-runs a recursive term): projections, filters, aggregates, unions,
//!   repartitions, limits, sorts. Not kept: nodes with dynamic filters (top-k sorts, min/max aggregates),
//!   which may have been pushed into other nodes with the last run's bound;
//! - the statement has no parameters (a prepared statement's plan depends on their values).
//!
//! A connection forgets its plans at every statement that may change its settings (`SET`,
//! `RESET`, `DISCARD`), since settings shape plans.
//!
//! A kept plan is also named by the text of the simple-protocol query that ran it, when that
//! text held this one statement: the same text sent again runs the plan before anything parses
//! it (the Postgres front end's simple-query path), as databases reuse the cursor of a statement whose text
//! they have seen. Parsing the SQL and planning it to a logical plan, with the read-only checks,
//! cost as much as the rest of a lineage query.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::lineage::{LineageCallExec, is_lineage_call};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::sql::sqlparser::ast::Statement;

use super::control::ControlledExec;

/// Plans kept per connection; the oldest is dropped first.
const KEPT: usize = 16;

/// A physical plan ready to run again, with the result schema clients are told.
#[derive(Debug, Clone)]
pub struct ReusablePlan {
    pub plan: Arc<dyn ExecutionPlan>,
    pub schema: SchemaRef,
}

/// The plans one connection keeps, by statement.
#[derive(Debug, Default)]
pub struct ReusablePlans {
    kept: Mutex<VecDeque<Kept>>,
}

#[derive(Debug)]
struct Kept {
    statement: Statement,
    /// The text of the simple query that was this statement alone, once one ran it.
    text: Option<String>,
    plan: ReusablePlan,
}

/// `kept` rebuilt to run again: as DataFusion rebuilds a recursive query's term for each
/// iteration, so no node's state (a repartition's channels) carries over from the last run.
fn ready_to_run(kept: &ReusablePlan) -> Option<ReusablePlan> {
    Some(ReusablePlan {
        plan: reset_plan_states(Arc::clone(&kept.plan)).ok()?,
        schema: Arc::clone(&kept.schema),
    })
}

impl ReusablePlans {
    /// The plan kept for `statement`, if any, ready to execute.
    pub fn get(&self, statement: &Statement) -> Option<ReusablePlan> {
        let kept = self.kept.lock().ok()?;
        ready_to_run(&kept.iter().find(|k| &k.statement == statement)?.plan)
    }

    /// The plan named by the simple query `text`, if any, ready to execute.
    pub fn get_by_text(&self, text: &str) -> Option<ReusablePlan> {
        let kept = self.kept.lock().ok()?;
        ready_to_run(&kept.iter().find(|k| k.text.as_deref() == Some(text))?.plan)
    }

    /// Names the plan kept for `statement` by `text`, a simple query that was this statement
    /// alone.
    pub fn name(&self, statement: &Statement, text: &str) {
        if let Ok(mut kept) = self.kept.lock()
            && let Some(k) = kept.iter_mut().find(|k| &k.statement == statement)
        {
            k.text = Some(text.to_string());
        }
    }

    /// Keep `plan` for `statement` if it can run again (see the module docs).
    pub fn keep_if_reusable(
        &self,
        statement: &Statement,
        logical: &LogicalPlan,
        plan: &ReusablePlan,
    ) {
        if !answers_when_run(logical) || !reruns_afresh(&plan.plan) {
            return;
        }
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|k| &k.statement != statement);
            if kept.len() == KEPT {
                kept.pop_front();
            }
            kept.push_back(Kept {
                statement: statement.clone(),
                text: None,
                plan: plan.clone(),
            });
        }
    }

    /// Forget every plan (the connection's settings may have changed).
    pub fn forget(&self) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.clear();
        }
    }
}

/// Whether every node of `plan` computes its output afresh at each execution.
fn reruns_afresh(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let node = plan.as_ref();
    let fresh = node.is::<LineageCallExec>()
        || node.is::<PlaceholderRowExec>()
        || node.is::<EmptyExec>()
        || node.is::<ControlledExec>()
        || node.is::<ProjectionExec>()
        || node.is::<FilterExec>()
        || node.is::<RepartitionExec>()
        || node.is::<AggregateExec>()
        || node.is::<CoalescePartitionsExec>()
        || node.is::<CooperativeExec>()
        || node.is::<GlobalLimitExec>()
        || node.is::<LocalLimitExec>()
        || node.is::<SortExec>()
        || node.is::<SortPreservingMergeExec>()
        || node.is::<UnionExec>();
    // A dynamic filter (of a top-k sort, of min/max) may have been pushed into other nodes,
    // which keep the last run's bound when the plan is rebuilt.
    let filters_others = !node.dynamic_expressions_produced().is_empty();
    fresh && !filters_others && plan.children().into_iter().all(reruns_afresh)
}

/// Whether the rows of `plan` are computed when it runs: it reads no table but lineage calls
/// (the optimiser answers `count(*)` over a table from its statistics, at planning) and calls no
/// stable function (the optimiser replaces `now()` with its value).
fn answers_when_run(plan: &LogicalPlan) -> bool {
    let mut afresh = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            afresh &= source_as_provider(&scan.source).is_ok_and(|t| is_lineage_call(t.as_ref()));
        }
        for expr in node.expressions() {
            let _ = expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && f.func.signature().volatility == Volatility::Stable
                {
                    afresh = false;
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(if afresh {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    afresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;
    use datafusion::physical_plan::collect;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use prov9_model::tables::LineageEdgeRow;
    use prov9_store::Warehouse;

    fn edge(src: &str, dst: &str) -> LineageEdgeRow {
        LineageEdgeRow {
            src: src.into(),
            dst: dst.into(),
            edge_type: "input".into(),
            run_id: None,
            event_time: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
        }
    }

    /// Plans `sql`, offers the plan to `plans`, and says whether it was kept.
    async fn offer(engine: &Engine, plans: &ReusablePlans, sql: &str) -> bool {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let state = engine.context().state();
        let logical = state.create_logical_plan(sql).await.unwrap();
        let plan = ReusablePlan {
            schema: Arc::new(logical.schema().as_arrow().clone()),
            plan: state.create_physical_plan(&logical).await.unwrap(),
        };
        plans.keep_if_reusable(&statement, &logical, &plan);
        plans.get(&statement).is_some()
    }

    #[tokio::test]
    async fn lineage_calls_are_kept_and_rerun_on_the_newest_commit() {
        let warehouse = Warehouse::open("memory://").await.unwrap();
        let engine = Engine::new(&warehouse).await.unwrap();
        let plans = ReusablePlans::default();
        // Two calls side by side, so the plan keeps an exchange (a call alone runs in one
        // partition): its channels must start afresh at every run.
        let count = "SELECT count(*) AS n FROM (SELECT node FROM lineage_downstream('a') WHERE depth < 5 \
                     UNION ALL SELECT node FROM lineage_upstream('c'))";
        assert!(offer(&engine, &plans, count).await);
        assert!(offer(&engine, &plans, "SELECT 1 + 1").await);
        // Snapshots taken at planning: a table's files, the time.
        assert!(!offer(&engine, &plans, "SELECT count(*) FROM runs").await);
        assert!(!offer(&engine, &plans, "SELECT now()").await);
        assert!(
            offer(
                &engine,
                &plans,
                "SELECT node, depth FROM lineage_upstream('a', 3) WHERE depth > 1 ORDER BY node"
            )
            .await
        );
        // A top-k sort's dynamic filter; a join with a table.
        for sql in [
            "SELECT node FROM lineage_downstream('a') ORDER BY node LIMIT 1",
            "SELECT n.name FROM lineage_downstream('a') d JOIN lineage_nodes n ON n.node_id = d.node",
        ] {
            assert!(!offer(&engine, &plans, sql).await, "{sql}");
        }

        // The kept plan walks the index as it is when it runs.
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, count)
            .unwrap()
            .remove(0);
        let kept = || plans.get(&statement).unwrap().plan;
        let n = |batches: Vec<arrow::array::RecordBatch>| {
            batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .value(0)
        };
        let task = engine.context().task_ctx();
        assert_eq!(n(collect(kept(), task.clone()).await.unwrap()), 0);
        assert_eq!(n(collect(kept(), task.clone()).await.unwrap()), 0);
        warehouse
            .append_published(
                "lineage_edges",
                vec![LineageEdgeRow::to_batch(&[edge("a", "b"), edge("b", "c")])],
            )
            .await
            .unwrap();
        assert!(
            datafusion::physical_plan::displayable(kept().as_ref())
                .indent(false)
                .to_string()
                .contains("CoalescePartitionsExec")
        );
        assert_eq!(n(collect(kept(), task).await.unwrap()), 2 + 2);

        // Named by a simple query's text, the plan is found by that text alone.
        assert!(plans.get_by_text(count).is_none());
        plans.name(&statement, count);
        let by_text = plans.get_by_text(count).expect("named");
        assert_eq!(
            n(collect(by_text.plan, engine.context().task_ctx())
                .await
                .unwrap()),
            4
        );
        assert!(plans.get_by_text("SELECT 1 + 1").is_none(), "never named");

        plans.forget();
        assert!(plans.get(&statement).is_none());
        assert!(plans.get_by_text(count).is_none());
    }
}
