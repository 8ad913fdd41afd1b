//! Normalisation: OpenLineage events to rows of the public schema.
//!
//! Rules (the README and `sql/schema.sql` document them for users):
//! * a run's events merge into one `runs` row in its latest state; history stays in `events`;
//!   an OTHER event adds metadata (facets, outputs) but never moves a known run's state;
//! * an input without a version resolves to the newest version of that dataset created at or
//!   before the event's time; with none known, to the dataset's `@unversioned` node;
//! * an output of a completed run without a version facet becomes a new version named after the
//!   run; `previous_version_id` links it to the version before it;
//! * edges run in the direction data flows: input version -> run -> output version, model version
//!   -> evaluation run, run -> trained model version, model version -> deployment.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashSet};
use prov9_model::ModelError;
use prov9_model::facets::{self, ColumnEdge, DatasetRef, ModelRef};
use prov9_model::ids;
use prov9_model::openlineage::{Dataset, Event, EventKind, EventType, Facets, Job};
use prov9_model::tables::*;
use serde_json::{Map, Value};

use crate::changes::Changes;
use crate::keys::Keyed;
use crate::state::WarehouseState;

/// One event ready to normalise: parsed, with its verbatim text, id and origin.
#[derive(Debug, Clone)]
pub struct ParsedEvent {
    pub event: Event,
    pub event_id: String,
    pub payload: String,
    pub source: String,
}

/// Turns events into [`Changes`], keeping a [`WarehouseState`] current.
pub struct Normalizer<'a> {
    state: &'a mut WarehouseState,
    changes: Changes,
    changed: ChangedIds,
    now: DateTime<Utc>,
}

/// The mutable rows a batch changed, by id: their rows are copied from the state once, at the
/// end, however many events of the batch changed them (a run's START and COMPLETE both do).
#[derive(Default)]
struct ChangedIds {
    jobs: HashSet<String>,
    runs: HashSet<String>,
    datasets: HashSet<String>,
    versions: HashSet<String>,
    models: HashSet<String>,
}

fn mark_changed(ids: &mut HashSet<String>, id: &str) {
    if !ids.contains(id) {
        ids.insert(id.to_string());
    }
}

/// The rows of `ids` as they are now, in id order.
fn rows_of<R: Clone>(ids: HashSet<String>, state: &HashMap<String, R>) -> BTreeMap<String, R> {
    ids.into_iter()
        .map(|id| {
            let row = state[&id].clone();
            (id, row)
        })
        .collect()
}

impl<'a> Normalizer<'a> {
    pub fn new(state: &'a mut WarehouseState) -> Self {
        Normalizer {
            state,
            changes: Changes::default(),
            changed: ChangedIds::default(),
            now: Utc::now(),
        }
    }

