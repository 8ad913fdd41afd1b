//! Rows by a set of keys, found the cheaper of two ways: a few by key lookups (an `IN` list the
//! store answers from its key index), many by reading the tables whole and keeping the wanted
//! rows here.
//!
//! Why both: an `IN` list costs 12–75 µs per literal to parse, plan and look up (more per key
//! the longer the list), a row read whole about 0.3–0.6 µs. 25,000 run ids took 0.3–0.5 s as an
//! `IN` list and 20 ms as a read of all 25,000 runs; 10,700 run ids of a month's 300,000 runs
//! took 0.8 s as an `IN` list and 90 ms as a read of all of them. Few keys in a big table are
//! the other way round.

use std::collections::HashSet;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;

use crate::{QueryError, string_literal};

/// Up to this many keys are always looked up by key, whatever the table's size.
pub const ALWAYS_LOOKED_UP: usize = 500;

/// Past one key in this many rows, a table read whole is cheaper than key lookups.
const ROWS_PER_KEY_LOOKED_UP: usize = 100;

/// Keys to restrict a query to: [`KeySet::condition`] goes into its `WHERE`, [`KeySet::retain`]
/// filters its result.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<String>,
    wanted: HashSet<String>,
    by_key: bool,
}

impl KeySet {
    /// The distinct `keys`, to be found in tables of about `table_rows` rows.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>, table_rows: usize) -> KeySet {
        let mut wanted = HashSet::new();
        let mut list = Vec::new();
        for key in keys {
            if wanted.insert(key.to_string()) {
                list.push(key.to_string());
            }
        }
        let by_key = list.len() <= ALWAYS_LOOKED_UP
            || list.len().saturating_mul(ROWS_PER_KEY_LOOKED_UP) <= table_rows;
        KeySet {
            keys: list,
            wanted,
            by_key,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether [`KeySet::condition`] looks the keys up (else it reads every row).
    pub fn by_key(&self) -> bool {
        self.by_key
    }

    /// The `WHERE` condition on `column`: `column IN (…)` when looked up by key, else `TRUE`
    /// (and [`KeySet::retain`] picks the rows). No keys match nothing.
    pub fn condition(&self, column: &str) -> String {
        if self.keys.is_empty() {
            "FALSE".to_string()
        } else if self.by_key {
            let list: Vec<String> = self.keys.iter().map(|k| string_literal(k)).collect();
            format!("{column} IN ({})", list.join(", "))
        } else {
            "TRUE".to_string()
        }
    }

    /// The rows of `batches` whose `key_column` is one of the keys (all of them when the query
    /// already looked them up).
    pub fn retain(
        &self,
        batches: Vec<RecordBatch>,
        key_column: &str,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        if self.by_key {
            return Ok(batches);
        }
        let mut kept = Vec::with_capacity(batches.len());
        for batch in batches {
            let column = batch
                .column_by_name(key_column)
                .ok_or_else(|| QueryError::NoKeyColumn(key_column.to_string()))?;
            let keys = cast(column, &DataType::Utf8)?;
            let keys = keys.as_string::<i32>();
            let mask: BooleanArray = (0..keys.len())
                .map(|i| Some(!keys.is_null(i) && self.wanted.contains(keys.value(i))))
                .collect();
            let batch = filter_record_batch(&batch, &mask)?;
            if batch.num_rows() > 0 {
                kept.push(batch);
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("run:{i}")).collect()
    }

    #[test]
    fn few_keys_are_looked_up_by_key() {
        let few = keys(3);
        let set = KeySet::new(few.iter().map(String::as_str), 1_000_000);
        assert!(set.by_key());
        assert_eq!(
            set.condition("r.run_id"),
            "r.run_id IN ('run:0', 'run:1', 'run:2')"
        );
    }

    #[test]
    fn many_keys_of_a_small_table_read_it_whole() {
        let many = keys(ALWAYS_LOOKED_UP + 1);
        let of_small = KeySet::new(many.iter().map(String::as_str), 2 * many.len());
        assert!(!of_small.by_key());
        assert_eq!(of_small.condition("run_id"), "TRUE");
        let of_big = KeySet::new(many.iter().map(String::as_str), 1000 * many.len());
        assert!(of_big.by_key());
    }

    #[test]
    fn no_keys_match_nothing_and_duplicates_count_once() {
        assert_eq!(KeySet::new([], 0).condition("x"), "FALSE");
        let set = KeySet::new(["a", "a", "b'c"], 0);
        assert_eq!(set.len(), 2);
        assert_eq!(set.condition("x"), "x IN ('a', 'b''c')");
    }

    #[test]
    fn a_whole_read_keeps_only_the_wanted_rows() {
        // run:1 … run:501, more than are looked up by key.
        let many = keys(ALWAYS_LOOKED_UP + 2);
        let set = KeySet::new(many.iter().skip(1).map(String::as_str), 0);
        assert!(!set.by_key());
        let schema = Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("run:0"),
                    Some("run:1"),
                    None,
                    Some("run:501"),
                ])),
                Arc::new(Int64Array::from(vec![0, 1, 2, 3])),
            ],
        )
        .unwrap();
        let kept = set.retain(vec![batch], "run_id").unwrap();
        let n: Vec<i64> = kept
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(n, vec![1, 3]);
        assert!(set.retain(kept, "missing").is_err());
    }
}
