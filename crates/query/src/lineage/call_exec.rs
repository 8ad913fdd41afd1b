//! [`LineageCallExec`]: the plan node of one lineage table function call. The walk happens when
//! the node is executed, against the index as of that moment, so a plan that is kept and run
//! again answers from the newest commit (connections keep such plans:
//! [`crate::session::ReusablePlans`]).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder};
use arrow::datatypes::SchemaRef;
use datafusion::common::internal_err;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

use super::graph::{Direction, Graph};
use super::index::LineageIndex;
use super::one_partition;
use crate::exec_wrapper::no_children;

/// What a call asks of the index.
#[derive(Debug, Clone)]
pub(super) enum Request {
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

/// Walks the lineage index when executed; one partition, one batch.
#[derive(Debug)]
pub struct LineageCallExec {
    index: Arc<LineageIndex>,
    /// The graph of a past snapshot (`prov9.as_of`), walked instead of the live index.
    past: Option<Arc<Graph>>,
    request: Request,
    /// Positions in the function's full schema of the columns built (none for `count(*)`).
    columns: Vec<usize>,
    properties: Arc<PlanProperties>,
}

impl LineageCallExec {
    pub(super) fn new(
        index: Arc<LineageIndex>,
        past: Option<Arc<Graph>>,
        request: Request,
        schema: SchemaRef,
        columns: Vec<usize>,
    ) -> Self {
        LineageCallExec {
            index,
            past,
            request,
            columns,
            properties: one_partition(schema, EmissionType::Final),
        }
    }
}

impl DisplayAs for LineageCallExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.request {
            Request::Traverse {
                start,
                direction,
                max_depth,
            } => write!(
                f,
                "LineageCallExec: {direction:?} from {start}, max_depth={max_depth:?}"
            ),
            Request::Path { from, to } => write!(f, "LineageCallExec: path {from} -> {to}"),
        }
    }
}

impl ExecutionPlan for LineageCallExec {
    fn name(&self) -> &str {
        "LineageCallExec"
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
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("LineageCallExec has one partition, not {partition}");
        }
        let (index, request, columns) = (
            Arc::clone(&self.index),
            self.request.clone(),
            self.columns.clone(),
        );
        let schema = self.schema();
        let out_schema = Arc::clone(&schema);
        let past = self.past.clone();
        let batch = futures::stream::once(async move {
            if let Some(graph) = past {
                return rows(&graph, &request, &columns, out_schema);
            }
            let graph = index
                .current()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            rows(&graph, &request, &columns, out_schema)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batch)))
    }
}

/// The rows of `request`, with only `columns` built.
fn rows(
    graph: &Graph,
    request: &Request,
    columns: &[usize],
    schema: SchemaRef,
) -> Result<RecordBatch> {
    let mut b = RowsBuilder::new(columns);
    match request {
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
    b.finish(schema)
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
