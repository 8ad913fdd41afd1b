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
//!   -> evaluation run, run -> trained model version, model version -> deployment, and parent
//!   run -> child run (the `parent` facet: an Airflow task's query runs under the task run);
//! * a run's outputs are recorded as datasets from its first event, but get a version only when
//!   the run completes (a failed run wrote nothing prov9 can point at).
//!
//! This file holds the [`Normalizer`] and its entry points (a batch in, [`Changes`] out, each
//! event dispatched by kind and recorded in `events`). The other files each add the methods of
//! one table family; they only call files further down this list:
//! * `runs` — a run event: its custom facets, its `runs` row and transformations, then the rest;
//! * `models` — model versions, metrics and deployments;
//! * `lineage` — lineage edges: a run's inputs, its outputs and their column lineage;
//! * `jobs` — `jobs` rows;
//! * `quality` — `quality_checks` rows from `dataQualityAssertions`;
//! * `datasets` — `datasets` and `dataset_versions` rows, and the version an input refers to;
//! * `changed` — the bookkeeping of new and changed rows every family uses;
//! * `validate` — what a bad event is rejected for before any of it is applied.

mod changed;
mod datasets;
mod jobs;
mod lineage;
mod models;
mod quality;
mod runs;
mod validate;

use chrono::{DateTime, Utc};
use prov9_model::ModelError;
use prov9_model::facets;
use prov9_model::ids;
use prov9_model::openlineage::{Event, EventKind, EventType};
use prov9_model::tables::EventRow;

use crate::changes::Changes;
use crate::state::WarehouseState;
use changed::{ChangedIds, rows_of};

pub(crate) use validate::validate;

/// One event ready to normalise: parsed, with its verbatim text, id and origin.
#[derive(Debug, Clone)]
pub struct ParsedEvent {
    pub event: Event,
    pub event_id: String,
    pub payload: String,
    pub source: String,
}

impl ParsedEvent {
    /// Parse an event's text; `source` says where it came from (`http:2`, `FILE:LINE`).
    pub fn parse(text: String, source: String) -> Result<Self, String> {
        let (event, event_id) = crate::lines::parse_event(&text)?;
        Ok(ParsedEvent {
            event,
            event_id,
            payload: text,
            source,
        })
    }
}

/// Turns events into [`Changes`], keeping a [`WarehouseState`] current.
pub struct Normalizer<'a> {
    state: &'a mut WarehouseState,
    changes: Changes,
    changed: ChangedIds,
    now: DateTime<Utc>,
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
