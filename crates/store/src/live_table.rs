//! A `TableProvider` over a warehouse table that reads the query's snapshot on every scan: the
//! table at the version the snapshot's warehouse commit names, plus the live tail.

use std::sync::Arc;

use prov9_model::tables::primary_key;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal, in_list, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use prov9_model::tables::replaced_by_key;

use crate::key_index::KeyIndex;
use crate::key_lookup::{KeyLookupExec, key_values, pins_key};
use crate::{Snapshot, StoreError, TailTable, Warehouse};

/// One table of the warehouse as DataFusion sees it.
///
/// Delta's own provider is bound to one table version; this one reads the version named by the
/// query's pinned [`Snapshot`] (or the newest warehouse commit), so a long-running server sees
/// every commit without a restart, and adds the snapshot's live tail. A scan that pins the
/// table's primary key to a few values reads just those rows through a [`KeyIndex`].
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
    /// (all when `None`), from the newest snapshot (its commit and live tail). Empty for a table
    /// without a primary key.
    pub async fn lookup(
        &self,
        keys: &[String],
        projection: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let Some(index) = &self.keys else {
            return Ok(Vec::new());
        };
        let snapshot = self.warehouse.snapshot().await?;
        let tail = snapshot.tail.table(self.name);
        let (in_tail, stored) = split_by_tail(tail, keys.to_vec())?;
        let schema = self.projected_schema(projection)?;
        let version = snapshot.version(self.name);
        let mut rows = index.lookup(&stored, schema, version).await?;
        if let Some(tail) = tail.filter(|_| !in_tail.is_empty()) {
            for batch in self
                .tail_rows(tail, Some((index.column(), &in_tail)))
                .map_err(|e| StoreError::datafusion(self.name, e))?
            {
                rows.push(match projection {
                    Some(p) => batch.project(p)?,
                    None => batch,
                });
            }
        }
        Ok(rows)
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
                // delta-rs turns `IN (…)` into a chain of ORs and walks it recursively: a list
                // of a few thousand values overflowed the stack and aborted the server. Such a
                // filter stays above the scan, where DataFusion checks it with a hash set.
                _ if has_long_in_list(filter) => TableProviderFilterPushDown::Unsupported,
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
        let snapshot = match Snapshot::pinned() {
            Some(pinned) => pinned,
            None => self.warehouse.snapshot().await.map_err(external)?,
        };
        let version = snapshot.version(self.name);
        let tail = snapshot.tail.table(self.name);
        let projection = projection.map(Vec::as_slice);
        // The key index follows the table forward; a past snapshot is read by a scan.
        if let Some(index) = &self.keys
            && let Some(keys) = key_values(filters, index.column())
            && !snapshot.past
        {
            let schema = self.projected_schema(projection)?;
            let (in_tail, stored) = split_by_tail(tail, keys).map_err(external)?;
            let lookup: Arc<dyn ExecutionPlan> = Arc::new(KeyLookupExec::new(
                Arc::clone(index),
                stored,
                schema,
                version,
            ));
            return match tail {
                Some(tail) if !in_tail.is_empty() => {
                    let rows = self.tail_rows(tail, Some((index.column(), &in_tail)))?;
                    UnionExec::try_new(vec![lookup, self.memory(rows, projection)?])
                }
                _ => Ok(lookup),
            };
        }
        let table = self
            .warehouse
            .table_at(self.name, version)
            .await
            .map_err(external)?;
        table
            .update_datafusion_session(state)
            .map_err(|e| external(StoreError::delta(self.name, e)))?;
        let provider: Arc<dyn TableProvider> = table.table_provider().await?;
        let Some(tail) = tail else {
            return self
                .scan_version(state, &provider, projection, filters, limit)
                .await;
        };
        let stored = self
            .stored_rows_not_replaced(state, &provider, tail, projection, filters, limit)
            .await?;
        let unfolded = self.memory(self.tail_rows(tail, None)?, projection)?;
        UnionExec::try_new(vec![stored, unfolded])
    }
}

