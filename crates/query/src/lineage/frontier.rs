//! The plan nodes of a recursive term answered from the lineage index: [`FrontierTapExec`]
//! notes the keys of the current hop's rows as they pass to the join, and [`FrontierEdgesExec`]
//! yields the edges touching them from the index, in place of a scan of `lineage_edges`.
//! [`super::IndexedRecursion`] puts them in plans; [`super::closure`] recognises them.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

use super::edges_table::edge_batch;
use super::graph::Direction;
use super::index::LineageIndex;
use super::one_partition;
use crate::exec_wrapper::{ExecWrapper, no_children};

/// The current hop's frontier: the join keys of the work table's rows.
#[derive(Debug, Default)]
pub(super) struct Frontier {
    keys: Mutex<HashSet<String>>,
}

/// Passes the frontier through to the join, noting each row's key.
#[derive(Debug)]
pub(super) struct FrontierTapExec {
    pub(super) input: Arc<dyn ExecutionPlan>,
    pub(super) key: Arc<dyn PhysicalExpr>,
    pub(super) frontier: Arc<Frontier>,
}

impl DisplayAs for FrontierTapExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "FrontierTapExec: key={}", self.key)
    }
}

impl ExecWrapper for FrontierTapExec {
    fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        FrontierTapExec {
            input,
            key: Arc::clone(&self.key),
            frontier: Arc::clone(&self.frontier),
        }
    }
}

impl ExecutionPlan for FrontierTapExec {
    fn name(&self) -> &str {
        "FrontierTapExec"
    }

    // Rows pass unchanged, so statistics are the input's. The join builds from exactly the rows
    // that pass, and the frontier only has to hold their keys (extra keys' edges match nothing),
    // so a limit or filter applied below the tap instead of above it leaves the answer as it is.
    crate::forward_to_input!(statistics, limit, filters);

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.key)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.frontier.keys.lock().expect("frontier lock").clear();
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let (key, frontier) = (Arc::clone(&self.key), Arc::clone(&self.frontier));
        let stream = input.map(move |batch| {
            let batch = batch?;
            let keys = key.evaluate(&batch)?.into_array(batch.num_rows())?;
            let keys = cast(&keys, &DataType::Utf8)?;
            let mut set = frontier.keys.lock().expect("frontier lock");
            set.extend(keys.as_string::<i32>().iter().flatten().map(str::to_string));
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The edges touching the frontier, from the lineage index, in the shape of the scan it replaces.
#[derive(Debug)]
pub(super) struct FrontierEdgesExec {
    pub(super) index: Arc<LineageIndex>,
    frontier: Arc<Frontier>,
    pub(super) direction: Direction,
    /// Columns of `lineage_edges` the replaced scan yielded.
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl FrontierEdgesExec {
    pub(super) fn new(
        index: Arc<LineageIndex>,
        frontier: Arc<Frontier>,
        direction: Direction,
        projection: Option<Vec<usize>>,
        schema: SchemaRef,
    ) -> Self {
        let properties = one_partition(Arc::clone(&schema), EmissionType::Final);
        FrontierEdgesExec {
            index,
            frontier,
            direction,
            projection,
            schema,
            properties,
        }
    }

    /// The `lineage_edges` column (index into the table's schema) of output column `column`.
    pub(super) fn table_column(&self, column: usize) -> Option<usize> {
        match &self.projection {
            Some(p) => p.get(column).copied(),
            None => (column < self.schema.fields().len()).then_some(column),
        }
    }
}

impl DisplayAs for FrontierEdgesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "FrontierEdgesExec: {:?} from the lineage index",
            self.direction
        )
    }
}

impl ExecutionPlan for FrontierEdgesExec {
    fn name(&self) -> &str {
        "FrontierEdgesExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
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
        no_children(&children, self.name())?;
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (index, frontier, direction) = (
            Arc::clone(&self.index),
            Arc::clone(&self.frontier),
            self.direction,
        );
        let (projection, schema) = (self.projection.clone(), Arc::clone(&self.schema));
        let out_schema = Arc::clone(&schema);
        // Read when first polled: the join has finished its build side, the frontier, by then.
        let batch = futures::stream::once(async move {
            let keys = std::mem::take(&mut *frontier.keys.lock().expect("frontier lock"));
            let graph = index.graph().await;
            let mut edges = Vec::new();
            for key in &keys {
                if let Some(node) = graph.node(key) {
                    edges.extend(graph.adjacent(node, direction).map(|hop| hop.edge));
                }
            }
            edge_batch(&graph, &edges, projection.as_deref(), schema)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, batch)))
    }
}
