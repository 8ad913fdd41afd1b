//! The checks an event passes before it is normalised: prov9's custom facets must deserialise
//! and their metric values be numbers, so that normalisation never fails half-way through one.

use chrono::{DateTime, Utc};
use prov9_model::ModelError;
use prov9_model::facets;
use prov9_model::openlineage::{Event, EventKind};
use serde_json::{Map, Value};

/// A `prov9_metrics` point's value and time, or the field at fault.
pub(super) fn metric_point(
    point: &facets::MetricPoint,
) -> Result<(f64, DateTime<Utc>), ModelError> {
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
