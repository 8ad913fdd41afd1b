//! Upgrading a warehouse written by an older prov9: the public schema only ever gains columns,
//! at the end of a table (see sql/schema.sql). Opening a table that lacks some adds them to its
//! Delta schema, nullable, in one metadata commit; the data files stay as they are and every
//! reader (Delta's provider, the lineage index's file reads, key lookups) reads the missing
//! columns of an old file as NULL.

use arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::kernel::StructField;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

use crate::StoreError;

/// `table` with every column of `expected` it lacks added, and whether it lacked any.
pub(super) async fn add_missing_columns(
    name: &'static str,
    table: DeltaTable,
    expected: &SchemaRef,
) -> Result<(DeltaTable, bool), StoreError> {
    let missing = missing_columns(name, &table, expected)?;
    if missing.is_empty() {
        return Ok((table, false));
    }
    let names: Vec<&str> = missing.iter().map(|f| f.name().as_str()).collect();
    tracing::info!(table = name, columns = ?names, "upgrading the table: adding new columns");
    let retry = table.clone();
    match table.add_columns().with_fields(missing).await {
        Ok(upgraded) => Ok((upgraded, true)),
        Err(e) => {
            // Two processes opening an old warehouse at once: the other one's commit won.
            let mut table = retry;
            table
                .update_state()
                .await
                .map_err(|e| StoreError::delta(name, e))?;
            if missing_columns(name, &table, expected)?.is_empty() {
                Ok((table, true))
            } else {
                Err(StoreError::delta(name, e))
            }
        }
    }
}

/// The columns of `expected` that `table`'s schema lacks, as Delta fields (always nullable: old
/// rows have no value).
fn missing_columns(
    name: &'static str,
    table: &DeltaTable,
    expected: &SchemaRef,
) -> Result<Vec<StructField>, StoreError> {
    let current = table
        .snapshot()
        .map_err(|e| StoreError::delta(name, e))?
        .schema();
    expected
        .fields()
        .iter()
        .filter(|f| current.field(f.name()).is_none())
        .map(|f| {
            let field = f.as_ref().clone().with_nullable(true);
            (&field)
                .try_into_kernel()
                .map_err(|e| StoreError::delta(name, e.into()))
        })
        .collect()
}
