//! OpenLineage events (spec 2-0-2): RunEvent, DatasetEvent and JobEvent.
//!
//! Events are read from a `serde_json::Value` by hand rather than by `#[derive(Deserialize)]` so
//! that every error names the JSON path of the offending field (`run.runId: expected a string`)
//! and so that unknown fields and facets are simply carried along.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::ModelError;

/// The facets of an entity: facet name -> facet object, unknown ones kept verbatim.
pub type Facets = Map<String, Value>;

/// The `eventType` of a RunEvent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    Start,
    Running,
    Complete,
    Abort,
    Fail,
    Other,
}

impl EventType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "START" => EventType::Start,
            "RUNNING" => EventType::Running,
            "COMPLETE" => EventType::Complete,
            "ABORT" => EventType::Abort,
            "FAIL" => EventType::Fail,
            "OTHER" => EventType::Other,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Running => "RUNNING",
            EventType::Complete => "COMPLETE",
            EventType::Abort => "ABORT",
            EventType::Fail => "FAIL",
            EventType::Other => "OTHER",
        }
    }

    /// COMPLETE, FAIL and ABORT end a run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventType::Complete | EventType::Fail | EventType::Abort
        )
    }
}

/// A job reference with its facets.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub namespace: String,
    pub name: String,
    pub facets: Facets,
}

/// A run reference with its facets.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub run_id: String,
    pub facets: Facets,
}

/// An input or output dataset of an event, or the subject of a DatasetEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub namespace: String,
    pub name: String,
    pub facets: Facets,
    /// `inputFacets` or `outputFacets` (statistics, quality metrics).
    pub io_facets: Facets,
}

/// What kind of OpenLineage event this is.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Run {
        event_type: Option<EventType>,
        run: Run,
        job: Job,
    },
    Dataset {
        dataset: Dataset,
    },
    Job {
        job: Job,
    },
}

/// One OpenLineage event, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_time: DateTime<Utc>,
    pub producer: String,
    pub kind: EventKind,
    pub inputs: Vec<Dataset>,
    pub outputs: Vec<Dataset>,
}

impl Event {
    /// Parse an event from JSON, naming the field at fault on error.
    pub fn from_json(value: &Value) -> Result<Self, ModelError> {
        let obj = value
            .as_object()
            .ok_or_else(|| ModelError::field("$", "an OpenLineage event must be a JSON object"))?;
        let event_time = parse_time(required_str(obj, "eventTime", "eventTime")?)
            .ok_or_else(|| ModelError::field("eventTime", "not an ISO 8601 timestamp"))?;
        let producer = optional_str(obj, "producer", "producer")?
            .unwrap_or_default()
            .to_string();
        let inputs = datasets(obj, "inputs", "inputFacets")?;
        let outputs = datasets(obj, "outputs", "outputFacets")?;
        let kind = if let Some(run) = obj.get("run") {
            let run_obj = run
                .as_object()
                .ok_or_else(|| ModelError::field("run", "expected an object"))?;
            let run_id = required_str(run_obj, "runId", "run.runId")?.to_string();
            if run_id.is_empty() {
                return Err(ModelError::field("run.runId", "must not be empty"));
            }
            let job = job(obj.get("job"), "job")?
                .ok_or_else(|| ModelError::field("job", "a RunEvent needs a job"))?;
            let event_type = match optional_str(obj, "eventType", "eventType")? {
                None => None,
                Some(t) => Some(EventType::parse(t).ok_or_else(|| {
                    ModelError::field(
                        "eventType",
                        format!("unknown event type {t:?} (START, RUNNING, COMPLETE, ABORT, FAIL, OTHER)"),
                    )
                })?),
            };
            EventKind::Run {
                event_type,
                run: Run {
                    run_id,
                    facets: facets(run_obj, "facets", "run.facets")?,
                },
                job,
            }
        } else if let Some(dataset) = obj.get("dataset") {
            EventKind::Dataset {
                dataset: parse_dataset(dataset, "dataset", "inputFacets")?,
            }
        } else if let Some(job) = job(obj.get("job"), "job")? {
            EventKind::Job { job }
        } else {
            return Err(ModelError::field(
                "$",
                "not an OpenLineage event: expected `run` (RunEvent), `dataset` (DatasetEvent) or `job` (JobEvent)",
            ));
        };
        Ok(Event {
            event_time,
            producer,
            kind,
            inputs,
            outputs,
        })
    }

    /// The run id of a RunEvent.
    pub fn run_id(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Run { run, .. } => Some(&run.run_id),
            _ => None,
        }
    }

    /// `RUN`, `DATASET` or `JOB` plus the event type of run events, as stored in `events.event_type`.
    pub fn type_label(&self) -> String {
        match &self.kind {
            EventKind::Run {
                event_type: Some(t),
                ..
            } => t.as_str().to_string(),
            EventKind::Run {
                event_type: None, ..
            } => "RUN".to_string(),
            EventKind::Dataset { .. } => "DATASET".to_string(),
            EventKind::Job { .. } => "JOB".to_string(),
        }
    }
}

