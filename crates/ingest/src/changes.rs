//! The rows one batch of events adds, and how they are committed.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use foldhash::{HashMap, HashSet};
use prov9_model::tables::*;
use prov9_store::Warehouse;

use crate::IngestError;

/// New and changed rows per table, produced by the [`Normalizer`](crate::Normalizer).
#[derive(Debug, Default)]
pub struct Changes {
    pub events: Vec<EventRow>,
    pub jobs: BTreeMap<String, JobRow>,
    pub runs: BTreeMap<String, RunRow>,
    pub datasets: BTreeMap<String, DatasetRow>,
    pub dataset_versions: BTreeMap<String, DatasetVersionRow>,
    pub transformations: Vec<TransformationRow>,
    pub model_versions: BTreeMap<String, ModelVersionRow>,
    pub metrics: Vec<MetricRow>,
    pub deployments: Vec<DeploymentRow>,
    pub lineage_edges: Vec<LineageEdgeRow>,
    pub column_lineage: Vec<ColumnLineageRow>,
    pub quality_checks: Vec<QualityCheckRow>,
    /// Per table, the ids of mutable rows first created by this batch (the others update stored
    /// rows).
    pub(crate) created: HashMap<&'static str, HashSet<String>>,
    /// The oldest `updated_at` of the stored runs this batch updates, as stored: a MERGE of
    /// `runs` needs to read only files holding rows updated since (a bulk load's runs are
    /// completed a batch after they start: the last file or two, not the whole table).
    pub(crate) oldest_stored_run: OldestUpdate,
}

/// The oldest `updated_at` among some stored rows.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) enum OldestUpdate {
    #[default]
    NoRows,
    At(DateTime<Utc>),
    /// A row without one: no bound.
    Unknown,
}

/// Rows added per table (updates of existing rows are not counted).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RowCounts(pub BTreeMap<&'static str, usize>);

impl RowCounts {
    pub fn get(&self, table: &str) -> usize {
        self.0.get(table).copied().unwrap_or(0)
    }

    pub fn add(&mut self, other: &RowCounts) {
        for (t, n) in &other.0 {
            *self.0.entry(t).or_default() += n;
        }
    }

    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Per table, as a warehouse commit records them.
    pub fn by_table(&self) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| (t.to_string(), *n as u64))
            .collect()
    }
}

