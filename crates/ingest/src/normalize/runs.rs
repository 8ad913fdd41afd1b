//! Run events: prov9's custom run facets read once, the `runs` row merged across a run's
//! events, its `transformations`, then what the other families derive from the event (inputs,
//! outputs, models, metrics, deployments).

use chrono::{DateTime, Utc};
use prov9_model::ModelError;
use prov9_model::facets;
use prov9_model::ids;
use prov9_model::openlineage::{Event, EventType, Facets, Job};
use prov9_model::tables::{RunRow, TransformationRow};
use serde_json::{Map, Value};

use super::Normalizer;
use super::changed::mark_changed;

/// prov9's custom facets of a run event.
struct RunFacets {
    run: Option<facets::RunFacet>,
    preprocessing: Option<facets::PreprocessingFacet>,
    training: Option<facets::TrainingFacet>,
    evaluation: Option<facets::EvaluationFacet>,
    deployment: Option<facets::DeploymentFacet>,
    metric_history: Option<facets::MetricsFacet>,
}

impl RunFacets {
    fn read(run_facets: &Facets) -> Result<Self, ModelError> {
        let path = "run.facets";
        Ok(RunFacets {
            run: facets::custom(run_facets, facets::RUN_FACET, path)?,
            preprocessing: facets::custom(run_facets, facets::PREPROCESSING_FACET, path)?,
            training: facets::custom(run_facets, facets::TRAINING_FACET, path)?,
            evaluation: facets::custom(run_facets, facets::EVALUATION_FACET, path)?,
            deployment: facets::custom(run_facets, facets::DEPLOYMENT_FACET, path)?,
            metric_history: facets::custom(run_facets, facets::METRICS_FACET, path)?,
        })
    }

    /// The job type these facets imply, for a job that does not state its own.
    fn job_type(&self) -> Option<&'static str> {
        if self.training.is_some() {
            Some("training")
        } else if self.evaluation.is_some() {
            Some("evaluation")
        } else if self.deployment.is_some() {
            Some("deployment")
        } else if self.preprocessing.is_some() {
            Some("preprocessing")
        } else {
            None
        }
    }
}

