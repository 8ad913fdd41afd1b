//! `jobs` rows: created on first sight, then merged. A job's type is the first one seen other
//! than `other`: its job facet's, else the one its run's facets imply.

use prov9_model::ModelError;
use prov9_model::facets;
use prov9_model::ids;
use prov9_model::openlineage::Job;
use prov9_model::tables::JobRow;

use super::Normalizer;
use super::changed::mark_changed;

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
}
