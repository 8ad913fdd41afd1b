//! A `TableProvider` over a warehouse table that reads the newest commit on every scan.

use std::sync::Arc;

use prov9_model::tables::primary_key;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::key_index::KeyIndex;
use crate::key_lookup::{KeyLookupExec, key_values, pins_key};
use crate::{StoreError, Warehouse};

/// One table of the warehouse as DataFusion sees it.
///
/// Delta's own provider is bound to one snapshot; this one refreshes the snapshot first, so a
/// long-running server sees every commit without a restart. A scan that pins the table's
/// primary key to a few values reads just those rows through a [`KeyIndex`].
#[derive(Clone)]
pub struct LiveTable {
    warehouse: Warehouse,
    name: &'static str,
    schema: SchemaRef,
    keys: Option<Arc<KeyIndex>>,
}

impl std::fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTable")
            .field("name", &self.name)
            .finish()
    }
}

impl LiveTable {
    pub(crate) async fn new(warehouse: Warehouse, name: &'static str) -> Result<Self, StoreError> {
        let table = warehouse.current(name).await?;
        let provider = table
            .table_provider()
            .await
            .map_err(|e| StoreError::datafusion(name, e))?;
        let keys = primary_key(name)
            .map(|column| Arc::new(KeyIndex::new(warehouse.clone(), name, column)));
        Ok(LiveTable {
            schema: provider.schema(),
            warehouse,
            name,
            keys,
        })
    }

    /// The keys `filters` pin this table's primary key to, when one of them does and the table
    /// has a key index: the rows [`LiveTable::lookup`] returns for them are exactly the rows
    /// passing every such filter.
    pub fn pinned_keys(&self, filters: &[Expr]) -> Option<Vec<String>> {
        key_values(filters, self.keys.as_ref()?.column())
    }

    /// The rows whose primary key is one of `keys`, with the table's columns `projection`
    /// (all when `None`), from the newest commit. Empty for a table without a primary key.
    pub async fn lookup(
        &self,
        keys: &[String],
        projection: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let Some(index) = &self.keys else {
            return Ok(Vec::new());
        };
        index.lookup(keys, self.projected_schema(projection)?).await
    }

    fn projected_schema(&self, projection: Option<&[usize]>) -> Result<SchemaRef, ArrowError> {
        Ok(match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        })
    }
}

fn external(e: StoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // A filter pinning the primary key is answered exactly by the key index; for the rest,
        // Delta skips files by statistics and DataFusion still applies the filter itself.
        Ok(filters
            .iter()
            .map(|filter| match &self.keys {
                Some(index) if pins_key(filter, index.column()) => {
                    TableProviderFilterPushDown::Exact
                }
                _ => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(index) = &self.keys
            && let Some(keys) = key_values(filters, index.column())
        {
            let schema = self.projected_schema(projection.map(Vec::as_slice))?;
            let lookup = KeyLookupExec::new(Arc::clone(index), keys, schema);
            return Ok(Arc::new(lookup));
        }
        let table = self.warehouse.current(self.name).await.map_err(external)?;
        table
            .update_datafusion_session(state)
            .map_err(|e| external(StoreError::delta(self.name, e)))?;
        let provider: Arc<dyn TableProvider> = table.table_provider().await?;
        provider.scan(state, projection, filters, limit).await
    }
}
