//! The bundled demo: a two-day churn-model pipeline (see `demo/generate.py`).

use crate::RawEvent;

/// The demo's OpenLineage events, one per line.
pub const PIPELINE_NDJSON: &str = include_str!("../demo/pipeline.ndjson");

/// The demo's events, each tagged `demo:<line>`.
pub fn events() -> impl Iterator<Item = RawEvent> {
    PIPELINE_NDJSON
        .lines()
        .enumerate()
        .map(|(i, line)| RawEvent {
            text: line.to_string(),
            source: format!("demo:{}", i + 1),
        })
}