impl std::fmt::Display for RowCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| format!("{t} +{n}"))
            .collect();
        if parts.is_empty() {
            write!(f, "no new rows")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Take in the changes of a later batch normalised after this one: its rows of the mutable
    /// tables replace these, the others add up. Committing the sum equals committing both.
    pub(crate) fn absorb(&mut self, later: Changes) {
        self.events.extend(later.events);
        self.jobs.extend(later.jobs);
        self.runs.extend(later.runs);
        self.datasets.extend(later.datasets);
        self.dataset_versions.extend(later.dataset_versions);
        self.transformations.extend(later.transformations);
        self.model_versions.extend(later.model_versions);
        self.metrics.extend(later.metrics);
        self.deployments.extend(later.deployments);
        self.lineage_edges.extend(later.lineage_edges);
        self.column_lineage.extend(later.column_lineage);
        self.quality_checks.extend(later.quality_checks);
        for (table, ids) in later.created {
            self.created.entry(table).or_default().extend(ids);
        }
        self.oldest_stored_run = match (self.oldest_stored_run, later.oldest_stored_run) {
            (OldestUpdate::Unknown, _) | (_, OldestUpdate::Unknown) => OldestUpdate::Unknown,
            (OldestUpdate::NoRows, other) | (other, OldestUpdate::NoRows) => other,
            (OldestUpdate::At(a), OldestUpdate::At(b)) => OldestUpdate::At(a.min(b)),
        };
    }

    /// The rows as Arrow batches, per table (tables without rows left out): what queries see of
    /// changes not committed yet (the live tail).
    pub fn batches(&self) -> Vec<(&'static str, arrow::record_batch::RecordBatch)> {
        fn values<R: Clone>(rows: &BTreeMap<String, R>) -> Vec<R> {
            rows.values().cloned().collect()
        }
        let mut out = Vec::new();
        let mut add = |table: &'static str,
                       rows: usize,
                       batch: &dyn Fn() -> arrow::record_batch::RecordBatch| {
            if rows > 0 {
                out.push((table, batch()));
            }
        };
        add(EventRow::NAME, self.events.len(), &|| {
            EventRow::to_batch(&self.events)
        });
        add(JobRow::NAME, self.jobs.len(), &|| {
            JobRow::to_batch(&values(&self.jobs))
        });
        add(RunRow::NAME, self.runs.len(), &|| {
            RunRow::to_batch(&values(&self.runs))
        });
        add(DatasetRow::NAME, self.datasets.len(), &|| {
            DatasetRow::to_batch(&values(&self.datasets))
        });
        add(
            DatasetVersionRow::NAME,
            self.dataset_versions.len(),
            &|| DatasetVersionRow::to_batch(&values(&self.dataset_versions)),
        );
        add(TransformationRow::NAME, self.transformations.len(), &|| {
            TransformationRow::to_batch(&self.transformations)
        });
        add(ModelVersionRow::NAME, self.model_versions.len(), &|| {
            ModelVersionRow::to_batch(&values(&self.model_versions))
        });
        add(MetricRow::NAME, self.metrics.len(), &|| {
            MetricRow::to_batch(&self.metrics)
        });
        add(DeploymentRow::NAME, self.deployments.len(), &|| {
            DeploymentRow::to_batch(&self.deployments)
        });
        add(LineageEdgeRow::NAME, self.lineage_edges.len(), &|| {
            LineageEdgeRow::to_batch(&self.lineage_edges)
        });
        add(ColumnLineageRow::NAME, self.column_lineage.len(), &|| {
            ColumnLineageRow::to_batch(&self.column_lineage)
        });
        add(QualityCheckRow::NAME, self.quality_checks.len(), &|| {
            QualityCheckRow::to_batch(&self.quality_checks)
        });
        out
    }

    pub(crate) fn mark_created(&mut self, table: &'static str, id: &str) {
        self.created
            .entry(table)
            .or_default()
            .insert(id.to_string());
    }

    /// A stored run (not one created by this batch) is updated by this batch; `updated_at` is
    /// its stored value.
    pub(crate) fn update_stored_run(&mut self, updated_at: Option<DateTime<Utc>>) {
        self.oldest_stored_run = match (self.oldest_stored_run, updated_at) {
            (OldestUpdate::Unknown, _) | (_, None) => OldestUpdate::Unknown,
            (OldestUpdate::NoRows, Some(t)) => OldestUpdate::At(t),
            (OldestUpdate::At(oldest), Some(t)) => OldestUpdate::At(oldest.min(t)),
        };
    }

    pub(crate) fn is_created(&self, table: &str, id: &str) -> bool {
        self.created.get(table).is_some_and(|ids| ids.contains(id))
    }

    /// Rows this batch adds, per table.
    pub fn added(&self) -> RowCounts {
        let new = |table: &'static str, ids: &mut dyn Iterator<Item = &String>| {
            ids.filter(|id| self.is_created(table, id)).count()
        };
        let mut c = BTreeMap::new();
        c.insert(EventRow::NAME, self.events.len());
        c.insert(JobRow::NAME, new(JobRow::NAME, &mut self.jobs.keys()));
        c.insert(RunRow::NAME, new(RunRow::NAME, &mut self.runs.keys()));
        c.insert(
            DatasetRow::NAME,
            new(DatasetRow::NAME, &mut self.datasets.keys()),
        );
        c.insert(
            DatasetVersionRow::NAME,
            new(DatasetVersionRow::NAME, &mut self.dataset_versions.keys()),
        );
        c.insert(TransformationRow::NAME, self.transformations.len());
        c.insert(
            ModelVersionRow::NAME,
            new(ModelVersionRow::NAME, &mut self.model_versions.keys()),
        );
        c.insert(MetricRow::NAME, self.metrics.len());
        c.insert(DeploymentRow::NAME, self.deployments.len());
        c.insert(LineageEdgeRow::NAME, self.lineage_edges.len());
        c.insert(ColumnLineageRow::NAME, self.column_lineage.len());
        c.insert(QualityCheckRow::NAME, self.quality_checks.len());
        RowCounts(c)
    }

    /// Write every table, one commit each, `events` last (see the crate docs for why). The other
    /// tables do not depend on each other: they commit concurrently, so their Parquet encoding
    /// (on the runtime's workers) uses every core.
    pub async fn commit(&self, warehouse: &Warehouse) -> Result<RowCounts, IngestError> {
        let added = self.added();
        let stored_runs = self.stored_runs_filter();
        futures::try_join!(
            self.commit_mutable(
                warehouse,
                JobRow::NAME,
                &self.jobs,
                "job_id",
                None,
                JobRow::to_batch,
            ),
            self.commit_mutable(
                warehouse,
                RunRow::NAME,
                &self.runs,
                "run_id",
                stored_runs.as_deref(),
                RunRow::to_batch,
            ),
            self.commit_mutable(
                warehouse,
                DatasetRow::NAME,
                &self.datasets,
                "dataset_id",
                None,
                DatasetRow::to_batch,
            ),
            self.commit_mutable(
                warehouse,
                DatasetVersionRow::NAME,
                &self.dataset_versions,
                "version_id",
                None,
                DatasetVersionRow::to_batch,
            ),
            append(
                warehouse,
                TransformationRow::NAME,
                &self.transformations,
                TransformationRow::to_batch,
            ),
            self.commit_mutable(
                warehouse,
                ModelVersionRow::NAME,
                &self.model_versions,
                "version_id",
                None,
                ModelVersionRow::to_batch,
            ),
            append(
                warehouse,
                MetricRow::NAME,
                &self.metrics,
                MetricRow::to_batch
            ),
            append(
                warehouse,
                DeploymentRow::NAME,
                &self.deployments,
                DeploymentRow::to_batch,
            ),
            append(
                warehouse,
                LineageEdgeRow::NAME,
                &self.lineage_edges,
                LineageEdgeRow::to_batch,
            ),
            append(
                warehouse,
                ColumnLineageRow::NAME,
                &self.column_lineage,
                ColumnLineageRow::to_batch,
            ),
            append(
                warehouse,
                QualityCheckRow::NAME,
                &self.quality_checks,
                QualityCheckRow::to_batch,
            ),
        )?;
        append(warehouse, EventRow::NAME, &self.events, EventRow::to_batch).await?;
        Ok(added)
    }

    /// What every stored run this batch updates meets, as SQL over the stored rows.
    fn stored_runs_filter(&self) -> Option<String> {
        match self.oldest_stored_run {
            OldestUpdate::At(t) => Some(format!(
                "target.updated_at >= '{}'",
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            )),
            OldestUpdate::NoRows | OldestUpdate::Unknown => None,
        }
    }

    async fn commit_mutable<R: Clone>(
        &self,
        warehouse: &Warehouse,
        table: &'static str,
        rows: &BTreeMap<String, R>,
        key: &str,
        stored_in: Option<&str>,
        to_batch: fn(&[R]) -> arrow::record_batch::RecordBatch,
    ) -> Result<(), IngestError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Rows first seen in this batch are appended; only rows stored before need a MERGE,
        // which reads every file that may hold them (`stored_in` narrows that down): keep its
        // input to those few.
        let (new, stored): (Vec<_>, Vec<_>) =
            rows.iter().partition(|(id, _)| self.is_created(table, id));
        let batch = |rows: Vec<(&String, &R)>| {
            let rows: Vec<R> = rows.into_iter().map(|(_, r)| r.clone()).collect();
            to_batch(&rows)
        };
        if !stored.is_empty() {
            warehouse
                .upsert(table, batch(stored), key, stored_in)
                .await?;
        }
        if !new.is_empty() {
            warehouse.append(table, vec![batch(new)]).await?;
        }
        Ok(())
    }
}

async fn append<R>(
    warehouse: &Warehouse,
    table: &'static str,
    rows: &[R],
    to_batch: fn(&[R]) -> arrow::record_batch::RecordBatch,
) -> Result<(), IngestError> {
    if rows.is_empty() {
        return Ok(());
    }
    warehouse.append(table, vec![to_batch(rows)]).await?;
    Ok(())
}
