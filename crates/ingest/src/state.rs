//! What normalisation needs to know about the rows already stored.

use chrono::{DateTime, Utc};
// Ids are hashed with foldhash, not SipHash: the state is private to the process, and SipHash
// was 3% of a bulk load's CPU (perf, SF 1).
use foldhash::HashMap;
use prov9_model::tables::*;
use prov9_store::Warehouse;

use crate::IngestError;
use crate::keys::{DigestSet, KeyDigest, Keyed, digest};

/// The warehouse's contents as far as ingest is concerned; kept in step with every commit.
#[derive(Debug, Default)]
pub struct WarehouseState {
    /// Key digests of the insert-only tables (`events`, `lineage_edges`, `metrics`, …).
    pub(crate) keys: HashMap<&'static str, DigestSet>,
    /// The mutable tables, whole: later events refine these rows.
    pub(crate) jobs: HashMap<String, JobRow>,
    pub(crate) runs: HashMap<String, RunRow>,
    pub(crate) datasets: HashMap<String, DatasetRow>,
    pub(crate) versions: HashMap<String, DatasetVersionRow>,
    pub(crate) models: HashMap<String, ModelVersionRow>,
    /// (run id, dataset id) -> the version the run read, and the time of the event that first
    /// named it: an input resolves once per run, so a run's START and COMPLETE cannot link it to
    /// two versions (unless the first found none, see `link_inputs`).
    pub(crate) run_inputs: HashMap<(String, String), (String, DateTime<Utc>)>,
    /// Per dataset id: (created_at, version_id), sorted by time.
    pub(crate) versions_by_dataset: HashMap<String, Vec<(DateTime<Utc>, String)>>,
}

impl WarehouseState {
    /// The state of an empty warehouse.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Read the state of a warehouse.
    pub async fn load(warehouse: &Warehouse) -> Result<Self, IngestError> {
        let mut state = Self::empty();
        let corrupt = |table: &str, e: prov9_model::ModelError| IngestError::CorruptTable {
            table: table.into(),
            reason: e.to_string(),
        };

        // events: only the id column, payloads can be large.
        let ids = state.keys.entry(EventRow::NAME).or_default();
        for batch in warehouse.read(EventRow::NAME, &["event_id"]).await? {
            let col = batch.column(0);
            for i in 0..batch.num_rows() {
                let id = <String as prov9_model::column::ColumnValue>::read(col.as_ref(), i)
                    .unwrap_or_default();
                ids.insert(digest(&[&id]));
            }
        }
        macro_rules! keys_of {
            ($row:ty) => {
                for batch in warehouse.read(<$row>::NAME, &[]).await? {
                    let rows = <$row>::from_batch(&batch).map_err(|e| corrupt(<$row>::NAME, e))?;
                    state
                        .keys
                        .entry(<$row>::NAME)
                        .or_default()
                        .extend(rows.iter().map(Keyed::key));
                }
            };
        }
        keys_of!(TransformationRow);
        keys_of!(MetricRow);
        keys_of!(DeploymentRow);
        keys_of!(ColumnLineageRow);
        keys_of!(QualityCheckRow);

        macro_rules! rows_of {
            ($row:ty, $map:ident, $id:ident) => {
                for batch in warehouse.read(<$row>::NAME, &[]).await? {
                    for row in <$row>::from_batch(&batch).map_err(|e| corrupt(<$row>::NAME, e))? {
                        state.$map.insert(row.$id.clone(), row);
                    }
                }
            };
        }
        rows_of!(JobRow, jobs, job_id);
        rows_of!(RunRow, runs, run_id);
        rows_of!(DatasetRow, datasets, dataset_id);
        rows_of!(DatasetVersionRow, versions, version_id);
        rows_of!(ModelVersionRow, models, version_id);
        for batch in warehouse.read(LineageEdgeRow::NAME, &[]).await? {
            for edge in
                LineageEdgeRow::from_batch(&batch).map_err(|e| corrupt(LineageEdgeRow::NAME, e))?
            {
                state
                    .keys
                    .entry(LineageEdgeRow::NAME)
                    .or_default()
                    .insert(edge.key());
                if edge.edge_type == "input"
                    && let Some(version) = state.versions.get(&edge.src)
                {
                    // A run re-linked from its dataset's `unversioned` node to a version that
                    // arrived late has both edges: the version is the one it read.
                    let key = (edge.dst.clone(), version.dataset_id.clone());
                    let unversioned = version.version_origin == "unversioned";
                    if !(unversioned && state.run_inputs.contains_key(&key)) {
                        state
                            .run_inputs
                            .insert(key, (edge.src.clone(), edge.event_time));
                    }
                }
            }
        }
        let versions: Vec<(String, DateTime<Utc>, String)> = state
            .versions
            .values()
            .map(|v| (v.dataset_id.clone(), v.created_at, v.version_id.clone()))
            .collect();
        for (dataset, at, id) in versions {
            state.add_version(&dataset, at, id);
        }
        Ok(state)
    }

    /// Remember a row key; false if it was already known.
    pub(crate) fn insert_key(&mut self, table: &'static str, key: KeyDigest) -> bool {
        self.keys.entry(table).or_default().insert(key)
    }

    pub(crate) fn has_event(&self, event_id: &str) -> bool {
        self.keys
            .get(EventRow::NAME)
            .is_some_and(|k| k.contains(&digest(&[event_id])))
    }

    pub(crate) fn add_version(
        &mut self,
        dataset_id: &str,
        created_at: DateTime<Utc>,
        version_id: String,
    ) {
        let list = self
            .versions_by_dataset
            .entry(dataset_id.to_string())
            .or_default();
        let at =
            list.partition_point(|(t, id)| (*t, id.as_str()) <= (created_at, version_id.as_str()));
        list.insert(at, (created_at, version_id));
    }

    /// The newest version of a dataset created at or before `at`, ignoring the unversioned node.
    pub(crate) fn latest_version(
        &self,
        dataset_id: &str,
        at: DateTime<Utc>,
        before_strictly: bool,
    ) -> Option<&str> {
        let list = self.versions_by_dataset.get(dataset_id)?;
        list.iter()
            .rev()
            .filter(|(t, _)| if before_strictly { *t < at } else { *t <= at })
            .find(|(_, id)| {
                self.versions
                    .get(id)
                    .is_some_and(|v| v.version_origin != "unversioned")
            })
            .map(|(_, id)| id.as_str())
    }
}
