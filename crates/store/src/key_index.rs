//! Point lookups by a table's primary key (`WHERE run_id = '…'`) that read one row, not every
//! data file.
//!
//! Run ids are random, so neither Delta's file statistics nor Parquet's row-group statistics can
//! skip anything: a lookup opened every data file of the table (at 3 M runs, 40 ms). A
//! [`KeyIndex`] maps the 128-bit hash of each key to the data file and row holding it, and a
//! lookup reads just that row: the footer (cached) and the pages of the one row group holding
//! it.
//!
//! It is built on the first lookup of a table, from the key column alone, and catches up with
//! each new commit by reading only the files added since. A file that leaves the table (a MERGE
//! rewrites the files of updated rows, whole) is marked dead; the rewritten file brings the same
//! keys back at their new place. Two keys with one hash only make the lookup read a row too
//! many: each row read is checked against the keys asked for, so answers are exact and the
//! query needs no filter of its own above the lookup.
//!
//! Rows read are kept decoded in a [`RowCache`] of [`ROW_CACHE_BYTES`] per table, so a row
//! looked up again is not read again.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch, RecordBatchOptions, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use deltalake::parquet::file::metadata::PageIndexPolicy;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use tokio::sync::{Mutex, OnceCell, RwLock};
use twox_hash::XxHash64;

use crate::object_file::ObjectFile;
use crate::row_cache::{KeyedRow, RowCache, RowPlace};
use crate::{StoreError, Warehouse};

/// Where a key's row is: a file of [`Keys::files`] and the row's position in it.
#[derive(Debug, Clone, Copy)]
struct Location {
    file: u32,
    row: u32,
}

struct IndexedFile {
    /// Where to read it from.
    file: ObjectFile,
    live: bool,
    /// Footer and page index, read on the first lookup that lands in the file.
    metadata: Arc<OnceCell<ArrowReaderMetadata>>,
}

#[derive(Default)]
struct Keys {
    /// The table version the index reflects.
    version: Option<i64>,
    files: Vec<IndexedFile>,
    by_path: HashMap<Path, u32>,
    /// The first row seen with a key hash, and any others (a key in a dead file and again in
    /// its rewrite, or two keys with one hash).
    first: HashMap<u128, Location>,
    more: HashMap<u128, Vec<Location>>,
}

impl Keys {
    fn insert(&mut self, hash: u128, at: Location) {
        let Some(first) = self.first.get_mut(&hash) else {
            self.first.insert(hash, at);
            return;
        };
        if !self.files[first.file as usize].live {
            *first = at;
            return;
        }
        let files = &self.files;
        let more = self.more.entry(hash).or_default();
        more.retain(|l| files[l.file as usize].live);
        more.push(at);
    }

    fn live_locations(&self, hash: u128) -> impl Iterator<Item = Location> + '_ {
        self.first
            .get(&hash)
            .into_iter()
            .chain(self.more.get(&hash).into_iter().flatten())
            .copied()
            .filter(|l| self.files[l.file as usize].live)
    }
}

/// The index of one table's primary key column.
pub(crate) struct KeyIndex {
    warehouse: Warehouse,
    table: &'static str,
    column: &'static str,
    keys: RwLock<Keys>,
    /// One catch-up at a time; lookups keep reading meanwhile.
    refreshing: Mutex<()>,
    rows: RowCache,
}

/// How much memory each table's [`RowCache`] may hold: tens of thousands of rows.
const ROW_CACHE_BYTES: usize = 64 << 20;

/// 128 bits, as two 64-bit xxHashes (the variant Parquet's bloom filters already build): at
/// millions of keys a collision is practically impossible, and harmless (see the module docs).
fn hash(key: &str) -> u128 {
    let (low, high) = (
        XxHash64::oneshot(0, key.as_bytes()),
        XxHash64::oneshot(0x9E37_79B9_7F4A_7C15, key.as_bytes()),
    );
    u128::from(high) << 64 | u128::from(low)
}

impl KeyIndex {
    pub(crate) fn new(warehouse: Warehouse, table: &'static str, column: &'static str) -> Self {
        KeyIndex {
            warehouse,
            table,
            column,
            keys: RwLock::new(Keys::default()),
            refreshing: Mutex::new(()),
            rows: RowCache::new(ROW_CACHE_BYTES),
        }
    }