    /// Normalise a batch of events. Events are applied in time order, so that within a batch an
    /// input resolves to the version its producer wrote just before. On error nothing of the
    /// failing event is kept in the changes… but the caller must discard the whole batch anyway.
    pub fn apply_batch(
        &mut self,
        mut events: Vec<ParsedEvent>,
    ) -> Result<(), (String, ModelError)> {
        events.sort_by(|a, b| {
            a.event
                .event_time
                .cmp(&b.event.event_time)
                .then_with(|| type_rank(&a.event).cmp(&type_rank(&b.event)))
        });
        for e in events {
            self.apply(e)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Changes {
        let ChangedIds {
            jobs,
            runs,
            datasets,
            versions,
            models,
        } = self.changed;
        let state = &*self.state;
        Changes {
            jobs: rows_of(jobs, &state.jobs),
            runs: rows_of(runs, &state.runs),
            datasets: rows_of(datasets, &state.datasets),
            dataset_versions: rows_of(versions, &state.versions),
            model_versions: rows_of(models, &state.models),
            ..self.changes
        }
    }

    fn apply(&mut self, e: ParsedEvent) -> Result<(), (String, ModelError)> {
        let event_key = crate::keys::digest(&[&e.event_id]);
        if !self.state.insert_key(EventRow::NAME, event_key) {
            return Ok(());
        }
        let source = e.source.clone();
        self.apply_event(&e.event).map_err(|err| (source, err))?;
        let (run_id, job_id) = match &e.event.kind {
            EventKind::Run { run, job, .. } => (
                Some(ids::run_id(&run.run_id)),
                Some(ids::job_id(&job.namespace, &job.name)),
            ),
            EventKind::Job { job } => (None, Some(ids::job_id(&job.namespace, &job.name))),
            EventKind::Dataset { .. } => (None, None),
        };
        self.changes.events.push(EventRow {
            event_id: e.event_id,
            event_time: e.event.event_time,
            event_type: e.event.type_label(),
            source: e.source,
            run_id,
            job_id,
            producer: Some(e.event.producer.clone()).filter(|p| !p.is_empty()),
            payload: e.payload,
            ingested_at: self.now,
        });
        Ok(())
    }

    fn apply_event(&mut self, event: &Event) -> Result<(), ModelError> {
        let at = event.event_time;
        match &event.kind {
            EventKind::Job { job } => {
                self.upsert_job(job, None)?;
                for d in event.inputs.iter().chain(&event.outputs) {
                    self.upsert_dataset(d);
                }
            }
            EventKind::Dataset { dataset } => {
                self.upsert_dataset(dataset);
                if let Some(v) = facets::dataset_version(&dataset.facets) {
                    self.ensure_version(dataset, &v, "facet", at, None);
                }
            }
            EventKind::Run {
                event_type,
                run,
                job,
            } => self.apply_run(event, *event_type, &run.run_id, &run.facets, job)?,
        }
        Ok(())
    }

    fn apply_run(
        &mut self,
        event: &Event,
        event_type: Option<EventType>,
        run_uuid: &str,
        run_facets: &Facets,
        job: &Job,
    ) -> Result<(), ModelError> {
        let at = event.event_time;
        let run_id = ids::run_id(run_uuid);
        let path = "run.facets";
        let run_facet: Option<facets::RunFacet> =
            facets::custom(run_facets, facets::RUN_FACET, path)?;
        let preprocessing: Option<facets::PreprocessingFacet> =
            facets::custom(run_facets, facets::PREPROCESSING_FACET, path)?;
        let training: Option<facets::TrainingFacet> =
            facets::custom(run_facets, facets::TRAINING_FACET, path)?;
        let evaluation: Option<facets::EvaluationFacet> =
            facets::custom(run_facets, facets::EVALUATION_FACET, path)?;
        let deployment: Option<facets::DeploymentFacet> =
            facets::custom(run_facets, facets::DEPLOYMENT_FACET, path)?;
        let metric_history: Option<facets::MetricsFacet> =
            facets::custom(run_facets, facets::METRICS_FACET, path)?;
        let inferred_type = if training.is_some() {
            Some("training")
        } else if evaluation.is_some() {
            Some("evaluation")
        } else if deployment.is_some() {
            Some("deployment")
        } else if preprocessing.is_some() {
            Some("preprocessing")
        } else {
            None
        };
        let job_id = self.upsert_job(job, inferred_type)?;

        // The run row, merged.
        let mut parameters = run_facet.as_ref().and_then(|f| f.parameters.clone());
        if parameters.is_none() {
            parameters = training.as_ref().and_then(|t| t.hyperparameters.clone());
        }
        let mut environment = run_facet.as_ref().and_then(|f| f.environment.clone());
        if let Some(engine) = facets::processing_engine(run_facets) {
            environment
                .get_or_insert_with(Map::new)
                .insert("processing_engine".into(), strip_meta(engine));
        }
        self.merge_run(
            RunRow {
                run_id: run_id.clone(),
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
            },
            event_type,
        );

        // Inputs: every event that names them links them to the run.
        let mut resolved_inputs: Vec<(String, String, String)> = Vec::new(); // (namespace, name, version id)
        for input in &event.inputs {
            let dataset_id = self.upsert_dataset(input);
            let key = (run_id.clone(), dataset_id);
            let version_id = match (
                facets::dataset_version(&input.facets),
                self.state.run_inputs.get(&key),
            ) {
                (None, Some(v)) => v.clone(),
                _ => {
                    let v = self.resolve_input(input, at);
                    self.state.run_inputs.insert(key, v.clone());
                    v
                }
            };
            self.edge(&version_id, &run_id, "input", &run_id, at);
            resolved_inputs.push((input.namespace.clone(), input.name.clone(), version_id));
        }

        if let Some(p) = &preprocessing {
            for (i, step) in p.steps.iter().enumerate() {
                let row = TransformationRow {
                    run_id: run_id.clone(),
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

        if let Some(history) = metric_history {
            for point in history.points {
                let (value, timestamp) = metric_point(&point)?;
                let row = MetricRow {
                    run_id: run_id.clone(),
                    model_version_id: None,
                    dataset_version_id: None,
                    key: point.key,
                    value: Some(value),
                    step: point.step,
                    timestamp,
                };
                self.insert(MetricRow::NAME, row, |c| &mut c.metrics);
            }
        }

        // What a run produced exists once it completed; an OTHER event carries metadata about
        // a run (an experiment tracker's logged model) without saying it is still going.
        let produced = matches!(
            event_type,
            None | Some(EventType::Complete) | Some(EventType::Other)
        );
        if !produced {
            return Ok(());
        }
        // Column-lineage sources resolve before this event's outputs exist, so a dataset
        // rewritten in place points at its previous version, not at itself.
        let mut column_sources: Vec<Vec<(ColumnEdge, String)>> =
            Vec::with_capacity(event.outputs.len());
        for output in &event.outputs {
            let mut edges = Vec::new();
            for c in facets::column_lineage(&output.facets) {
                let input = resolved_inputs
                    .iter()
                    .find(|(ns, n, _)| *ns == c.input_namespace && *n == c.input_name);
                let src = match input {
                    Some((_, _, v)) => v.clone(),
                    None => {
                        let d = Dataset {
                            namespace: c.input_namespace.clone(),
                            name: c.input_name.clone(),
                            facets: Facets::new(),
                            io_facets: Facets::new(),
                        };
                        self.upsert_dataset(&d);
                        self.resolve_input(&d, at)
                    }
                };
                edges.push((c, src));
            }
            column_sources.push(edges);
        }
        for (output, edges) in event.outputs.iter().zip(column_sources) {
            self.upsert_dataset(output);
            let (version, origin) = match facets::dataset_version(&output.facets) {
                Some(v) => (v, "facet"),
                None => (run_uuid.to_string(), "run"),
            };
            let version_id = self.ensure_version(output, &version, origin, at, Some(&run_id));
            self.edge(&run_id, &version_id, "output", &run_id, at);
            for (c, src) in edges {
                let row = ColumnLineageRow {
                    src_dataset_version: src,
                    src_column: c.input_column,
                    dst_dataset_version: version_id.clone(),
                    dst_column: c.output_column,
                    transformation: c.transformation,
                    run_id: Some(run_id.clone()),
                };
                self.insert(ColumnLineageRow::NAME, row, |c| &mut c.column_lineage);
            }
        }

        if let Some(t) = training {
            let (model_version, _) =
                self.ensure_model(&t.model, &job.namespace, at, Some(&t), Some(&run_id));
            self.edge(&run_id, &model_version, "output", &run_id, at);
            self.metrics(
                &run_id,
                Some(&model_version),
                None,
                &t.metrics,
                at,
                "prov9_training.metrics",
            )?;
        }
        if let Some(ev) = evaluation {
            let (model_version, _) = self.ensure_model(&ev.model, &job.namespace, at, None, None);
            self.edge(&model_version, &run_id, "input", &run_id, at);
            let dataset_version = match &ev.dataset {
                Some(d) => {
                    let v = self.resolve_ref(d, at);
                    // The evaluation read it, whether or not the producer listed it as an input.
                    self.edge(&v, &run_id, "input", &run_id, at);
                    Some(v)
                }
                None if event.inputs.len() == 1 => Some(resolved_inputs[0].2.clone()),
                None => None,
            };
            self.metrics(
                &run_id,
                Some(&model_version),
                dataset_version.as_deref(),
                &ev.metrics,
                at,
                "prov9_evaluation.metrics",
            )?;
        }
        if let Some(d) = deployment {
            let (model_version, model_name) =
                self.ensure_model(&d.model, &job.namespace, at, None, None);
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
                run_id: Some(run_id.clone()),
            };
            self.insert(DeploymentRow::NAME, row, |c| &mut c.deployments);
            self.edge(&model_version, &deployment_id, "deployed", &run_id, at);
        }
        Ok(())
    }

    fn metrics(
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

    /// Add an insert-only row unless a row with its key is stored or pending.
    fn insert<R: Keyed>(
        &mut self,
        table: &'static str,
        row: R,
        list: fn(&mut Changes) -> &mut Vec<R>,
    ) {
        if self.state.insert_key(table, row.key()) {
            list(&mut self.changes).push(row);
        }
    }

    fn edge(&mut self, src: &str, dst: &str, edge_type: &str, run_id: &str, at: DateTime<Utc>) {
        let row = LineageEdgeRow {
            src: src.to_string(),
            dst: dst.to_string(),
            edge_type: edge_type.to_string(),
            run_id: Some(run_id.to_string()),
            event_time: at,
        };
        self.insert(LineageEdgeRow::NAME, row, |c| &mut c.lineage_edges);
    }

    fn upsert_job(&mut self, job: &Job, inferred_type: Option<&str>) -> Result<String, ModelError> {
        let job_id = ids::job_id(&job.namespace, &job.name);
        let explicit: Option<facets::JobFacet> =
            facets::custom(&job.facets, facets::JOB_FACET, "job.facets")?;
        let job_type = explicit
            .map(|f| f.job_type)
            .or(inferred_type.map(str::to_string))
            .unwrap_or_else(|| "other".into());
        let description = facets::description(&job.facets);
        let source_code_location = facets::source_code_location(&job.facets);
        let merged = match self.state.jobs.get(&job_id) {
            None => {
                self.changes.mark_created(JobRow::NAME, &job_id);
                JobRow {
                    job_id: job_id.clone(),
                    namespace: job.namespace.clone(),
                    name: job.name.clone(),
                    job_type,
                    description,
                    source_code_location,
                }
            }
            Some(old) => {
                // Merged by reference first: most events of a known job change nothing, and
                // nothing is copied then.
                let merged_type = if old.job_type == "other" {
                    &job_type
                } else {
                    &old.job_type
                };
                let description = description.as_ref().or(old.description.as_ref());
                let location = source_code_location
                    .as_ref()
                    .or(old.source_code_location.as_ref());
                if (merged_type, description, location)
                    == (
                        &old.job_type,
                        old.description.as_ref(),
                        old.source_code_location.as_ref(),
                    )
                {
                    return Ok(job_id);
                }
                JobRow {
                    job_type: merged_type.clone(),
                    description: description.cloned(),
                    source_code_location: location.cloned(),
                    ..old.clone()
                }
            }
        };
        self.state.jobs.insert(job_id.clone(), merged);
        mark_changed(&mut self.changed.jobs, &job_id);
        Ok(job_id)
    }

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
                }
            }
        };
        if self.state.runs.get(&merged.run_id) != Some(&merged) {
            mark_changed(&mut self.changed.runs, &merged.run_id);
            self.state.runs.insert(merged.run_id.clone(), merged);
        }
    }

    fn upsert_dataset(&mut self, d: &Dataset) -> String {
        let dataset_id = ids::dataset_id(&d.namespace, &d.name);
        let source_uri = facets::source_uri(&d.facets);
        let format = facets::format(&d.facets);
        let description = facets::description(&d.facets);
        let merged = match self.state.datasets.get(&dataset_id) {
            None => {
                self.changes.mark_created(DatasetRow::NAME, &dataset_id);
                DatasetRow {
                    dataset_id: dataset_id.clone(),
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                    source_uri,
                    format,
                    description,
                }
            }
            Some(old) => {
                // Every input and output of every event lands here and most change nothing:
                // merged by reference first, copied only when it differs.
                let source_uri = old.source_uri.as_ref().or(source_uri.as_ref());
                let format = old.format.as_ref().or(format.as_ref());
                let description = description.as_ref().or(old.description.as_ref());
                if (source_uri, format, description)
                    == (
                        old.source_uri.as_ref(),
                        old.format.as_ref(),
                        old.description.as_ref(),
                    )
                {
                    return dataset_id;
                }
                DatasetRow {
                    source_uri: source_uri.cloned(),
                    format: format.cloned(),
                    description: description.cloned(),
                    ..old.clone()
                }
            }
        };
        self.state.datasets.insert(dataset_id.clone(), merged);
        mark_changed(&mut self.changed.datasets, &dataset_id);
        dataset_id
    }

    /// The version an input refers to (creating it if it names one not seen yet).
    fn resolve_input(&mut self, d: &Dataset, at: DateTime<Utc>) -> String {
        match facets::dataset_version(&d.facets) {
            Some(v) => self.ensure_version(d, &v, "facet", at, None),
            None => {
                let dataset_id = ids::dataset_id(&d.namespace, &d.name);
                match self.state.latest_version(&dataset_id, at, false) {
                    Some(v) => v.to_string(),
                    None => self.ensure_version(d, ids::UNVERSIONED, "unversioned", at, None),
                }
            }
        }
    }

    fn resolve_ref(&mut self, r: &DatasetRef, at: DateTime<Utc>) -> String {
        let mut facets = Facets::new();
        if let Some(v) = &r.version {
            facets.insert("version".into(), serde_json::json!({ "datasetVersion": v }));
        }
        let d = Dataset {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            facets,
            io_facets: Facets::new(),
        };
        self.upsert_dataset(&d);
        self.resolve_input(&d, at)
    }

    /// Create or refine a dataset version; returns its id.
    fn ensure_version(
        &mut self,
        d: &Dataset,
        version: &str,
        origin: &str,
        at: DateTime<Utc>,
        run_id: Option<&str>,
    ) -> String {
        let dataset_id = ids::dataset_id(&d.namespace, &d.name);
        let version_id = ids::version_id(&dataset_id, version);
        let merged = match self.state.versions.get(&version_id) {
            None => {
                self.changes
                    .mark_created(DatasetVersionRow::NAME, &version_id);
                let previous_version_id = (origin != "unversioned")
                    .then(|| {
                        self.state
                            .latest_version(&dataset_id, at, true)
                            .map(str::to_string)
                    })
                    .flatten();
                self.state.add_version(&dataset_id, at, version_id.clone());
                DatasetVersionRow {
                    version_id: version_id.clone(),
                    dataset_id,
                    version: version.to_string(),
                    content_hash: None,
                    created_at: at,
                    created_by_run: run_id.map(str::to_string),
                    previous_version_id,
                    schema: facets::schema_fields(&d.facets),
                    row_count: facets::row_count(&d.io_facets),
                    byte_size: facets::byte_size(&d.io_facets),
                    quality: facets::quality(&d.io_facets, &d.facets),
                    version_origin: origin.to_string(),
                }
            }
            // A version first seen as an input is refined when its producer's output arrives:
            // what it lacks is taken from this event (and only that is read from the facets).
            Some(old) => {
                let created_by_run = if_missing(&old.created_by_run, || run_id.map(str::to_string));
                let schema = if_missing(&old.schema, || facets::schema_fields(&d.facets));
                let row_count = if_missing(&old.row_count, || facets::row_count(&d.io_facets));
                let byte_size = if_missing(&old.byte_size, || facets::byte_size(&d.io_facets));
                let quality = if_missing(&old.quality, || facets::quality(&d.io_facets, &d.facets));
                if created_by_run.is_none()
                    && schema.is_none()
                    && row_count.is_none()
                    && byte_size.is_none()
                    && quality.is_none()
                {
                    return version_id;
                }
                DatasetVersionRow {
                    created_by_run: old.created_by_run.clone().or(created_by_run),
                    schema: old.schema.clone().or(schema),
                    row_count: old.row_count.or(row_count),
                    byte_size: old.byte_size.or(byte_size),
                    quality: old.quality.clone().or(quality),
                    ..old.clone()
                }
            }
        };
        self.state.versions.insert(version_id.clone(), merged);
        mark_changed(&mut self.changed.versions, &version_id);
        version_id
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

/// A value the stored row lacks, read from the event (only then).
fn if_missing<T>(stored: &Option<T>, read: impl FnOnce() -> Option<T>) -> Option<T> {
    if stored.is_none() { read() } else { None }
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

/// At equal times, START before RUNNING before terminal events.
fn type_rank(e: &Event) -> u8 {
    match &e.kind {
        EventKind::Run {
            event_type: Some(EventType::Start),
            ..
        } => 0,
        EventKind::Run {
            event_type: Some(EventType::Running),
            ..
        } => 1,
        EventKind::Run { .. } => 2,
        _ => 0,
    }
}

fn strip_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !k.starts_with('_'));
    }
    v
}

/// A `prov9_metrics` point's value and time, or the field at fault.
fn metric_point(point: &facets::MetricPoint) -> Result<(f64, DateTime<Utc>), ModelError> {
    let path = format!("run.facets.{}.points", facets::METRICS_FACET);
    let value = facets::metric_value(&point.value).ok_or_else(|| {
        ModelError::field(format!("{path}.{}.value", point.key), "expected a number")
    })?;
    let timestamp = prov9_model::openlineage::parse_time(&point.timestamp).ok_or_else(|| {
        ModelError::field(
            format!("{path}.{}.timestamp", point.key),
            "not an ISO 8601 timestamp",
        )
    })?;
    Ok((value, timestamp))
}

/// Check everything about an event that normalisation would otherwise fail on (prov9's custom
/// facets and their metric values), so that a bad event is rejected whole, before any of it is
/// applied.
pub fn validate(event: &Event) -> Result<(), ModelError> {
    let (run, job) = match &event.kind {
        EventKind::Run { run, job, .. } => (Some(run), job),
        EventKind::Job { job } => (None, job),
        EventKind::Dataset { .. } => return Ok(()),
    };
    if let Some(f) =
        facets::custom::<facets::JobFacet>(&job.facets, facets::JOB_FACET, "job.facets")?
        && !facets::JOB_TYPES.contains(&f.job_type.as_str())
    {
        return Err(ModelError::field(
            format!("job.facets.{}.jobType", facets::JOB_FACET),
            format!(
                "{:?} is not one of {}",
                f.job_type,
                facets::JOB_TYPES.join(", ")
            ),
        ));
    }
    let Some(run) = run else { return Ok(()) };
    let path = "run.facets";
    let _: Option<facets::RunFacet> = facets::custom(&run.facets, facets::RUN_FACET, path)?;
    let _: Option<facets::PreprocessingFacet> =
        facets::custom(&run.facets, facets::PREPROCESSING_FACET, path)?;
    let _: Option<facets::DeploymentFacet> =
        facets::custom(&run.facets, facets::DEPLOYMENT_FACET, path)?;
    if let Some(history) =
        facets::custom::<facets::MetricsFacet>(&run.facets, facets::METRICS_FACET, path)?
    {
        for point in &history.points {
            metric_point(point)?;
        }
    }
    let check = |metrics: &Map<String, Value>, facet: &str| {
        for (key, value) in metrics {
            if facets::metric_value(value).is_none() {
                return Err(ModelError::field(
                    format!("{path}.{facet}.metrics.{key}"),
                    "expected a number",
                ));
            }
        }
        Ok(())
    };
    if let Some(t) =
        facets::custom::<facets::TrainingFacet>(&run.facets, facets::TRAINING_FACET, path)?
    {
        check(&t.metrics, facets::TRAINING_FACET)?;
    }
    if let Some(e) =
        facets::custom::<facets::EvaluationFacet>(&run.facets, facets::EVALUATION_FACET, path)?
    {
        check(&e.metrics, facets::EVALUATION_FACET)?;
    }
    Ok(())
}
