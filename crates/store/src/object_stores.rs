//! Object stores for `s3://`, `gs://` and `az://` warehouses, through object_store's own
//! clients.
//!
//! delta-rs knows only `file://` and `memory://` by itself; its `s3` feature would add the AWS
//! SDK (two dozen crates and a C crypto library, a quarter of a cold build) to do what
//! object_store already does: credentials from the environment (keys, session tokens, web
//! identity, ECS and EC2 instance roles) and safe commits. A Delta commit is written with
//! `PutMode::Create`, which object_store sends to S3 as a conditional write (`If-None-Match:
//! *`): of two writers racing for a version, one gets `AlreadyExists` and retries, on AWS,
//! MinIO, R2 and any store that honours it. The log store is delta-rs's default one, the same
//! its `s3` feature would pick.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Once};

use deltalake::logstore::{
    DeltaIOStorageBackend, LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef,
    StorageConfig, default_logstore, logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use object_store::ObjectStoreScheme;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use url::Url;

use crate::StoreError;

/// URL schemes of the object stores registered here.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "abfs", "abfss", "azure"];

/// Make delta-rs open warehouses in S3, GCS and Azure (once per process).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("a valid scheme URL");
            object_store_factories().insert(url.clone(), Arc::new(CloudStores));
            logstore_factories().insert(url, Arc::new(DefaultLogs));
        }
    });
}

/// Builds a store from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), then the options
/// delta-rs passes along, which take precedence.
struct CloudStores;

impl ObjectStoreFactory for CloudStores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let (store, path) = cloud_store(url, &config.raw)?;
        let store = match &config.runtime {
            Some(runtime) => Arc::new(DeltaIOStorageBackend::new(store, runtime.clone())) as _,
            None => store,
        };
        Ok((store, path))
    }
}

/// The store of an `s3://`, `gs://` or `az://` URL and the path in it: credentials from the
/// environment, then `options`.
fn cloud_store(
    url: &Url,
    options: &HashMap<String, String>,
) -> Result<(ObjectStoreRef, Path), DeltaTableError> {
    let (scheme, path) = ObjectStoreScheme::parse(url).map_err(generic)?;
    let store: ObjectStoreRef = match scheme {
        ObjectStoreScheme::AmazonS3 => Arc::new(
            configured(
                AmazonS3Builder::from_env().with_url(url.as_str()),
                options,
                |b, k: AmazonS3ConfigKey, v| b.with_config(k, v),
            )
            .build()?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            configured(
                GoogleCloudStorageBuilder::from_env().with_url(url.as_str()),
                options,
                |b, k: GoogleConfigKey, v| b.with_config(k, v),
            )
            .build()?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Arc::new(
            configured(
                MicrosoftAzureBuilder::from_env().with_url(url.as_str()),
                options,
                |b, k: AzureConfigKey, v| b.with_config(k, v),
            )
            .build()?,
        ),
        _ => return Err(DeltaTableError::InvalidTableLocation(url.to_string())),
    };
    Ok((store, path))
}

/// The bucket and prefix `location` (`s3://bucket/prefix/`, `gs://…`, `az://…`: a scheme of
/// [`SCHEMES`]) names, with the credentials a warehouse there would use.
pub fn bucket_at(location: &str) -> Result<(ObjectStoreRef, Path), StoreError> {
    let bad = |reason: String| StoreError::Bucket {
        location: location.to_string(),
        reason,
    };
    let url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
    cloud_store(&url, &HashMap::new()).map_err(|e| bad(e.to_string()))
}

/// delta-rs's default log store: commits by conditional put.
struct DefaultLogs;

impl LogStoreFactory for DefaultLogs {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// `builder` with every option its config keys name (keys are matched case-insensitively;
/// others are left to delta-rs).
fn configured<B, K: FromStr>(
    builder: B,
    options: &HashMap<String, String>,
    set: impl Fn(B, K, String) -> B,
) -> B {
    options.iter().fold(builder, |builder, (key, value)| {
        match K::from_str(&key.to_ascii_lowercase()) {
            Ok(key) => set(builder, key, value.clone()),
            Err(_) => builder,
        }
    })
}

fn generic(e: impl std::error::Error + Send + Sync + 'static) -> DeltaTableError {
    DeltaTableError::GenericError {
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_get_a_store_and_the_default_log_store() {
        register();
        let url = Url::parse("s3://bucket/wh/events/").unwrap();
        let options = [("aws_region", "us-east-1"), ("aws_skip_signature", "true")];
        let config = StorageConfig::parse_options(options).unwrap();
        let log_store = deltalake::logstore::logstore_for(&url, config).unwrap();
        // delta-rs writes commits with a conditional put only through this log store.
        assert_eq!(log_store.name(), "DefaultLogStore");
    }
}
