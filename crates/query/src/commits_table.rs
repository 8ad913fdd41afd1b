//! `prov9_commits`: the warehouse's own history, one row per warehouse commit.
//!
//! Each batch that became visible (a load batch, a fold-in of live events, a maintenance
//! rewrite) is a row: when, from what, how many rows it added per table, and the Delta version
//! of every table it names. A query of the past (`prov9.as_of`) sees the commits up to its own.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use prov9_store::{Snapshot, Warehouse};

pub const NAME: &str = "prov9_commits";

#[derive(Debug)]
pub struct CommitsTable {
    warehouse: Warehouse,
    schema: SchemaRef,
}

impl CommitsTable {
    pub fn new(warehouse: Warehouse) -> Self {
        let utc = Some(Arc::from("UTC"));
        CommitsTable {
            warehouse,
            schema: Arc::new(Schema::new(vec![
                Field::new("commit_id", DataType::Int64, false),
                Field::new(
                    "committed_at",
                    DataType::Timestamp(TimeUnit::Microsecond, utc),
                    false,
                ),
                Field::new("source", DataType::Utf8, false),
                Field::new("rows_added", DataType::Int64, false),
                Field::new("added", DataType::Utf8, false),
                Field::new("table_versions", DataType::Utf8, false),
            ])),
        }
    }

    async fn rows(&self) -> Result<RecordBatch> {
        let external = |e: prov9_store::StoreError| DataFusionError::External(Box::new(e));
        let upto = match Snapshot::pinned() {
            Some(pinned) => pinned.commit.as_ref().map(|c| c.id),
            None => None,
        };
        let commits = self.warehouse.commits().await.map_err(external)?;
        let mut id = Int64Builder::new();
        let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let (mut source, mut added, mut versions) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let mut rows = Int64Builder::new();
        for commit in commits.iter().filter(|c| upto.is_none_or(|u| c.id <= u)) {
            id.append_value(commit.id as i64);
            at.append_value(commit.committed_at.timestamp_micros());
            source.append_value(&commit.source);
            rows.append_value(commit.added.values().sum::<u64>() as i64);
            added.append_value(serde_json::to_string(&commit.added).unwrap_or_default());
            versions.append_value(serde_json::to_string(&commit.versions).unwrap_or_default());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(at.finish()),
            Arc::new(source.finish()),
            Arc::new(rows.finish()),
            Arc::new(added.finish()),
            Arc::new(versions.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

#[async_trait]
impl TableProvider for CommitsTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows().await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![rows]],
            self.schema(),
            projection.cloned(),
        )?)
    }
}
