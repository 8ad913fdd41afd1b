//! Rows that key lookups read recently, kept decoded.
//!
//! Reading one row by key costs the Parquet reader's setup and decompressing and decoding a
//! page of every column asked for: most of a lookup's time, though the pages are in the OS page
//! cache. Applications look the same few rows up again and again (the run a dashboard shows,
//! the model being deployed), so a lookup first asks this cache.
//!
//! A row is cached under its place, the data file and row number the key index found it at.
//! Data files are never modified once written, so a cached row can never be out of date: when
//! a commit moves a key (a MERGE rewrites the files of updated rows), the index sends lookups to
//! the new file, and the old file's rows are simply not asked for again until they are evicted.
//!
//! Eviction is by two generations, which costs nothing per hit: rows go into the young one;
//! when it holds half the budget, it becomes the old one and the previous old one is dropped. A
//! row found in the old generation moves back into the young one. So a row stays while it is
//! asked for, and the cache never holds much more than its budget.

use std::collections::HashMap;
use std::sync::Mutex;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

/// Where a row was read: a file of the index (see `key_index.rs`) and the row's position in it,
/// and which columns were read (the hash of their names, checked against the row's schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RowPlace {
    pub(crate) file: u32,
    pub(crate) row: u32,
    pub(crate) columns: u64,
}

/// One row read by a lookup, and its key.
#[derive(Debug, Clone)]
pub(crate) struct KeyedRow {
    pub(crate) key: Option<String>,
    pub(crate) row: RecordBatch,
}

impl KeyedRow {
    fn bytes(&self) -> usize {
        self.row.get_array_memory_size() + self.key.as_ref().map_or(0, String::len) + PER_ROW
    }
}

/// What a cached row costs besides its arrays: its place in the map, the batch and key.
const PER_ROW: usize = 128;

pub(crate) struct RowCache {
    budget: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<RowPlace, KeyedRow>,
    young_bytes: usize,
    old: HashMap<RowPlace, KeyedRow>,
}

impl RowCache {
    /// A cache holding rows of about `budget` bytes in all.
    pub(crate) fn new(budget: usize) -> Self {
        RowCache {
            budget,
            generations: Mutex::new(Generations::default()),
        }
    }

    /// The row read at `place` with `schema`'s columns, if it is cached.
    pub(crate) fn get(&self, place: &RowPlace, schema: &SchemaRef) -> Option<KeyedRow> {
        let mut generations = self.lock();
        let found = match generations.young.get(place) {
            Some(row) => row.clone(),
            None => {
                let row = generations.old.remove(place)?;
                self.keep(&mut generations, *place, row.clone());
                row
            }
        };
        (found.row.schema().fields() == schema.fields()).then_some(found)
    }

    /// Keeps the row read at `place`.
    pub(crate) fn insert(&self, place: RowPlace, row: KeyedRow) {
        let mut generations = self.lock();
        self.keep(&mut generations, place, row);
    }

    fn keep(&self, generations: &mut Generations, place: RowPlace, row: KeyedRow) {
        let bytes = row.bytes();
        if bytes > self.budget / 2 {
            return;
        }
        if generations.young_bytes + bytes > self.budget / 2 {
            generations.old = std::mem::take(&mut generations.young);
            generations.young_bytes = 0;
        }
        generations.young_bytes += bytes;
        if let Some(replaced) = generations.young.insert(place, row) {
            generations.young_bytes -= replaced.bytes();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock leaves only whole entries behind.
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn row(value: &str, column: &str) -> KeyedRow {
        let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]));
        let column: ArrayRef = Arc::new(StringArray::from(vec![value]));
        KeyedRow {
            key: Some(value.to_string()),
            row: RecordBatch::try_new(schema, vec![column]).unwrap(),
        }
    }

    fn place(row: u32) -> RowPlace {
        RowPlace {
            file: 0,
            row,
            columns: 7,
        }
    }

    #[test]
    fn keeps_rows_asked_for_within_its_budget() {
        let one = row("r-0", "run_id");
        let schema = one.row.schema();
        // Room for about four rows per generation.
        let cache = RowCache::new(one.bytes() * 8 + 1);
        for i in 0..4 {
            cache.insert(place(i), row(&format!("r-{i}"), "run_id"));
        }
        let hit = cache
            .get(&place(2), &schema)
            .expect("a row just read is cached");
        assert_eq!(hit.key.as_deref(), Some("r-2"));
        // The same place read with other columns is another row.
        let other = row("r-2", "job_id").row.schema();
        assert!(cache.get(&place(2), &other).is_none());

        // Row 0 moves to the old generation when the young one fills, and back when asked for.
        for i in 4..8 {
            cache.insert(place(i), row(&format!("r-{i}"), "run_id"));
        }
        assert!(cache.get(&place(0), &schema).is_some());
        // Rows 1..4, never asked for again, are dropped when the generations turn over again.
        for i in 8..16 {
            cache.insert(place(i), row(&format!("r-{i}"), "run_id"));
        }
        assert!(cache.get(&place(1), &schema).is_none());
        assert!(cache.get(&place(15), &schema).is_some());

        let held = cache.lock();
        let bytes: usize = held
            .young
            .values()
            .chain(held.old.values())
            .map(KeyedRow::bytes)
            .sum();
        assert!(bytes <= cache.budget + one.bytes(), "{bytes} bytes held");
    }
}
