//! A Parquet data file in the warehouse's object store, as the Parquet async reader reads it:
//! byte ranges fetched on demand (a local `pread`, an S3 ranged GET).
//!
//! A local file is read on the calling thread. A key lookup reads a few pages, usually from
//! the OS page cache, in microseconds; the object store would hand each read to a blocking
//! thread and back, and those two thread wake-ups cost more than the read.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use deltalake::parquet::arrow::arrow_reader::ArrowReaderOptions;
use deltalake::parquet::arrow::async_reader::AsyncFileReader;
use deltalake::parquet::errors::{ParquetError, Result};
use deltalake::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

#[derive(Clone)]
pub(crate) struct ObjectFile {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: Path,
    pub(crate) size: u64,
    /// The file on the local filesystem, when the warehouse is local.
    pub(crate) local: Option<Arc<PathBuf>>,
}

impl ObjectFile {
    fn read_local(file: &std::path::Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let error =
            |e: std::io::Error| ParquetError::External(format!("{}: {e}", file.display()).into());
        let opened = std::fs::File::open(file).map_err(error)?;
        ranges
            .iter()
            .map(|range| {
                let len = usize::try_from(range.end.saturating_sub(range.start))
                    .map_err(|e| ParquetError::External(Box::new(e)))?;
                let mut buffer = vec![0; len];
                opened
                    .read_exact_at(&mut buffer, range.start)
                    .map_err(error)?;
                Ok(Bytes::from(buffer))
            })
            .collect()
    }
}

impl AsyncFileReader for ObjectFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        if let Some(file) = &self.local {
            let read = Self::read_local(file, std::slice::from_ref(&range));
            return futures::future::ready(read.map(|mut r| r.remove(0))).boxed();
        }
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        if let Some(file) = &self.local {
            return futures::future::ready(Self::read_local(file, &ranges)).boxed();
        }
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            let mut reader = ParquetMetaDataReader::new();
            if let Some(options) = options {
                reader = reader
                    .with_column_index_policy(options.column_index_policy())
                    .with_offset_index_policy(options.offset_index_policy());
            }
            let size = self.size;
            Ok(Arc::new(reader.load_and_finish(self, size).await?))
        }
        .boxed()
    }
}
