//! `lineage_edges` as SQL sees it: the live Delta table, with its scans marked ([`EdgeScanExec`])
//! so that the recursion rule can find them, and the lineage index brought up to the commit the
//! scan read, at planning time.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

use super::index::LineageIndex;

#[derive(Debug)]
pub struct IndexedEdgesTable {
    pub inner: Arc<dyn TableProvider>,
    pub index: Arc<LineageIndex>,
}

#[async_trait]
impl TableProvider for IndexedEdgesTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The scan reads the newest commit; the index follows it to the same version.
        let input = self.inner.scan(state, projection, filters, limit).await?;
        self.index
            .refresh_to_known()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(EdgeScanExec {
            input,
            index: self.index.clone(),
            projection: projection.cloned(),
        }))
    }
}

/// A scan of `lineage_edges`: reads through to the table, and tells the recursion rule which
/// columns (`projection`, indices into the table's schema) it yields.
#[derive(Debug)]
pub struct EdgeScanExec {
    pub input: Arc<dyn ExecutionPlan>,
    pub index: Arc<LineageIndex>,
    pub projection: Option<Vec<usize>>,
}

impl DisplayAs for EdgeScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "EdgeScanExec")
    }
}

impl ExecutionPlan for EdgeScanExec {
    fn name(&self) -> &str {
        "EdgeScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("EdgeScanExec needs its input".into()))?;
        Ok(Arc::new(EdgeScanExec {
            input,
            index: self.index.clone(),
            projection: self.projection.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
