//! What prov9's ML facets record: `model_versions` (trained, evaluated, deployed), `metrics`
//! and `deployments` rows, with their lineage edges.

use chrono::{DateTime, Utc};
use prov9_model::ModelError;
use prov9_model::facets::{self, ModelRef};
use prov9_model::ids;
use prov9_model::tables::{DeploymentRow, MetricRow, ModelVersionRow};
use serde_json::{Map, Value};

use super::Normalizer;
use super::changed::mark_changed;
use super::lineage::ResolvedInput;
use super::validate::metric_point;

impl Normalizer<'_> {
    /// A training run: the model version it trained (run -> model version) and its metrics.
    pub(super) fn record_training(
        &mut self,
        run_id: &str,
        t: &facets::TrainingFacet,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Result<(), ModelError> {
        let (model_version, _) = self.ensure_model(&t.model, namespace, at, Some(t), Some(run_id));
        self.edge(run_id, &model_version, "output", run_id, at);
        self.record_metrics(
            run_id,
            Some(&model_version),
            None,
            &t.metrics,
            at,
            "prov9_training.metrics",
        )
    }

    /// An evaluation run: the model version it read, the dataset version it evaluated on (the
    /// facet's, else the run's only input) and the metrics it measured.
    pub(super) fn record_evaluation(
        &mut self,
        run_id: &str,
        ev: &facets::EvaluationFacet,
        namespace: &str,
        inputs: &[ResolvedInput],
        at: DateTime<Utc>,
    ) -> Result<(), ModelError> {
        let (model_version, _) = self.ensure_model(&ev.model, namespace, at, None, None);
        self.edge(&model_version, run_id, "input", run_id, at);
        let dataset_version = match (&ev.dataset, inputs) {
            (Some(d), _) => {
                let v = self.resolve_ref(d, at);
                // The evaluation read it, whether or not the producer listed it as an input.
                self.edge(&v, run_id, "input", run_id, at);
                Some(v)
            }
            (None, [only]) => Some(only.version_id.clone()),
            (None, _) => None,
        };
        self.record_metrics(
            run_id,
            Some(&model_version),
            dataset_version.as_deref(),
            &ev.metrics,
            at,
            "prov9_evaluation.metrics",
        )
    }

    /// Model versions a run read (`prov9_run.inputModels`): an edge from each, as from the
    /// model an evaluation reads. A version not seen yet is created; its training fills it in.
    pub(super) fn link_input_models(
        &mut self,
        run_id: &str,
        models: &[ModelRef],
        namespace: &str,
        at: DateTime<Utc>,
    ) {
        for model in models {
            let (model_version, _) = self.ensure_model(model, namespace, at, None, None);
            self.edge(&model_version, run_id, "input", run_id, at);
        }
    }

    /// A deployment run: the `deployments` row and its edge from the deployed model version.
    pub(super) fn record_deployment(
        &mut self,
        run_id: &str,
        run_uuid: &str,
        d: &facets::DeploymentFacet,
        namespace: &str,
        at: DateTime<Utc>,
    ) {
        let (model_version, model_name) = self.ensure_model(&d.model, namespace, at, None, None);
        let deployment_id = ids::deployment_id(&d.environment, &model_name, run_uuid);
        let mut details = Map::new();
        for (k, v) in [
            ("runtime", &d.runtime),
            ("hardware", &d.hardware),
            ("packages", &d.packages),
        ] {
            if let Some(v) = v {
                details.insert(k.into(), v.clone());
            }
        }
        if let Some(by) = &d.deployed_by {
            details.insert("deployedBy".into(), Value::String(by.clone()));
        }
        let row = DeploymentRow {
            deployment_id: deployment_id.clone(),
            model_version_id: model_version.clone(),
            environment: d.environment.clone(),
            target: d.target.clone(),
            details: (!details.is_empty()).then(|| Value::Object(details).to_string()),
            deployed_at: at,
            retired_at: d
                .retired_at
                .as_deref()
                .and_then(prov9_model::openlineage::parse_time),
            status: d.status.clone().unwrap_or_else(|| "active".into()),
            run_id: Some(run_id.to_string()),
        };
        self.insert(DeploymentRow::NAME, row, |c| &mut c.deployments);
        self.edge(&model_version, &deployment_id, "deployed", run_id, at);
    }

    /// A `prov9_metrics` history: one row per point, at its own step and time.
    pub(super) fn record_metric_history(
        &mut self,
        run_id: &str,
        history: facets::MetricsFacet,
    ) -> Result<(), ModelError> {
        for point in history.points {
            let (value, timestamp) = metric_point(&point)?;
            let row = MetricRow {
                run_id: run_id.to_string(),
                model_version_id: None,
                dataset_version_id: None,
                key: point.key,
                value: Some(value),
                step: point.step,
                timestamp,
            };
            self.insert(MetricRow::NAME, row, |c| &mut c.metrics);
        }
        Ok(())
    }

    /// A training or evaluation facet's metrics, at the event's time; `path` names the facet's
    /// field in errors.
    fn record_metrics(
        &mut self,
        run_id: &str,
        model_version: Option<&str>,
        dataset_version: Option<&str>,
        metrics: &Map<String, Value>,
        at: DateTime<Utc>,
        path: &str,
    ) -> Result<(), ModelError> {
        for (key, value) in metrics {
            let value = facets::metric_value(value).ok_or_else(|| {
                ModelError::field(format!("run.facets.{path}.{key}"), "expected a number")
            })?;
            let row = MetricRow {
                run_id: run_id.to_string(),
                model_version_id: model_version.map(str::to_string),
                dataset_version_id: dataset_version.map(str::to_string),
                key: key.clone(),
                value: Some(value),
                step: None,
                timestamp: at,
            };
            self.insert(MetricRow::NAME, row, |c| &mut c.metrics);
        }
        Ok(())
    }

    /// The model version a facet names, created if new; returns (version id, model name).
    fn ensure_model(
        &mut self,
        model: &ModelRef,
        default_namespace: &str,
        at: DateTime<Utc>,
        training: Option<&facets::TrainingFacet>,
        run_id: Option<&str>,
    ) -> (String, String) {
        let namespace = model
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_string());
        let model_id = ids::model_id(&namespace, &model.name);
        let version_id = ids::version_id(&model_id, &model.version);
        match self.state.models.get(&version_id) {
            None => self
                .changes
                .mark_created(ModelVersionRow::NAME, &version_id),
            // Seen first in an evaluation or deployment: the training facet fills it in.
            Some(old) if old.training_run_id.is_none() && training.is_some() => {}
            Some(_) => return (version_id, model.name.clone()),
        }
        let row = ModelVersionRow {
            version_id: version_id.clone(),
            model_id,
            namespace,
            name: model.name.clone(),
            version: model.version.clone(),
            architecture: training.and_then(|t| t.architecture.clone()),
            framework: training.and_then(|t| t.framework.clone()),
            hyperparameters: training
                .and_then(|t| t.hyperparameters.clone())
                .map(|h| Value::Object(h).to_string()),
            training_run_id: run_id.map(str::to_string),
            artifact_uri: training.and_then(|t| t.artifact_uri.clone()),
            created_at: at,
        };
        if self.state.models.get(&version_id) != Some(&row) {
            self.state.models.insert(version_id.clone(), row);
            mark_changed(&mut self.changed.models, &version_id);
        }
        (version_id, model.name.clone())
    }
}
