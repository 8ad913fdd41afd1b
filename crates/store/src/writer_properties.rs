//! How prov9 writes Parquet data files: compression, page sizes, dictionaries and bloom
//! filters per table, shared by every commit and by compaction.

use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use prov9_model::tables::{lookup_columns, primary_key};

/// How data files of `table` are written when a commit holds about `rows` rows: Snappy (delta-rs'
/// default) and a bloom filter on each lookup column, sized for the rows (a filter sized for a
/// million values would be 1 MB per column in every small commit). With it DataFusion skips
/// row groups that cannot hold a looked-up id, which statistics cannot do for random ids.
/// Pages of at most 1,024 rows let the page index narrow a lookup inside the row group it
/// reads to the pages holding the row, instead of 20,000-row pages of every column; tables with
/// a key index keep 256, since a lookup by key decompresses and walks its row's page in every
/// column.
///
/// A lookup must also read each column's dictionary page, whole: with the default 1 MB limit,
/// ids and timestamps (nearly all distinct) had dictionaries of 100–800 KB per column, which
/// every lookup decompressed (5 ms for one run at 3 M runs). Dictionaries stay for the
/// low-cardinality columns that fit in [`DICTIONARY_BYTES`]; the primary key, unique, has none.
pub(crate) fn writer_properties(table: &str, rows: usize) -> WriterProperties {
    let ndv = rows.max(1) as u64;
    let key = primary_key(table);
    let page_rows = if key.is_some() {
        KEYED_PAGE_ROWS
    } else {
        PAGE_ROWS
    };
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_data_page_row_count_limit(page_rows)
        .set_write_batch_size(page_rows)
        .set_dictionary_page_size_limit(DICTIONARY_BYTES);
    if let Some(key) = key {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(key), false);
    }
    lookup_columns(table)
        .iter()
        .fold(builder, |props, column| {
            let column = ColumnPath::from(*column);
            props
                .set_column_bloom_filter_enabled(column.clone(), true)
                .set_column_bloom_filter_fpp(column.clone(), BLOOM_FILTER_FPP)
                .set_column_bloom_filter_max_ndv(column, ndv)
        })
        .build()
}

/// Rows per data page (see [`writer_properties`]).
const PAGE_ROWS: usize = 1024;

/// Rows per data page of a table with a key index: a lookup reads a page of each column.
const KEYED_PAGE_ROWS: usize = 256;

/// Largest dictionary page per column chunk (see [`writer_properties`]); past it a column
/// falls back to plain encoding.
const DICTIONARY_BYTES: usize = 16 << 10;

/// False positives per bloom filter probe: 1% costs about 10 bits per row.
const BLOOM_FILTER_FPP: f64 = 0.01;