    pub(crate) fn table(&self) -> &'static str {
        self.table
    }

    pub(crate) fn column(&self) -> &'static str {
        self.column
    }

    /// Catch up with the table at `version` (`None`: its newest); never goes back (a lookup in
    /// a version older than the index's is answered from the index's: a newer complete commit).
    async fn refresh(&self, version: Option<i64>) -> Result<(), StoreError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let since = self.keys.read().await.version;
        if let (Some(since), Some(wanted)) = (since, version)
            && wanted <= since
        {
            return Ok(());
        }
        let Some(listing) = self
            .warehouse
            .data_files(self.table, since, version)
            .await?
        else {
            return Ok(());
        };
        let started = Instant::now();
        let (added, gone) = {
            let keys = self.keys.read().await;
            let current: HashSet<&Path> = listing.files.iter().map(|(p, _)| p).collect();
            let gone: Vec<u32> = keys
                .by_path
                .iter()
                .filter(|(p, _)| !current.contains(p))
                .map(|(_, f)| *f)
                .collect();
            let added: Vec<ObjectFile> = listing
                .files
                .iter()
                .filter(|(p, _)| !keys.by_path.contains_key(p))
                .map(|(path, size)| ObjectFile {
                    store: Arc::clone(&listing.store),
                    path: path.clone(),
                    size: *size,
                    local: local_path(listing.local.as_deref(), path),
                })
                .collect();
            (added, gone)
        };
        let mut read = Vec::with_capacity(added.len());
        for file in added {
            let hashes = self.read_keys(&file).await?;
            read.push((file, hashes));
        }
        let mut keys = self.keys.write().await;
        for file in gone {
            let file = &mut keys.files[file as usize];
            file.live = false;
            file.metadata = Arc::new(OnceCell::new());
            let path = file.file.path.clone();
            keys.by_path.remove(&path);
        }
        let added_files = read.len();
        for (read, hashes) in read {
            let file = u32::try_from(keys.files.len()).map_err(|_| self.too_big())?;
            keys.by_path.insert(read.path.clone(), file);
            keys.files.push(IndexedFile {
                file: read,
                live: true,
                metadata: Arc::new(OnceCell::new()),
            });
            for (row, hash) in hashes.into_iter().enumerate() {
                if let Some(hash) = hash {
                    let row = u32::try_from(row).map_err(|_| self.too_big())?;
                    keys.insert(hash, Location { file, row });
                }
            }
        }
        keys.version = Some(listing.version);
        tracing::debug!(
            table = self.table,
            column = self.column,
            version = listing.version,
            added_files,
            keys = keys.first.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "key index current"
        );
        Ok(())
    }

    fn too_big(&self) -> StoreError {
        StoreError::KeyIndex {
            table: self.table.to_string(),
            reason: "more than 2^32 data files or rows in a file".into(),
        }
    }

    fn parquet(&self, path: &Path, e: impl std::fmt::Display) -> StoreError {
        StoreError::KeyIndex {
            table: self.table.to_string(),
            reason: format!("{path}: {e}"),
        }
    }

    /// The key column of one data file, hashed, one entry per row (`None` for NULL).
    async fn read_keys(&self, file: &ObjectFile) -> Result<Vec<Option<u128>>, StoreError> {
        let path = &file.path;
        let builder = ParquetRecordBatchStreamBuilder::new(file.clone())
            .await
            .map_err(|e| self.parquet(path, e))?;
        let root = builder
            .schema()
            .index_of(self.column)
            .map_err(|e| self.parquet(path, e))?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), [root]);
        let batches: Vec<RecordBatch> = builder
            .with_projection(mask)
            .build()
            .map_err(|e| self.parquet(path, e))?
            .try_collect()
            .await
            .map_err(|e| self.parquet(path, e))?;
        let mut hashes = Vec::new();
        for batch in batches {
            let column = cast(batch.column(0), &DataType::Utf8)?;
            hashes.extend(column.as_string::<i32>().iter().map(|k| k.map(hash)));
        }
        Ok(hashes)
    }

    /// The rows whose key is one of `keys`, with the columns of `schema` (the table's,
    /// projected), from the table at `version` (`None`: the newest).
    pub(crate) async fn lookup(
        &self,
        keys: &[String],
        schema: SchemaRef,
        version: Option<i64>,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.refresh(version).await?;
        let wanted = {
            let index = self.keys.read().await;
            let mut rows: Vec<Location> = keys
                .iter()
                .flat_map(|k| index.live_locations(hash(k)).collect::<Vec<_>>())
                .collect();
            rows.sort_by_key(|l| (l.file, l.row));
            rows.dedup_by_key(|l| (l.file, l.row));
            rows.iter()
                .map(|&at| {
                    let f = &index.files[at.file as usize];
                    (at, f.file.clone(), Arc::clone(&f.metadata))
                })
                .collect::<Vec<_>>()
        };
        let columns = column_names_hash(&schema);
        let asked: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let mut out = Vec::with_capacity(wanted.len());
        for (at, reader, metadata) in wanted {
            let place = RowPlace {
                file: at.file,
                row: at.row,
                columns,
            };
            let batch = match self.rows.get(&place, &schema) {
                Some(cached) => cached,
                None => {
                    let batch = self.read(reader, &metadata, at.row, &schema).await?;
                    self.rows.insert(place, batch.clone());
                    batch
                }
            };
            if batch.key.as_deref().is_some_and(|k| asked.contains(k)) {
                out.push(batch.row);
            }
        }
        Ok(out)
    }

    /// Row `row` of one file, read through its (cached) footer and page index.
    async fn read(
        &self,
        reader: ObjectFile,
        metadata: &OnceCell<ArrowReaderMetadata>,
        row: u32,
        schema: &SchemaRef,
    ) -> Result<KeyedRow, StoreError> {
        let path = reader.path.clone();
        let metadata = metadata
            .get_or_try_init(|| async {
                let mut reader = reader.clone();
                let options =
                    ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                ArrowReaderMetadata::load_async(&mut reader, options)
                    .await
                    .map_err(|e| self.parquet(&path, e))
            })
            .await?
            .clone();
        self.read_row(reader, metadata, row, schema, &path).await
    }

    /// Row `row` of one file, as `schema`'s columns, and its key: only the pages of its row
    /// group that hold it are read.
    async fn read_row(
        &self,
        reader: ObjectFile,
        metadata: ArrowReaderMetadata,
        row: u32,
        schema: &SchemaRef,
        path: &Path,
    ) -> Result<KeyedRow, StoreError> {
        let mut first = 0usize;
        let mut found = None;
        for (i, group) in metadata.metadata().row_groups().iter().enumerate() {
            let rows = usize::try_from(group.num_rows()).unwrap_or(0);
            if (row as usize) < first + rows {
                found = Some((i, row as usize - first, rows));
                break;
            }
            first += rows;
        }
        let Some((group, offset, rows)) = found else {
            return Err(self.parquet(path, format!("no row {row}")));
        };
        let file_schema = Arc::clone(metadata.schema());
        // A file written before the table gained a column lacks it: that column reads as NULL.
        let key_root = file_schema
            .index_of(self.column)
            .map_err(|e| self.parquet(path, e))?;
        let roots: Vec<usize> = schema
            .fields()
            .iter()
            .filter_map(|f| file_schema.index_of(f.name()).ok())
            .chain([key_root])
            .collect();
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots.iter().copied());
        let selection = RowSelection::from(vec![
            RowSelector::skip(offset),
            RowSelector::select(1),
            RowSelector::skip(rows - offset - 1),
        ]);
        let batches: Vec<RecordBatch> =
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata)
                .with_projection(mask)
                .with_row_groups(vec![group])
                .with_row_selection(selection)
                .build()
                .map_err(|e| self.parquet(path, e))?
                .try_collect()
                .await
                .map_err(|e| self.parquet(path, e))?;
        let [batch] = <[RecordBatch; 1]>::try_from(batches)
            .map_err(|b| self.parquet(path, format!("row {row}: {} batches", b.len())))?;
        // The reader yields the file's columns in file order, typed as written; the query wants
        // the table's order and types.
        let read = batch.schema();
        let key = cast(batch.column(read.index_of(self.column)?), &DataType::Utf8)?;
        let key = key
            .as_string::<i32>()
            .iter()
            .next()
            .flatten()
            .map(str::to_string);
        let columns = schema
            .fields()
            .iter()
            .map(|f| match read.index_of(f.name()) {
                Ok(i) => cast(batch.column(i), f.data_type()),
                Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        // No columns at all for `count(*)`: the row count says it.
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let row = RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)?;
        Ok(KeyedRow { key, row })
    }
}

/// The file's place on the local filesystem, when the warehouse is local.
fn local_path(dir: Option<&LocalFileSystem>, path: &Path) -> Option<Arc<PathBuf>> {
    dir?.path_to_filesystem(path).ok().map(Arc::new)
}

/// Tells apart lookups reading different columns of a row (see [`RowPlace`]).
fn column_names_hash(schema: &SchemaRef) -> u64 {
    let mut hasher = XxHash64::with_seed(0);
    for field in schema.fields() {
        field.name().hash(&mut hasher);
    }
    hasher.finish()
}
