//! The tail: rows acknowledged to producers but not yet folded into the Delta tables.
//!
//! Live ingest writes events to its durable log, normalises them, and pushes the rows into a
//! [`TailBuilder`] before it answers; each push publishes a read-only [`Tail`] in the
//! warehouse's snapshot. A background fold-in later commits the rows to the tables in one large
//! batch. Queries read each table as its pinned Delta version plus the tail: rows of the
//! insert-only tables are added, and for the tables whose rows later events replace
//! ([`replaced_by_key`]) a tail row hides the stored row with its key.
//!
//! Publishing must stay cheap however long the tail grows (it happens once per group commit, on
//! the committer's one task): a [`Tail`] shares the builder's batches, and the key map that
//! finds a replaced row stays with the builder. Small batches are concatenated every
//! [`COALESCE_AT`] pushes, so readers see a few batches, not thousands.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::DataType;
use prov9_model::tables::{primary_key, replaced_by_key};

use crate::StoreError;

/// A table's tail is concatenated into one batch once it holds this many.
const COALESCE_AT: usize = 64;

/// The unfolded rows of every table, as queries read them. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    /// The builder this tail came from (see [`Tail::id`]).
    id: u64,
    tables: HashMap<&'static str, TailTable>,
}

/// One table's unfolded rows.
#[derive(Debug, Clone)]
pub struct TailTable {
    name: &'static str,
    batches: Vec<RecordBatch>,
}

/// Where live ingest collects the tail, keeping what finds a replaced row.
#[derive(Debug)]
pub struct TailBuilder {
    id: u64,
    tables: HashMap<&'static str, Rows>,
}

#[derive(Debug, Default)]
struct Rows {
    batches: Vec<RecordBatch>,
    /// For a table with a primary key: which batch holds each key's row.
    keys: HashMap<String, usize>,
}

impl Default for TailBuilder {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TailBuilder {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            tables: HashMap::new(),
        }
    }
}

impl TailBuilder {
    /// Add rows of `table` (rows of a replaceable table replace earlier tail rows by key).
    pub fn push(&mut self, table: &'static str, batch: RecordBatch) -> Result<(), StoreError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rows = self.tables.entry(table).or_default();
        if let Some(key) = primary_key(table) {
            let new_keys = key_strings(&batch, key)?;
            // Earlier rows of a key now in `batch` are gone: drop them from their batches.
            let mut replaced: HashMap<usize, HashSet<&str>> = HashMap::new();
            for k in new_keys.iter().flatten() {
                if let Some(&at) = rows.keys.get(k.as_str()) {
                    replaced.entry(at).or_default().insert(k);
                }
            }
            for (at, gone) in replaced {
                let old = &rows.batches[at];
                let keys = key_column(old, key)?;
                let keys = keys.as_string::<i32>();
                let keep: BooleanArray = (0..keys.len())
                    .map(|i| Some(keys.is_null(i) || !gone.contains(keys.value(i))))
                    .collect();
                rows.batches[at] = filter_record_batch(old, &keep)?;
            }
            let index = rows.batches.len();
            for k in new_keys.into_iter().flatten() {
                rows.keys.insert(k, index);
            }
        }
        rows.batches.push(batch);
        if rows.batches.len() >= COALESCE_AT {
            rows.coalesce()?;
        }
        Ok(())
    }

    /// The rows so far, for readers.
    pub fn tail(&self) -> Tail {
        Tail {
            id: self.id,
            tables: self
                .tables
                .iter()
                .filter(|(_, rows)| rows.batches.iter().any(|b| b.num_rows() > 0))
                .map(|(name, rows)| {
                    let table = TailTable {
                        name,
                        batches: rows.batches.clone(),
                    };
                    (*name, table)
                })
                .collect(),
        }
    }
}

impl Rows {
    /// One batch instead of many: rows keep their order, keys now all point at batch 0.
    fn coalesce(&mut self) -> Result<(), StoreError> {
        let schema = self.batches[0].schema();
        let one = concat_batches(&schema, &self.batches)?;
        self.batches = vec![one];
        self.keys.values_mut().for_each(|at| *at = 0);
        Ok(())
    }
}

