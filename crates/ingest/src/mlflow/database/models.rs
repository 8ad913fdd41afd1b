//! Models: MLflow 3's logged models with their params, and registered model versions with their
//! stage and aliases.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::super::meta::Bad;
use super::super::models::{ModelRecord, flavor_of_mlmodel};
use super::super::store::Experiment;
use super::schema::Table;
use super::{DatabaseStore, millis};

impl DatabaseStore {
    /// Logged models (MLflow 3) and registered model versions.
    pub(super) async fn read_models(
        &mut self,
        experiments: &HashMap<String, Arc<Experiment>>,
    ) -> Result<(), Bad> {
        let logged = Table {
            name: "logged_models",
            columns: self.columns("logged_models").await?,
        };
        if logged.exists() {
            let mut params: HashMap<String, BTreeMap<String, String>> = HashMap::new();
            if !self.columns("logged_model_params").await?.is_empty() {
                for row in self
                    .query("SELECT model_id, param_key, param_value FROM logged_model_params")
                    .await?
                {
                    if let [Some(model), Some(key), value] = &row[..] {
                        params
                            .entry(model.clone())
                            .or_default()
                            .insert(key.clone(), value.clone().unwrap_or_default());
                    }
                }
            }
            let sql = format!(
                "SELECT model_id, experiment_id, name, {}, {}, {} FROM logged_models ORDER BY model_id",
                logged.col("source_run_id"),
                logged.col("creation_timestamp_ms"),
                logged.col("artifact_location"),
            );
            for row in self.query(&sql).await? {
                let [
                    Some(id),
                    Some(experiment_id),
                    Some(name),
                    run,
                    created,
                    artifacts,
                ] = &row[..]
                else {
                    continue;
                };
                let location = self.at("logged_models", id);
                let Some(experiment) = experiments.get(experiment_id) else {
                    continue;
                };
                // The flavor is in the MLmodel file, when the artifacts are on this machine.
                let framework = artifacts
                    .as_deref()
                    .map(|a| a.strip_prefix("file://").unwrap_or(a))
                    .filter(|a| a.starts_with('/'))
                    .and_then(|a| flavor_of_mlmodel(&Path::new(a).join("MLmodel")));
                let model = ModelRecord {
                    name: format!("{}/{name}", experiment.name),
                    version: id.clone(),
                    run_id: run.clone(),
                    created: millis(created, &location, "creation_timestamp_ms")?,
                    framework,
                    artifact_uri: artifacts.clone(),
                    hyperparameters: params.remove(id).unwrap_or_default(),
                    details: BTreeMap::new(),
                };
                self.models.push((model, location));
            }
        }

        let versions = Table {
            name: "model_versions",
            columns: self.columns("model_versions").await?,
        };
        if !versions.exists() {
            return Ok(());
        }
        let mut aliases: HashMap<(String, String), Vec<String>> = HashMap::new();
        if !self.columns("registered_model_aliases").await?.is_empty() {
            for row in self
                .query("SELECT name, version, alias FROM registered_model_aliases ORDER BY alias")
                .await?
            {
                if let [Some(name), Some(version), Some(alias)] = &row[..] {
                    aliases
                        .entry((name.clone(), version.clone()))
                        .or_default()
                        .push(alias.clone());
                }
            }
        }
        let sql = format!(
            "SELECT name, version, {}, {}, {}, {}, {}, {}, {} FROM model_versions \
             ORDER BY name, version",
            versions.col("run_id"),
            versions.col("creation_time"),
            versions.col("current_stage"),
            versions.col("description"),
            versions.col("status"),
            versions.col("storage_location"),
            versions.col("source"),
        );
        for row in self.query(&sql).await? {
            let [
                Some(name),
                Some(version),
                run,
                created,
                stage,
                description,
                status,
                storage,
                source,
            ] = &row[..]
            else {
                continue;
            };
            let location = self.at("model_versions", &format!("{name}/{version}"));
            let mut details = BTreeMap::new();
            let logged_model = source
                .as_deref()
                .and_then(|s| s.strip_prefix("models:/"))
                .filter(|id| id.starts_with("m-"));
            for (key, value) in [
                ("stage", stage.as_deref()),
                ("loggedModelId", logged_model),
                ("description", description.as_deref()),
                ("status", status.as_deref()),
            ] {
                if let Some(v) = value {
                    details.insert(key.to_string(), v.to_string());
                }
            }
            if let Some(list) = aliases.remove(&(name.clone(), version.clone())) {
                details.insert("aliases".into(), list.join(","));
            }
            let model = ModelRecord {
                name: name.clone(),
                version: version.clone(),
                run_id: run.clone(),
                created: millis(created, &location, "creation_time")?,
                framework: None,
                artifact_uri: storage.clone().or(source.clone()),
                hyperparameters: BTreeMap::new(),
                details,
            };
            self.models.push((model, location));
        }
        Ok(())
    }
}