/// Parse an ISO 8601 / RFC 3339 timestamp; one without a zone is taken as UTC.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ModelError> {
    optional_str(obj, key, path)?.ok_or_else(|| ModelError::field(path, "missing"))
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ModelError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ModelError::field(path, "expected a string")),
    }
}

fn facets(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Facets, ModelError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Facets::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ModelError::field(path, "expected an object of facets")),
    }
}

fn job(value: Option<&Value>, path: &str) -> Result<Option<Job>, ModelError> {
    let Some(value) = value else { return Ok(None) };
    let obj = value
        .as_object()
        .ok_or_else(|| ModelError::field(path, "expected an object"))?;
    Ok(Some(Job {
        namespace: required_str(obj, "namespace", &format!("{path}.namespace"))?.to_string(),
        name: required_str(obj, "name", &format!("{path}.name"))?.to_string(),
        facets: facets(obj, "facets", &format!("{path}.facets"))?,
    }))
}

fn parse_dataset(value: &Value, path: &str, io_key: &str) -> Result<Dataset, ModelError> {
    let obj = value
        .as_object()
        .ok_or_else(|| ModelError::field(path, "expected an object"))?;
    Ok(Dataset {
        namespace: required_str(obj, "namespace", &format!("{path}.namespace"))?.to_string(),
        name: required_str(obj, "name", &format!("{path}.name"))?.to_string(),
        facets: facets(obj, "facets", &format!("{path}.facets"))?,
        io_facets: facets(obj, io_key, &format!("{path}.{io_key}"))?,
    })
}

fn datasets(obj: &Map<String, Value>, key: &str, io_key: &str) -> Result<Vec<Dataset>, ModelError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| parse_dataset(d, &format!("{key}[{i}]"), io_key))
            .collect(),
        Some(_) => Err(ModelError::field(key, "expected an array of datasets")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_run_event_and_keeps_unknown_facets() {
        let v = json!({
            "eventType": "COMPLETE", "eventTime": "2024-03-01T10:00:00.123456+01:00",
            "producer": "p", "schemaURL": "x", "somethingNew": 1,
            "run": {"runId": "r1", "facets": {"custom_x": {"a": 1}}},
            "job": {"namespace": "ns", "name": "j"},
            "inputs": [{"namespace": "s3://b", "name": "raw", "facets": {}}],
            "outputs": [{"namespace": "s3://b", "name": "clean", "outputFacets": {"outputStatistics": {"rowCount": 5}}}]
        });
        let e = Event::from_json(&v).unwrap();
        assert_eq!(
            e.event_time.to_rfc3339(),
            "2024-03-01T09:00:00.123456+00:00"
        );
        assert_eq!(e.run_id(), Some("r1"));
        assert_eq!(e.type_label(), "COMPLETE");
        assert_eq!(e.inputs.len(), 1);
        assert_eq!(e.outputs[0].io_facets["outputStatistics"]["rowCount"], 5);
        match e.kind {
            EventKind::Run { run, .. } => assert!(run.facets.contains_key("custom_x")),
            other => panic!("wrong kind {other:?}"),
        }
    }

    #[test]
    fn dataset_and_job_events() {
        let d = Event::from_json(&json!({"eventTime": "2024-03-01T10:00:00Z", "dataset": {"namespace": "n", "name": "d"}})).unwrap();
        assert_eq!(d.type_label(), "DATASET");
        let j = Event::from_json(
            &json!({"eventTime": "2024-03-01 10:00:00", "job": {"namespace": "n", "name": "j"}}),
        )
        .unwrap();
        assert_eq!(j.type_label(), "JOB");
    }

    #[test]
    fn errors_name_the_field() {
        let err = |v: Value| Event::from_json(&v).unwrap_err().to_string();
        assert_eq!(
            err(
                json!({"eventTime": "2024-03-01T10:00:00Z", "run": {"runId": 7}, "job": {"namespace": "n", "name": "j"}})
            ),
            "run.runId: expected a string"
        );
        assert_eq!(
            err(json!({"eventTime": "yesterday", "job": {"namespace": "n", "name": "j"}})),
            "eventTime: not an ISO 8601 timestamp"
        );
        assert_eq!(
            err(
                json!({"eventTime": "2024-03-01T10:00:00Z", "run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}, "outputs": [{"namespace": "n"}]})
            ),
            "outputs[0].name: missing"
        );
        assert_eq!(err(json!({"eventTime": "2024-03-01T10:00:00Z", "eventType": "DONE", "run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}})).split(' ').next(), Some("eventType:"));
        assert!(err(json!([1])).starts_with("$:"));
    }
}