impl Tail {
    /// Unique per [`TailBuilder`]: rows of an insert-only table only ever follow the rows a
    /// reader already saw in an earlier tail with this id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The unfolded rows of `table`, if it has any.
    pub fn table(&self, table: &str) -> Option<&TailTable> {
        self.tables.get(table)
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
    pub fn replaced_keys(&self) -> Result<Vec<String>, StoreError> {
        let Some(key) = replaced_by_key(self.name) else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::with_capacity(self.rows());
        for batch in &self.batches {
            keys.extend(key_strings(batch, key)?.into_iter().flatten());
        }
        Ok(keys)
    }

    /// Which of `keys` the tail holds a row of.
    pub fn holding(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        let Some(key) = primary_key(self.name) else {
            return Ok(HashSet::new());
        };
        let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let mut held = HashSet::new();
        for batch in &self.batches {
            let column = key_column(batch, key)?;
            for k in column.as_string::<i32>().iter().flatten() {
                if wanted.contains(k) {
                    held.insert(k.to_string());
                }
            }
        }
        Ok(held)
    }
}

/// A batch's key column, as text.
fn key_column(batch: &RecordBatch, key: &str) -> Result<ArrayRef, StoreError> {
    let column = batch
        .column_by_name(key)
        .ok_or_else(|| StoreError::Tail(format!("a tail batch lacks its key column {key}")))?;
    Ok(cast(column, &DataType::Utf8)?)
}

fn key_strings(batch: &RecordBatch, key: &str) -> Result<Vec<Option<String>>, StoreError> {
    let column = key_column(batch, key)?;
    Ok(column
        .as_string::<i32>()
        .iter()
        .map(|k| k.map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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

    fn states(tail: &Tail) -> Vec<(String, String)> {
        tail.table("runs")
            .unwrap()
            .batches()
            .iter()
            .flat_map(|b| {
                let (id, s) = (
                    b.column(0).as_string::<i32>(),
                    b.column(1).as_string::<i32>(),
                );
                (0..b.num_rows())
                    .map(|i| (id.value(i).to_string(), s.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_later_row_replaces_an_earlier_one_by_key() {
        let mut builder = TailBuilder::default();
        builder
            .push("runs", runs(&[("a", "START"), ("b", "START")]))
            .unwrap();
        let before = builder.tail();
        builder.push("runs", runs(&[("a", "COMPLETE")])).unwrap();
        let after = builder.tail();
        assert_eq!(
            states(&after),
            [
                ("b".into(), "START".into()),
                ("a".into(), "COMPLETE".into())
            ]
        );
        let mut replaced = after.table("runs").unwrap().replaced_keys().unwrap();
        replaced.sort();
        assert_eq!(replaced, ["a", "b"]);
        let held = after
            .table("runs")
            .unwrap()
            .holding(&["a".into(), "z".into()])
            .unwrap();
        assert_eq!(held, HashSet::from(["a".to_string()]));
        // A tail taken before is a snapshot: unchanged.
        assert_eq!(
            states(&before),
            [("a".into(), "START".into()), ("b".into(), "START".into())]
        );
    }

    #[test]
    fn many_pushes_coalesce_and_replacement_still_finds_its_row() {
        let mut builder = TailBuilder::default();
        for i in 0..(COALESCE_AT + 5) {
            let id = format!("r{i}");
            builder.push("runs", runs(&[(&id, "START")])).unwrap();
        }
        builder.push("runs", runs(&[("r3", "COMPLETE")])).unwrap();
        let tail = builder.tail();
        let table = tail.table("runs").unwrap();
        assert!(
            table.batches().len() < 10,
            "{} batches",
            table.batches().len()
        );
        assert_eq!(table.rows(), COALESCE_AT + 5);
        let r3: Vec<_> = states(&tail)
            .into_iter()
            .filter(|(id, _)| id == "r3")
            .collect();
        assert_eq!(r3, [("r3".to_string(), "COMPLETE".to_string())]);
    }
}
