//! `jobs` rows: created on first sight, then merged. A job's type is the first one seen other
//! than `other`: its job facet's, else the one its run's facets imply. The standard facets'
//! values (jobType, ownership, tags, sql, sourceCode, …) are those of the last event received
//! that sends them (a job has no time of its own to order them by).

use prov9_model::ModelError;
use prov9_model::facets;
use prov9_model::ids;
use prov9_model::openlineage::Job;
use prov9_model::tables::JobRow;

use super::Normalizer;
use super::changed::{mark_changed, sends_news, take_fields};

impl Normalizer<'_> {
    pub(super) fn upsert_job(
        &mut self,
        job: &Job,
        inferred_type: Option<&str>,
    ) -> Result<String, ModelError> {
        let job_id = ids::job_id(&job.namespace, &job.name);
        let explicit: Option<facets::JobFacet> =
            facets::custom(&job.facets, facets::JOB_FACET, "job.facets")?;
        let job_type = explicit
            .map(|f| f.job_type)
            .or(inferred_type.map(str::to_string))
            .unwrap_or_else(|| "other".into());
        let seen = job_row(job_id.clone(), job, job_type);
        let merged = match self.state.jobs.get(&job_id) {
            None => {
                self.changes.mark_created(JobRow::NAME, &job_id);
                seen
            }
            Some(old) => {
                let mut merged = None;
                if old.job_type == "other" && seen.job_type != "other" {
                    merged.get_or_insert_with(|| old.clone()).job_type = seen.job_type;
                }
                take_fields!(merged, old, seen, sends_news;
                    description, source_code_location, processing_type, integration,
                    integration_job_type, owners, tags, sql, source_code_language, source_code);
                match merged {
                    Some(row) => row,
                    None => return Ok(job_id),
                }
            }
        };
        self.state.jobs.insert(job_id.clone(), merged);
        mark_changed(&mut self.changed.jobs, &job_id);
        Ok(job_id)
    }
}

/// The `jobs` row as one event's job facets describe it.
fn job_row(job_id: String, job: &Job, job_type: String) -> JobRow {
    let f = &job.facets;
    JobRow {
        job_id,
        namespace: job.namespace.clone(),
        name: job.name.clone(),
        job_type,
        description: facets::description(f),
        source_code_location: facets::source_code_location(f),
        processing_type: facets::processing_type(f),
        integration: facets::integration(f),
        integration_job_type: facets::integration_job_type(f),
        owners: facets::owners(f),
        tags: facets::tags(f),
        sql: facets::sql(f),
        source_code_language: facets::source_code_language(f),
        source_code: facets::source_code(f),
    }
}
