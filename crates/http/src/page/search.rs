//! `/`: the search box's answers: jobs (their latest run's page), datasets (their newest
//! version's) and models (their newest version's) whose name holds the text.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Html;
use prov9_graph::xml;

use super::{node_link, page, table};
use crate::marquez::rows::{literal, query, text};
use crate::marquez::{ApiError, Marquez};

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
}

/// Results per kind.
const SHOWN: usize = 50;

pub(crate) async fn home(
    State(marquez): State<Arc<Marquez>>,
    Query(Search { q }): Query<Search>,
) -> Result<Html<String>, ApiError> {
    let q = q.unwrap_or_default().trim().to_lowercase();
    let pattern = literal(&format!("%{q}%"));
    // Each kind: (heading, SQL of `label, node, detail` rows).
    let kinds = [
        (
            "Jobs",
            format!(
                "SELECT j.namespace || ':' || j.name AS label, \
                 first_value(r.run_id ORDER BY COALESCE(r.updated_at, r.started_at) DESC) AS node, \
                 count(r.run_id) || ' runs' AS detail \
                 FROM jobs j JOIN runs r ON r.job_id = j.job_id WHERE lower(j.name) LIKE {pattern} \
                 GROUP BY j.namespace, j.name ORDER BY label"
            ),
        ),
        (
            "Datasets",
            format!(
                "SELECT d.namespace || ':' || d.name AS label, \
                 first_value(v.version_id ORDER BY v.created_at DESC) AS node, \
                 count(v.version_id) || ' versions' AS detail \
                 FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.dataset_id \
                 WHERE lower(d.name) LIKE {pattern} GROUP BY d.namespace, d.name ORDER BY label"
            ),
        ),
        (
            "Models",
            format!(
                "SELECT namespace || ':' || name AS label, \
                 first_value(version_id ORDER BY created_at DESC) AS node, \
                 count(*) || ' versions' AS detail \
                 FROM model_versions WHERE lower(name) LIKE {pattern} \
                 GROUP BY namespace, name ORDER BY label"
            ),
        ),
    ];
    let mut body = String::new();
    if !q.is_empty() {
        body.push_str(&format!("<p>Names holding <b>{}</b>:</p>", xml(&q)));
    }
    for (heading, sql) in kinds {
        let rows = query(&marquez.engine, &sql).await?;
        let mut cells = Vec::new();
        for row in rows.iter().take(SHOWN) {
            let (Some(label), Some(node)) = (text(row, "label"), text(row, "node")) else {
                continue;
            };
            cells.push(vec![
                node_link(node, label),
                xml(text(row, "detail").unwrap_or_default()),
            ]);
        }
        let more = rows.len().saturating_sub(SHOWN);
        body.push_str(&format!("<h2>{heading}</h2>"));
        body.push_str(&table(&["name", ""], &cells));
        if more > 0 {
            body.push_str(&format!(
                r#"<p class="muted">{more} more: search to narrow</p>"#
            ));
        }
    }
    let title = if q.is_empty() {
        "Lineage".to_string()
    } else {
        format!("Search: {q}")
    };
    Ok(page(&title, &body))
}