impl Normalizer<'_> {
    pub(super) fn apply_run(
        &mut self,
        event: &Event,
        event_type: Option<EventType>,
        run_uuid: &str,
        run_facets: &Facets,
        job: &Job,
    ) -> Result<(), ModelError> {
        let at = event.event_time;
        let run_id = ids::run_id(run_uuid);
        let custom = RunFacets::read(run_facets)?;
        let job_id = self.upsert_job(job, custom.job_type())?;
        let row = run_row(&run_id, job_id, event_type, at, run_facets, &custom, job);
        if let Some(parent) = &row.parent_run_id {
            // The parent run (an Airflow task above its query runs) is upstream of its children:
            // what the task read reaches what its queries wrote.
            let parent = parent.clone();
            self.edge(&parent, &run_id, "parent", &run_id, at);
        }
        self.merge_run(row, event_type);
        let inputs = self.link_inputs(&run_id, &event.inputs, at);
        if let Some(run) = &custom.run {
            self.link_input_models(&run_id, &run.input_models, &job.namespace, at);
        }
        // What a run found about its inputs (statistics, quality checks) is a result: read from
        // its end. dbt-ol repeats a test's assertions on its START, before the version the
        // test read may be known.
        if !matches!(event_type, Some(EventType::Start | EventType::Running)) {
            for (input, read) in event.inputs.iter().zip(&inputs) {
                self.refine_input(&read.version_id, input);
                self.record_quality_checks(&read.version_id, input, &run_id, at);
            }
        }
        if let Some(p) = &custom.preprocessing {
            self.record_transformations(&run_id, p);
        }
        if let Some(history) = custom.metric_history {
            self.record_metric_history(&run_id, history)?;
        }

        // What a run produced exists once it completed; an OTHER event carries metadata about
        // a run (an experiment tracker's logged model) without saying it is still going.
        let produced = matches!(
            event_type,
            None | Some(EventType::Complete) | Some(EventType::Other)
        );
        if !produced {
            // The datasets it declares exist, even if this run never writes them.
            for output in &event.outputs {
                self.upsert_dataset(output);
            }
            return Ok(());
        }
        self.record_outputs(&run_id, run_uuid, &event.outputs, &inputs, at);
        if let Some(t) = &custom.training {
            self.record_training(&run_id, t, &job.namespace, at)?;
        }
        if let Some(ev) = &custom.evaluation {
            self.record_evaluation(&run_id, ev, &job.namespace, &inputs, at)?;
        }
        if let Some(d) = &custom.deployment {
            self.record_deployment(&run_id, run_uuid, d, &job.namespace, at);
        }
        Ok(())
    }

    /// A preprocessing facet's steps, in order.
    fn record_transformations(&mut self, run_id: &str, p: &facets::PreprocessingFacet) {
        for (i, step) in p.steps.iter().enumerate() {
            let row = TransformationRow {
                run_id: run_id.to_string(),
                step: Some(i as i64),
                kind: step.kind.clone(),
                name: step.name.clone(),
                parameters: step
                    .parameters
                    .clone()
                    .map(|m| Value::Object(m).to_string()),
                input_columns: step.input_columns.clone(),
                output_columns: step.output_columns.clone(),
            };
            self.insert(TransformationRow::NAME, row, |c| &mut c.transformations);
        }
    }

    /// Merge one event's view of a run into the run's row.
    fn merge_run(&mut self, new: RunRow, event_type: Option<EventType>) {
        let merged = match self.state.runs.get(&new.run_id) {
            None => {
                self.changes.mark_created(RunRow::NAME, &new.run_id);
                new
            }
            Some(old) => {
                if !self.changes.is_created(RunRow::NAME, &new.run_id)
                    && !self.changed.runs.contains(&new.run_id)
                {
                    // This batch's first change to a stored run: `old` is the row as stored.
                    self.changes.update_stored_run(old.updated_at);
                }
                let old_terminal = EventType::parse(&old.state).is_some_and(EventType::is_terminal);
                let newer = new.updated_at >= old.updated_at;
                let takes_state = match event_type {
                    Some(t) if t.is_terminal() => newer || !old_terminal,
                    // OTHER adds metadata; it never moves a known run's state.
                    Some(EventType::Other) => false,
                    _ => newer && !old_terminal,
                };
                RunRow {
                    run_id: old.run_id.clone(),
                    job_id: old.job_id.clone(),
                    parent_run_id: old.parent_run_id.clone().or(new.parent_run_id),
                    state: if takes_state {
                        new.state
                    } else {
                        old.state.clone()
                    },
                    started_at: min_opt(old.started_at, new.started_at),
                    ended_at: if takes_state {
                        new.ended_at.or(old.ended_at)
                    } else {
                        old.ended_at.or(new.ended_at)
                    },
                    code_version: newest(newer, new.code_version, &old.code_version),
                    parameters: newest(newer, new.parameters, &old.parameters),
                    environment: newest(newer, new.environment, &old.environment),
                    // A run that ends up COMPLETE has no error, whatever an earlier event said.
                    error_message: if takes_state && event_type == Some(EventType::Complete) {
                        new.error_message
                    } else {
                        newest(newer, new.error_message, &old.error_message)
                    },
                    updated_at: old.updated_at.max(new.updated_at),
                    root_run_id: old.root_run_id.clone().or(new.root_run_id),
                    tags: newest(newer, new.tags, &old.tags),
                }
            }
        };
        if self.state.runs.get(&merged.run_id) != Some(&merged) {
            mark_changed(&mut self.changed.runs, &merged.run_id);
            self.state.runs.insert(merged.run_id.clone(), merged);
        }
    }
}

/// The `runs` row as this one event sees it.
fn run_row(
    run_id: &str,
    job_id: String,
    event_type: Option<EventType>,
    at: DateTime<Utc>,
    run_facets: &Facets,
    custom: &RunFacets,
    job: &Job,
) -> RunRow {
    let mut parameters = custom.run.as_ref().and_then(|f| f.parameters.clone());
    if parameters.is_none() {
        parameters = custom
            .training
            .as_ref()
            .and_then(|t| t.hyperparameters.clone());
    }
    if parameters.is_none() {
        parameters = facets::execution_parameters(run_facets);
    }
    let mut environment = custom.run.as_ref().and_then(|f| f.environment.clone());
    if let Some(engine) = facets::processing_engine(run_facets) {
        environment
            .get_or_insert_with(Map::new)
            .insert("processing_engine".into(), strip_meta(engine));
    }
    RunRow {
        run_id: run_id.to_string(),
        job_id,
        parent_run_id: facets::parent_run_id(run_facets).map(|p| ids::run_id(&p)),
        state: event_type.unwrap_or(EventType::Other).as_str().to_string(),
        started_at: (event_type == Some(EventType::Start)).then_some(at),
        ended_at: event_type.filter(|t| t.is_terminal()).map(|_| at),
        code_version: facets::code_version(&job.facets),
        parameters: parameters.map(|p| Value::Object(p).to_string()),
        environment: environment.map(|e| Value::Object(e).to_string()),
        error_message: facets::error_message(run_facets),
        updated_at: Some(at),
        root_run_id: facets::root_run_id(run_facets).map(|r| ids::run_id(&r)),
        tags: facets::tags(run_facets),
    }
}

/// The newer event's value if it has one, else the other's.
fn newest(new_is_newer: bool, new: Option<String>, old: &Option<String>) -> Option<String> {
    if new_is_newer {
        new.or_else(|| old.clone())
    } else {
        old.clone().or(new)
    }
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A facet without its `_`-prefixed metadata (`_producer`, `_schemaURL`).
fn strip_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !k.starts_with('_'));
    }
    v
}
