//! Models in an MLflow store: logged models (MLflow 3's `models/` directory of an experiment,
//! or MLflow 2's `mlflow.log-model.history` run tag) and registered model versions.

use std::collections::BTreeMap;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use super::meta::{Bad, Meta};
use super::run::values_under;

/// A model version as prov9 records it: which run produced it, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub name: String,
    pub version: String,
    pub run_id: Option<String>,
    pub created: Option<i64>,
    pub framework: Option<String>,
    pub artifact_uri: Option<String>,
    pub hyperparameters: BTreeMap<String, String>,
    /// Registry details (stage, logged model id) kept in the event.
    pub details: BTreeMap<String, String>,
}

/// A logged model of MLflow 3, named `<experiment>/<name>` with its model id as version.
pub fn logged_model(experiment: &str, meta_path: &Path) -> Result<ModelRecord, Bad> {
    let meta = Meta::read(meta_path)?;
    let dir = meta_path.parent().unwrap_or(Path::new("."));
    let hyperparameters = values_under(&dir.join("params"))?;
    Ok(ModelRecord {
        name: format!("{experiment}/{}", meta.required("name")?),
        version: meta.required("model_id")?,
        run_id: meta.text("source_run_id"),
        created: meta.millis("creation_timestamp")?,
        framework: flavor_of_mlmodel(&dir.join("artifacts").join("MLmodel")),
        artifact_uri: meta.text("artifact_location"),
        hyperparameters,
        details: BTreeMap::new(),
    })
}

/// A registered model version: the registry's name, its version number.
pub fn registered_version(meta_path: &Path) -> Result<ModelRecord, Bad> {
    let meta = Meta::read(meta_path)?;
    let mut details = BTreeMap::new();
    for (key, field) in [
        ("stage", "current_stage"),
        ("loggedModelId", "model_id"),
        ("description", "description"),
        ("status", "status"),
    ] {
        if let Some(v) = meta.text(field) {
            details.insert(key.to_string(), v);
        }
    }
    Ok(ModelRecord {
        name: meta.required("name")?,
        version: meta.required("version")?,
        run_id: meta.text("run_id"),
        created: meta.millis("creation_timestamp")?,
        framework: None,
        artifact_uri: meta.text("storage_location").or(meta.text("source")),
        hyperparameters: BTreeMap::new(),
        details,
    })
}

/// MLflow 2's models: the JSON list a run keeps in its `mlflow.log-model.history` tag.
pub fn logged_by_tag(
    experiment: &str,
    run_id: &str,
    history: &str,
    location: &str,
) -> Vec<ModelRecord> {
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(history) else {
        tracing::warn!("{location}: not a JSON list; its models are skipped");
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|m| {
            let path = m.get("artifact_path")?.as_str()?;
            let created = m
                .get("utc_time_created")
                .and_then(|t| t.as_str())
                .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok())
                .map(|t| t.and_utc().timestamp_millis());
            let framework = m
                .get("flavors")
                .and_then(|f| f.as_object())
                .and_then(|f| pick_flavor(f.keys().map(String::as_str)));
            Some(ModelRecord {
                name: format!("{experiment}/{path}"),
                version: m
                    .get("model_uuid")
                    .and_then(|u| u.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| run_id.to_string()),
                run_id: Some(run_id.to_string()),
                created,
                framework,
                artifact_uri: None,
                hyperparameters: BTreeMap::new(),
                details: BTreeMap::new(),
            })
        })
        .collect()
}

/// The flavor that names the framework: the first besides the generic `python_function`.
fn pick_flavor<'a>(flavors: impl Iterator<Item = &'a str>) -> Option<String> {
    let flavors: Vec<&str> = flavors.collect();
    flavors
        .iter()
        .find(|f| **f != "python_function")
        .or(flavors.first())
        .map(|f| f.to_string())
}

pub(super) fn flavor_of_mlmodel(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc = YamlLoader::load_from_str(&text).ok()?.into_iter().next()?;
    let Yaml::Hash(flavors) = &doc["flavors"] else {
        return None;
    };
    pick_flavor(flavors.keys().filter_map(Yaml::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow2_model_history_tag() {
        let history = r#"[{"run_id": "abc", "artifact_path": "model", "utc_time_created": "2023-05-01 10:00:00.123456",
            "flavors": {"python_function": {}, "sklearn": {"sklearn_version": "1.2"}}, "model_uuid": "u1"}]"#;
        let models = logged_by_tag("fraud", "abc", history, "tags/x");
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].name, "fraud/model");
        assert_eq!(models[0].version, "u1");
        assert_eq!(models[0].framework.as_deref(), Some("sklearn"));
        assert_eq!(models[0].created, Some(1682935200123));
        assert!(logged_by_tag("fraud", "abc", "not json", "t").is_empty());
    }
}
