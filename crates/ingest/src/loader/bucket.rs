//! Event archives in buckets: `prov9 load s3://bucket/prefix/` (and `gs://`, `az://`) reads
//! every object under the prefix in key order, as OpenLineage's S3 and GCS transports leave
//! them (one event per object, keys `<prefix><epoch millis>.json`, so key order is time order)
//! or as NDJSON, gzip or not. Credentials are the warehouse's (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

use std::io::Read;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::document::is_loadable_name;
use super::{LoadProgress, Loader};
use crate::IngestError;

/// A bucket prefix to load: its store, the prefix, and how messages name an object.
pub(super) struct Bucket {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: object_store::path::Path,
    objects: Vec<ObjectMeta>,
}

/// Objects up to this size are read whole; NDJSON objects are rarely larger (a transport
/// writes one event per object).
const MAX_OBJECT_BYTES: u64 = 1 << 30;

impl Bucket {
    /// The bucket prefix `location` names, with its loadable objects listed.
    pub(super) async fn list(location: &str) -> Result<Bucket, IngestError> {
        let (store, prefix) = prov9_store::bucket_at(location)?;
        let url = location.trim_end_matches('/').to_string();
        let mut objects: Vec<ObjectMeta> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| bucket_error(&url, e))?;
        objects.retain(|o| is_loadable_name(o.location.as_ref()));
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        if objects.is_empty() {
            return Err(IngestError::NothingToLoad {
                path: location.into(),
            });
        }
        Ok(Bucket {
            url,
            store,
            prefix,
            objects,
        })
    }

    /// Bytes the progress bar counts (stored sizes: compressed for gzip).
    pub(super) fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// How messages name an object: `s3://bucket/prefix/key.json`.
    fn name_of(&self, object: &ObjectMeta) -> String {
        let key = object.location.as_ref();
        let below = key
            .strip_prefix(self.prefix.as_ref())
            .unwrap_or(key)
            .trim_start_matches('/');
        if below.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{below}", self.url)
        }
    }
}

impl Loader {
    /// Every object of `bucket`, in key order, each read whole and loaded as a document of
    /// events (one or many, with `KEY:LINE` locations).
    pub(super) async fn load_bucket(
        &mut self,
        bucket: &Bucket,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        for object in &bucket.objects {
            let name = bucket.name_of(object);
            if object.size > MAX_OBJECT_BYTES {
                return Err(IngestError::BadEvent {
                    location: name,
                    reason: format!(
                        "an object of {} bytes; prov9 reads objects of up to {MAX_OBJECT_BYTES} \
                         bytes from a bucket (copy it to a local file to load it line by line)",
                        object.size
                    ),
                });
            }
            let bytes = bucket
                .store
                .get(&object.location)
                .await
                .map_err(|e| bucket_error(&name, e))?
                .bytes()
                .await
                .map_err(|e| bucket_error(&name, e))?;
            let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                match flate2::read::MultiGzDecoder::new(bytes.as_ref()).read_to_end(&mut out) {
                    Ok(_) => out,
                    Err(e) => {
                        self.reject("", format!("{name}:1"), format!("invalid gzip: {e}"))?;
                        progress.advance(object.size);
                        continue;
                    }
                }
            } else {
                bytes.to_vec()
            };
            self.load_document_bytes(bytes, &name, progress).await?;
            progress.advance(object.size);
            self.summary.files += 1;
        }
        Ok(())
    }
}

fn bucket_error(location: &str, e: object_store::Error) -> IngestError {
    IngestError::Store(prov9_store::StoreError::Bucket {
        location: location.to_string(),
        reason: e.to_string(),
    })
}
