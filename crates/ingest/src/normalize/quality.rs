//! `quality_checks` rows: each assertion of a dataset's `dataQualityAssertions` facet, checked
//! on the version the run read (a dbt test) or wrote.

use chrono::{DateTime, Utc};
use prov9_model::facets;
use prov9_model::openlineage::Dataset;
use prov9_model::tables::QualityCheckRow;

use super::Normalizer;

impl Normalizer<'_> {
    pub(super) fn record_quality_checks(
        &mut self,
        version_id: &str,
        d: &Dataset,
        run_id: &str,
        at: DateTime<Utc>,
    ) {
        for a in facets::quality_assertions(&d.io_facets, &d.facets) {
            let row = QualityCheckRow {
                dataset_version_id: version_id.to_string(),
                run_id: Some(run_id.to_string()),
                assertion: a.assertion,
                check_name: a.name,
                column_name: a.column,
                success: a.success,
                severity: a.severity,
                failures: a.failures,
                actual: a.actual,
                expected: a.expected,
                checked_at: at,
            };
            self.insert(QualityCheckRow::NAME, row, |c| &mut c.quality_checks);
        }
    }
}
