//! The tail: rows acknowledged to producers but not yet folded into the Delta tables.
//!
//! Live ingest writes events to its durable log, normalises them, and pushes the rows here
//! before it answers; a background fold-in later commits them to the tables in one large batch.
//! Queries read each table as its pinned Delta version plus the tail: rows of the insert-only
//! tables are added, and for the tables whose rows later events replace
//! ([`replaced_by_key`]) a tail row hides the stored row with its key.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use prov9_model::tables::{primary_key, replaced_by_key};

use crate::StoreError;

/// The unfolded rows of every table. Cheap to clone: a clone shares its batches.
#[derive(Debug, Clone)]
pub struct Tail {
    /// Unique per tail started (a clone keeps it): a reader that has seen `n` batches of a
    /// table of this tail needs only the ones after.
    id: u64,
    tables: HashMap<&'static str, TailTable>,
}

impl Default for Tail {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Tail {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            tables: HashMap::new(),
        }
    }
}

/// One table's unfolded rows.
#[derive(Debug, Clone, Default)]
pub struct TailTable {
    batches: Vec<RecordBatch>,
    /// For a table with a primary key: which batch holds each key's row.
    keys: Arc<HashMap<String, usize>>,
    /// Whether a tail row replaces the stored row with its key.
    replaces: bool,
}

impl Tail {
    /// Add rows of `table` (rows of a replaceable table replace earlier tail rows by key).
    pub fn push(&mut self, table: &'static str, batch: RecordBatch) -> Result<(), StoreError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let entry = self.tables.entry(table).or_default();
        entry.replaces = replaced_by_key(table).is_some();
        let Some(key) = primary_key(table) else {
            entry.batches.push(batch);
            return Ok(());
        };
        let new_keys = key_strings(&batch, key)?;
        let index = entry.batches.len();
        let keys = Arc::make_mut(&mut entry.keys);
        // Earlier rows of a key now in `batch` are gone: drop them from their batches.
        let mut replaced: HashMap<usize, Vec<&str>> = HashMap::new();
        for k in new_keys.iter().flatten() {
            if let Some(&at) = keys.get(k.as_str()) {
                replaced.entry(at).or_default().push(k);
            }
        }
        for (at, gone) in replaced {
            let old = &entry.batches[at];
            let old_keys = key_strings(old, key)?;
            let keep: BooleanArray = old_keys
                .iter()
                .map(|k| Some(!k.as_deref().is_some_and(|k| gone.contains(&k))))
                .collect();
            entry.batches[at] = filter_record_batch(old, &keep)?;
        }
        for k in new_keys.into_iter().flatten() {
            keys.insert(k, index);
        }
        entry.batches.push(batch);
        Ok(())
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The unfolded rows of `table`, if it has any.
    pub fn table(&self, table: &str) -> Option<&TailTable> {
        self.tables.get(table).filter(|t| !t.batches.is_empty())
    }
}

impl TailTable {
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The keys whose stored rows the tail replaces (empty for an insert-only table).
    pub fn replaced_keys(&self) -> Vec<String> {
        if self.replaces {
            self.keys.keys().cloned().collect()
        } else {
            Vec::new()
        }
    }

    /// Whether the tail holds the row of `key`.
    pub fn has_key(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }
}

fn key_strings(batch: &RecordBatch, key: &str) -> Result<Vec<Option<String>>, StoreError> {
    let column = batch
        .column_by_name(key)
        .ok_or_else(|| StoreError::Tail(format!("a tail batch lacks its key column {key}")))?;
    let column = cast(column, &DataType::Utf8)?;
    let strings = column.as_string::<i32>();
    Ok((0..strings.len())
        .map(|i| (!strings.is_null(i)).then(|| strings.value(i).to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};

    fn runs(rows: &[(&str, &str)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, true),
        ]));
        let ids: StringArray = rows.iter().map(|r| Some(r.0)).collect();
        let states: StringArray = rows.iter().map(|r| Some(r.1)).collect();
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(states)]).unwrap()
    }

    #[test]
    fn a_later_row_replaces_an_earlier_one_by_key() {
        let mut tail = Tail::default();
        tail.push("runs", runs(&[("a", "START"), ("b", "START")]))
            .unwrap();
        let before = tail.clone();
        tail.push("runs", runs(&[("a", "COMPLETE")])).unwrap();
        let table = tail.table("runs").unwrap();
        assert_eq!(table.rows(), 2);
        let states: Vec<String> = table
            .batches()
            .iter()
            .flat_map(|b| {
                let s = b.column(1).as_string::<i32>();
                (0..s.len())
                    .map(|i| s.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(states, ["START", "COMPLETE"]);
        let mut replaced = table.replaced_keys();
        replaced.sort();
        assert_eq!(replaced, ["a", "b"]);
        // A clone taken before is a snapshot: unchanged.
        assert_eq!(before.table("runs").unwrap().rows(), 2);
        assert_eq!(before.table("runs").unwrap().batches().len(), 1);
    }
}
