//! Where a warehouse lives: a local path or an object-store URL.

use std::path::Path;

use url::Url;

use crate::StoreError;

/// A parsed warehouse location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseLocation {
    /// A directory on the local filesystem (a plain path or `file://`).
    Local(std::path::PathBuf),
    /// `memory://`: a process-local store, for tests.
    Memory,
    /// Any other object store URL: `s3://`, `gs://`, `az://`, … (settings from `AWS_*` etc.).
    Remote(Url),
}

impl WarehouseLocation {
    /// Parse `--data`: a URL with a scheme, or else a filesystem path.
    pub fn parse(location: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidLocation {
            location: location.to_string(),
            reason: reason.to_string(),
        };
        if location.is_empty() {
            return Err(invalid("empty"));
        }
        // A Windows drive letter or a plain path has no "://".
        if !location.contains("://") {
            return Ok(WarehouseLocation::Local(Path::new(location).to_path_buf()));
        }
        let url = Url::parse(location).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "file" => url
                .to_file_path()
                .map(WarehouseLocation::Local)
                .map_err(|()| invalid("not a local file URL")),
            "memory" => Ok(WarehouseLocation::Memory),
            scheme if crate::object_stores::SCHEMES.contains(&scheme) => {
                Ok(WarehouseLocation::Remote(url))
            }
            other => Err(invalid(&format!(
                "unsupported scheme {other:?} (use a path, file://, s3://, gs://, az:// or memory://)"
            ))),
        }
    }

    /// The URL of the warehouse root, always ending in `/`; creates a local directory if needed.
    pub(crate) fn root_url(&self) -> Result<Url, StoreError> {
        match self {
            WarehouseLocation::Local(path) => {
                std::fs::create_dir_all(path)?;
                let abs = std::fs::canonicalize(path)?;
                Url::from_directory_path(&abs).map_err(|()| StoreError::InvalidLocation {
                    location: abs.display().to_string(),
                    reason: "not an absolute path".into(),
                })
            }
            WarehouseLocation::Memory => {
                Ok(Url::parse("memory:///").expect("a valid constant URL"))
            }
            WarehouseLocation::Remote(url) => {
                crate::object_stores::register();
                let mut url = url.clone();
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                Ok(url)
            }
        }
    }
}

impl std::fmt::Display for WarehouseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WarehouseLocation::Local(p) => write!(f, "{}", p.display()),
            WarehouseLocation::Memory => write!(f, "memory://"),
            WarehouseLocation::Remote(u) => write!(f, "{u}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            WarehouseLocation::parse("./prov9-data").unwrap(),
            WarehouseLocation::Local("./prov9-data".into())
        );
        assert_eq!(
            WarehouseLocation::parse("file:///tmp/w").unwrap(),
            WarehouseLocation::Local("/tmp/w".into())
        );
        assert_eq!(
            WarehouseLocation::parse("memory://").unwrap(),
            WarehouseLocation::Memory
        );
        assert!(matches!(
            WarehouseLocation::parse("s3://bucket/wh").unwrap(),
            WarehouseLocation::Remote(_)
        ));
        assert!(
            WarehouseLocation::parse("ftp://x/y")
                .unwrap_err()
                .to_string()
                .contains("unsupported scheme")
        );
        assert!(WarehouseLocation::parse("").is_err());
    }

    #[test]
    fn remote_root_ends_with_slash() {
        let root = WarehouseLocation::parse("s3://bucket/wh")
            .unwrap()
            .root_url()
            .unwrap();
        assert_eq!(root.as_str(), "s3://bucket/wh/");
    }
}
