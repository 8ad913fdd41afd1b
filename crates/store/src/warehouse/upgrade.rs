//! Upgrading a warehouse written by an older prov9: the public schema only ever gains columns,
//! at the end of a table (see sql/schema.sql). Opening a table that lacks some adds them to its
//! Delta schema, nullable, in one metadata commit; the data files stay as they are. Readers of
//! the tables read an old file's missing columns as NULL: Delta's provider does, key lookups
//! (`key_index`) and scans of table versions from before the upgrade (`LiveTable`) fill them
//! in. (The lineage index reads `lineage_edges` files directly; that table has not changed.)
//! A process that crashes between the metadata commit and its warehouse commit leaves the
//! newest warehouse commit naming the old versions: readers fill the columns in there too,
//! and the next write names the new versions.

use arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::kernel::StructField;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

use crate::StoreError;

/// `table` with every column of `expected` it lacks added, and whether this process added them.
/// Another process opening the same old warehouse at the same moment may commit first (or
/// commit something else): the table is reloaded and checked again.
pub(super) async fn add_missing_columns(
    name: &'static str,
    mut table: DeltaTable,
    expected: &SchemaRef,
) -> Result<(DeltaTable, bool), StoreError> {
    const ATTEMPTS: usize = 5;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let missing = missing_columns(name, &table, expected)?;
        if missing.is_empty() {
            return Ok((table, false));
        }
        let names: Vec<&str> = missing.iter().map(|f| f.name().as_str()).collect();
        tracing::info!(table = name, columns = ?names, "upgrading the table: adding new columns");
        let retry = table.clone();
        match table.add_columns().with_fields(missing).await {
            Ok(upgraded) => return Ok((upgraded, true)),
            Err(e) if attempt >= ATTEMPTS => return Err(StoreError::delta(name, e)),
            Err(e) => {
                tracing::debug!(table = name, error = %e, "upgrade commit lost a race; reloading");
                table = retry;
                table
                    .update_state()
                    .await
                    .map_err(|e| StoreError::delta(name, e))?;
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
