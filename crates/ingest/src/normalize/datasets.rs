//! `datasets` and `dataset_versions` rows, and which version an input refers to: the one its
//! facet names, else the newest at the event's time, else the dataset's `@unversioned` node.

use chrono::{DateTime, Utc};
use prov9_model::facets::{self, DatasetRef};
use prov9_model::ids;
use prov9_model::openlineage::{Dataset, Facets};
use prov9_model::tables::{DatasetRow, DatasetVersionRow};

use super::Normalizer;
use super::changed::{fills_gap, mark_changed, sends_news, take_fields};

impl Normalizer<'_> {
    pub(super) fn upsert_dataset(&mut self, d: &Dataset) -> String {
        let dataset_id = ids::dataset_id(&d.namespace, &d.name);
        let f = &d.facets;
        let seen = DatasetRow {
            dataset_id: dataset_id.clone(),
            namespace: d.namespace.clone(),
            name: d.name.clone(),
            source_uri: facets::source_uri(f),
            format: facets::format(f),
            description: facets::description(f),
            dataset_type: facets::dataset_type(f),
            owners: facets::owners(f),
            tags: facets::tags(f),
        };
        let merged = match self.state.datasets.get(&dataset_id) {
            None => {
                self.changes.mark_created(DatasetRow::NAME, &dataset_id);
                seen
            }
            Some(old) => {
                // Where a dataset is and its format are kept as first seen; what describes it
                // is the last sent.
                let mut merged = None;
                take_fields!(merged, old, seen, fills_gap; source_uri, format);
                take_fields!(merged, old, seen, sends_news; description, dataset_type, owners, tags);
                match merged {
                    Some(row) => row,
                    None => return dataset_id,
                }
            }
        };
        self.state.datasets.insert(dataset_id.clone(), merged);
        mark_changed(&mut self.changed.datasets, &dataset_id);
        dataset_id
    }

    /// The version an input refers to (creating it if it names one not seen yet).
    pub(super) fn resolve_input(&mut self, d: &Dataset, at: DateTime<Utc>) -> String {
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

    /// The version a custom facet's dataset reference refers to, as [`Self::resolve_input`].
    pub(super) fn resolve_ref(&mut self, r: &DatasetRef, at: DateTime<Utc>) -> String {
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
    pub(super) fn ensure_version(
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
            // A version first seen as an input is refined when its producer's output arrives.
            Some(old) => match refined(old, d, run_id) {
                Some(row) => row,
                None => return version_id,
            },
        };
        self.state.versions.insert(version_id.clone(), merged);
        mark_changed(&mut self.changed.versions, &version_id);
        version_id
    }

    /// Fill in what a stored version lacks from the facets a run that read it sends (its
    /// `inputStatistics`, the quality a dbt test found). Never the dataset's `unversioned`
    /// node: it stands for whatever was there, and one reader's view of it says nothing of it.
    pub(super) fn refine_input(&mut self, version_id: &str, d: &Dataset) {
        if d.io_facets.is_empty() {
            return;
        }
        let Some(row) = self
            .state
            .versions
            .get(version_id)
            .filter(|old| old.version_origin != "unversioned")
            .and_then(|old| refined(old, d, None))
        else {
            return;
        };
        self.state.versions.insert(version_id.to_string(), row);
        mark_changed(&mut self.changed.versions, version_id);
    }
}

/// A stored version with what it lacks taken from this event (and only that is read from the
/// facets), or `None` when the event adds nothing.
fn refined(
    old: &DatasetVersionRow,
    d: &Dataset,
    run_id: Option<&str>,
) -> Option<DatasetVersionRow> {
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
        return None;
    }
    Some(DatasetVersionRow {
        created_by_run: old.created_by_run.clone().or(created_by_run),
        schema: old.schema.clone().or(schema),
        row_count: old.row_count.or(row_count),
        byte_size: old.byte_size.or(byte_size),
        quality: old.quality.clone().or(quality),
        ..old.clone()
    })
}

/// A value the stored row lacks, read from the event (only then).
fn if_missing<T>(stored: &Option<T>, read: impl FnOnce() -> Option<T>) -> Option<T> {
    if stored.is_none() { read() } else { None }
}
