//! Point lookups answered without planning: `SELECT <columns> FROM <table> WHERE <key> = '…'`.
//!
//! Such a query, the commonest an application sends (usually prepared, `WHERE run_id = $1`),
//! is one read through the table's key index; DataFusion's analyzer, optimiser and physical
//! planner cost more than the read itself. [`PointLookup::recognise`] matches the exact shape on
//! a plan whose parameters are bound, and [`PointLookup::rows`] returns the rows the planned
//! query would: the same key index lookup (`KeyLookupExec`), the same columns in the same order
//! and types. Anything else — an expression, an alias, another condition, a join, a limit —
//! is left to DataFusion.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::datasource::{TableProvider, source_as_provider};
use datafusion::logical_expr::{Expr, LogicalPlan};
use prov9_store::LiveTable;

use crate::QueryError;

/// A query that reads rows by primary key and returns some of their columns as they are.
#[derive(Debug)]
pub struct PointLookup {
    table: LiveTable,
    keys: Vec<String>,
    /// The table's columns, in the query's output order.
    columns: Vec<usize>,
    /// The query's output schema: the names and types clients were told.
    schema: SchemaRef,
}

impl PointLookup {
    /// The lookup `plan` is, when it is `Projection(columns) ← Filter(key pinned) ← TableScan`
    /// of a table with a key index (possibly under an alias), unoptimised and with literals.
    pub fn recognise(plan: &LogicalPlan) -> Option<PointLookup> {
        let LogicalPlan::Projection(projection) = plan else {
            return None;
        };
        let LogicalPlan::Filter(filter) = projection.input.as_ref() else {
            return None;
        };
        let mut input = filter.input.as_ref();
        while let LogicalPlan::SubqueryAlias(alias) = input {
            input = alias.input.as_ref();
        }
        let LogicalPlan::TableScan(scan) = input else {
            return None;
        };
        if scan.projection.is_some() || !scan.filters.is_empty() || scan.fetch.is_some() {
            return None;
        }
        let provider = source_as_provider(&scan.source).ok()?;
        let table = provider.downcast_ref::<LiveTable>()?;
        // The whole predicate must pin the key: `key = 'a' AND state = 'x'` is not a lookup.
        let keys = table.pinned_keys(std::slice::from_ref(&filter.predicate))?;
        let scanned = filter.input.schema();
        let columns = projection
            .expr
            .iter()
            .map(|expr| match expr {
                Expr::Column(column) => scanned.index_of_column(column).ok(),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>()?;
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let table_schema = table.schema();
        let same_types = columns.iter().zip(schema.fields()).all(|(&i, out)| {
            table_schema.fields().get(i).map(|f| f.data_type()) == Some(out.data_type())
        });
        same_types.then(|| PointLookup {
            table: table.clone(),
            keys,
            columns,
            schema,
        })
    }

    /// The query's output schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The query's rows, from the newest commit.
    pub async fn rows(&self) -> Result<Vec<RecordBatch>, QueryError> {
        let found = self.table.lookup(&self.keys, Some(&self.columns)).await?;
        found
            .into_iter()
            .map(|batch| {
                let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
                let columns = batch.columns().to_vec();
                RecordBatch::try_new_with_options(self.schema(), columns, &options)
                    .map_err(QueryError::from)
            })
            .collect()
    }
}