impl LiveTable {
    /// The stored rows, less those whose key the tail holds a newer row for.
    async fn stored_rows_not_replaced(
        &self,
        state: &dyn Session,
        provider: &Arc<dyn TableProvider>,
        tail: &TailTable,
        projection: Option<&[usize]>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let replaced = tail.replaced_keys().map_err(external)?;
        let key = replaced_by_key(self.name)
            .map(|k| self.schema.index_of(k))
            .transpose()?;
        let (Some(key), false) = (key, replaced.is_empty()) else {
            return self
                .scan_version(state, provider, projection, filters, limit)
                .await;
        };
        let wanted: Vec<usize> = projection.map_or_else(
            || (0..self.schema.fields().len()).collect(),
            <[usize]>::to_vec,
        );
        let mut read = wanted.clone();
        if !read.contains(&key) {
            read.push(key);
        }
        let scan = self
            .scan_version(state, provider, Some(&read), filters, None)
            .await?;
        let scan_schema = scan.schema();
        let key_at = read
            .iter()
            .position(|c| *c == key)
            .expect("the key is read");
        let key_column = Arc::new(Column::new(self.schema.field(key).name(), key_at));
        // Typed as the scan reads the key (Utf8View from Parquet): the filter is pushed into the
        // Parquet reader, whose comparison kernels refuse to compare Utf8View with Utf8.
        let key_type = scan_schema.field(key_at).data_type().clone();
        let list = replaced
            .into_iter()
            .map(|k| Ok(lit(ScalarValue::Utf8(Some(k)).cast_to(&key_type)?)))
            .collect::<Result<Vec<_>>>()?;
        let not_replaced = in_list(key_column, list, &true, &scan_schema)?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(not_replaced, scan)?);
        if read.len() == wanted.len() {
            return Ok(filtered);
        }
        let columns: Vec<(Arc<dyn PhysicalExpr>, String)> = wanted
            .iter()
            .enumerate()
            .map(|(at, c)| {
                let name = self.schema.field(*c).name().clone();
                (Arc::new(Column::new(&name, at)) as _, name)
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(columns, filtered)?))
    }

    /// Scan one version of the table through Delta's `provider`, in this table's columns. A
    /// version written before the table gained columns (a time-travel query to before an
    /// upgrade) lacks them: they read as NULL, and filters on them are left to DataFusion
    /// (every filter but a key pin is inexact, and key columns are never new).
    async fn scan_version(
        &self,
        state: &dyn Session,
        provider: &Arc<dyn TableProvider>,
        projection: Option<&[usize]>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let version_schema = provider.schema();
        if version_schema.fields().len() == self.schema.fields().len() {
            let projection = projection.map(<[usize]>::to_vec);
            return provider
                .scan(state, projection.as_ref(), filters, limit)
                .await;
        }
        let wanted: Vec<usize> = projection.map_or_else(
            || (0..self.schema.fields().len()).collect(),
            <[usize]>::to_vec,
        );
        let present: Vec<usize> = wanted
            .iter()
            .filter_map(|&c| version_schema.index_of(self.schema.field(c).name()).ok())
            .collect();
        let filters: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                f.column_refs()
                    .iter()
                    .all(|c| version_schema.index_of(c.name()).is_ok())
            })
            .cloned()
            .collect();
        let scan = provider
            .scan(state, Some(&present), &filters, limit)
            .await?;
        let scan_schema = scan.schema();
        let columns = wanted
            .iter()
            .map(|&c| {
                let field = self.schema.field(c);
                let name = field.name().clone();
                let expr: Arc<dyn PhysicalExpr> = match scan_schema.index_of(&name) {
                    Ok(at) => Arc::new(Column::new(&name, at)),
                    Err(_) => Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?)),
                };
                Ok((expr, name))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(columns, scan)?))
    }

    /// The tail's rows of this table, in the table's schema; only the rows of `keys` when given.
    fn tail_rows(
        &self,
        tail: &TailTable,
        keys: Option<(&str, &[String])>,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(tail.batches().len());
        for batch in tail.batches() {
            let batch = match keys {
                Some((column, keys)) => only_keys(batch, column, keys)?,
                None => batch.clone(),
            };
            if batch.num_rows() > 0 {
                out.push(conform(&batch, &self.schema)?);
            }
        }
        Ok(out)
    }

    fn memory(
        &self,
        rows: Vec<RecordBatch>,
        projection: Option<&[usize]>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(MemorySourceConfig::try_new_exec(
            &[rows],
            self.schema.clone(),
            projection.map(<[usize]>::to_vec),
        )?)
    }
}

/// `keys` split into those the live tail holds a row for (answered from it) and the rest (from
/// the stored table).
fn split_by_tail(
    tail: Option<&TailTable>,
    keys: Vec<String>,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let Some(tail) = tail else {
        return Ok((Vec::new(), keys));
    };
    let held = tail.holding(&keys)?;
    Ok(keys.into_iter().partition(|k| held.contains(k)))
}

/// The rows of `batch` whose `column` is one of `keys`.
fn only_keys(batch: &RecordBatch, column: &str, keys: &[String]) -> Result<RecordBatch> {
    let values = arrow::compute::cast(
        batch.column(batch.schema().index_of(column)?),
        &arrow::datatypes::DataType::Utf8,
    )?;
    let values = arrow::array::AsArray::as_string::<i32>(&values);
    let keys: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
    let keep: arrow::array::BooleanArray = values
        .iter()
        .map(|v| Some(v.is_some_and(|v| keys.contains(v))))
        .collect();
    Ok(arrow::compute::filter_record_batch(batch, &keep)?)
}

/// `batch` in `schema`'s column types (the tables' Delta schema may spell a type differently
/// from the rows ingest builds, e.g. a timestamp's zone).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column(batch.schema().index_of(field.name())?);
            Ok(arrow::compute::cast(column, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Values of an `IN` list still offered to Delta for file skipping (DataFusion's own pruning
/// stops rewriting lists at 20 values too).
const MAX_PUSHED_IN_LIST: usize = 20;

fn has_long_in_list(filter: &Expr) -> bool {
    use datafusion::common::tree_node::TreeNode;
    filter
        .exists(|e| Ok(matches!(e, Expr::InList(list) if list.list.len() > MAX_PUSHED_IN_LIST)))
        .unwrap_or(true)
}
