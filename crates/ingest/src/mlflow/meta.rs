//! MLflow's `meta.yaml` files (PyYAML output), read with yaml-rust2.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// Why part of an MLflow store could not be read: where (`FILE` or `FILE:LINE`) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Bad {
    pub location: String,
    pub reason: String,
}

impl Bad {
    pub fn new(location: impl Display, reason: impl Into<String>) -> Self {
        Bad {
            location: location.to_string(),
            reason: reason.into(),
        }
    }
}

/// One parsed `meta.yaml`: a mapping of MLflow's fields.
#[derive(Debug)]
pub struct Meta {
    path: PathBuf,
    doc: Yaml,
}

impl Meta {
    pub fn read(path: &Path) -> Result<Meta, Bad> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Bad::new(
                    path.display(),
                    "missing (every MLflow experiment, run, dataset and model directory has one)",
                ));
            }
            Err(e) => return Err(Bad::new(path.display(), e.to_string())),
        };
        Meta::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Meta, Bad> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| {
            Bad::new(
                format!("{}:{}", path.display(), e.marker().line()),
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        match docs.into_iter().next() {
            Some(doc @ Yaml::Hash(_)) => Ok(Meta {
                path: path.to_path_buf(),
                doc,
            }),
            _ => Err(Bad::new(
                format!("{}:1", path.display()),
                "expected a YAML mapping of MLflow fields (is the file truncated?)",
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A scalar field as text; `None` when absent, null or empty.
    pub fn text(&self, key: &str) -> Option<String> {
        scalar(&self.doc[key])
    }

    pub fn required(&self, key: &str) -> Result<String, Bad> {
        self.text(key)
            .ok_or_else(|| Bad::new(self.path.display(), format!("`{key}` is missing")))
    }

    /// Milliseconds since 1970 (MLflow's timestamps), absent or null as `None`.
    pub fn millis(&self, key: &str) -> Result<Option<i64>, Bad> {
        match &self.doc[key] {
            Yaml::Integer(i) => Ok(Some(*i)),
            Yaml::Null | Yaml::BadValue => Ok(None),
            Yaml::String(s) if s.is_empty() => Ok(None),
            Yaml::String(s) => s.parse().map(Some).map_err(|_| self.not_millis(key)),
            _ => Err(self.not_millis(key)),
        }
    }

    fn not_millis(&self, key: &str) -> Bad {
        Bad::new(
            self.path.display(),
            format!("`{key}`: expected milliseconds since 1970"),
        )
    }

    /// A mapping of scalars (an input's tags); anything else reads as empty.
    pub fn strings(&self, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Yaml::Hash(h) = &self.doc[key] {
            for (k, v) in h {
                if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                    out.insert(k, v);
                }
            }
        }
        out
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()).filter(|s| !s.is_empty()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_pyyaml_writes() {
        let text = "artifact_uri: file:///tmp/mlruns/1/abc/artifacts\nend_time: null\n\
                    experiment_id: '659210361485540741'\nstart_time: 1795872622343\n\
                    source: '{\"uri\": \"s3://b/it''s.parquet\"}'\nstatus: 3\n\
                    long: a folded\n  continuation line\ntags:\n  mlflow.data.context: training\n";
        let m = Meta::parse(Path::new("meta.yaml"), text).unwrap();
        assert_eq!(m.text("experiment_id").unwrap(), "659210361485540741");
        assert_eq!(m.millis("start_time").unwrap(), Some(1795872622343));
        assert_eq!(m.millis("end_time").unwrap(), None);
        assert_eq!(m.text("status").unwrap(), "3");
        assert_eq!(
            m.text("source").unwrap(),
            r#"{"uri": "s3://b/it's.parquet"}"#
        );
        assert_eq!(m.text("long").unwrap(), "a folded continuation line");
        assert_eq!(m.strings("tags")["mlflow.data.context"], "training");
        assert!(m.required("run_id").unwrap_err().reason.contains("run_id"));
    }

    #[test]
    fn truncated_or_broken_files_name_file_and_line() {
        let e = Meta::parse(Path::new("m/meta.yaml"), "a: 1\nb: 'unterminated\n").unwrap_err();
        assert!(e.location.starts_with("m/meta.yaml:"), "{e:?}");
        assert!(e.reason.starts_with("invalid YAML"), "{e:?}");
        let e = Meta::parse(Path::new("m/meta.yaml"), "").unwrap_err();
        assert_eq!(e.location, "m/meta.yaml:1");
        let e = Meta::read(Path::new("/nonexistent/meta.yaml"))
            .err()
            .unwrap();
        assert!(e.reason.starts_with("missing"), "{e:?}");
    }
}
