//! `lineage_edges` and `column_lineage` rows: a run's inputs (input version -> run), its
//! outputs (run -> new output version) and the column lineage between them.

use chrono::{DateTime, Utc};
use prov9_model::facets::{self, ColumnEdge};
use prov9_model::openlineage::{Dataset, Facets};
use prov9_model::tables::{ColumnLineageRow, LineageEdgeRow};

use super::Normalizer;

/// An input of a run and the dataset version it resolved to.
pub(super) struct ResolvedInput {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) version_id: String,
}

impl Normalizer<'_> {
    pub(super) fn edge(
        &mut self,
        src: &str,
        dst: &str,
        edge_type: &str,
        run_id: &str,
        at: DateTime<Utc>,
    ) {
        let row = LineageEdgeRow {
            src: src.to_string(),
            dst: dst.to_string(),
            edge_type: edge_type.to_string(),
            run_id: Some(run_id.to_string()),
            event_time: at,
        };
        self.insert(LineageEdgeRow::NAME, row, |c| &mut c.lineage_edges);
    }

    /// Inputs: every event that names them links them to the run. An input without a version
    /// keeps the version it resolved to when the run first named it, unless no version was
    /// known then and one created before that moment has arrived since: producers that send a
    /// run's events late (dbt-ol sends every START first, then every end) would otherwise link
    /// a dbt test to its model's `unversioned` node. The first edge stays (edges are only ever
    /// added).
    pub(super) fn link_inputs(
        &mut self,
        run_id: &str,
        inputs: &[Dataset],
        at: DateTime<Utc>,
    ) -> Vec<ResolvedInput> {
        let mut resolved = Vec::with_capacity(inputs.len());
        for input in inputs {
            let dataset_id = self.upsert_dataset(input);
            let key = (run_id.to_string(), dataset_id);
            let version_id = match (
                facets::dataset_version(&input.facets),
                self.state.run_inputs.get(&key),
            ) {
                (None, Some((pinned, first))) => match self.arrived_since(pinned, &key.1, *first) {
                    Some(version) => {
                        let version = version.to_string();
                        let first = *first;
                        self.state.run_inputs.insert(key, (version.clone(), first));
                        version
                    }
                    None => pinned.clone(),
                },
                _ => {
                    let v = self.resolve_input(input, at);
                    self.state.run_inputs.insert(key, (v.clone(), at));
                    v
                }
            };
            self.edge(&version_id, run_id, "input", run_id, at);
            resolved.push(ResolvedInput {
                namespace: input.namespace.clone(),
                name: input.name.clone(),
                version_id,
            });
        }
        resolved
    }

    /// The version of `dataset_id` created at or before `first` when the run's input was
    /// pinned to the dataset's `unversioned` node: it arrived after the run first named it.
    fn arrived_since(&self, pinned: &str, dataset_id: &str, first: DateTime<Utc>) -> Option<&str> {
        let unversioned = self
            .state
            .versions
            .get(pinned)
            .is_some_and(|v| v.version_origin == "unversioned");
        if !unversioned {
            return None;
        }
        self.state.latest_version(dataset_id, first, false)
    }

    /// The outputs of a completed run: a version of each (the facet's, else one named after
    /// the run), its edge from the run and its column lineage.
    pub(super) fn record_outputs(
        &mut self,
        run_id: &str,
        run_uuid: &str,
        outputs: &[Dataset],
        inputs: &[ResolvedInput],
        at: DateTime<Utc>,
    ) {
        let column_sources = self.column_sources(outputs, inputs, at);
        for (output, edges) in outputs.iter().zip(column_sources) {
            self.upsert_dataset(output);
            let (version, origin) = match facets::dataset_version(&output.facets) {
                Some(v) => (v, "facet"),
                None => (run_uuid.to_string(), "run"),
            };
            let version_id = self.ensure_version(output, &version, origin, at, Some(run_id));
            self.edge(run_id, &version_id, "output", run_id, at);
            self.record_quality_checks(&version_id, output, run_id, at);
            for (c, src) in edges {
                let row = ColumnLineageRow {
                    src_dataset_version: src,
                    src_column: c.input_column,
                    dst_dataset_version: version_id.clone(),
                    dst_column: c.output_column,
                    transformation: c.transformation,
                    run_id: Some(run_id.to_string()),
                };
                self.insert(ColumnLineageRow::NAME, row, |c| &mut c.column_lineage);
            }
        }
    }

    /// Per output, its column-lineage edges with the version each source column is read from.
    /// They resolve before the outputs' versions exist, so a dataset rewritten in place points
    /// at its previous version, not at itself.
    fn column_sources(
        &mut self,
        outputs: &[Dataset],
        inputs: &[ResolvedInput],
        at: DateTime<Utc>,
    ) -> Vec<Vec<(ColumnEdge, String)>> {
        let mut column_sources = Vec::with_capacity(outputs.len());
        for output in outputs {
            let mut edges = Vec::new();
            for c in facets::column_lineage(&output.facets) {
                let input = inputs
                    .iter()
                    .find(|i| i.namespace == c.input_namespace && i.name == c.input_name);
                let src = match input {
                    Some(i) => i.version_id.clone(),
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
        column_sources
    }
}
