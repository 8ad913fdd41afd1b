//! prov9's own lineage page, at `/` on the HTTP port: plain HTML and a server-drawn SVG (no
//! JavaScript, no CDN, so it works offline and behind any proxy).
//!
//! - `/?q=churn`: jobs, datasets and models whose name holds the text.
//! - `/node?id=<node id>&depth=N`: a node's upstream and downstream graph to a depth (each node
//!   links to its own page), and what it is: a run's job and sibling runs with states, times
//!   and errors; a dataset version's history; a model version's training data, metrics and
//!   deployments. Columns longer than 40 nodes end in "N more".

mod node;
mod search;

use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use prov9_graph::xml;

use crate::marquez::Marquez;

pub(crate) fn router() -> Router<Arc<Marquez>> {
    Router::new()
        .route("/", get(search::home))
        .route("/node", get(node::node))
}

/// A whole page: `title`, then `body` (already HTML).
pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · prov9</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 0; color: #212121; }}
header {{ background: #263238; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: center; }}
header a {{ color: #fff; text-decoration: none; font-weight: bold; }}
header input {{ padding: 5px 8px; width: 320px; }}
main {{ padding: 10px 20px; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; }}
td, th {{ border-bottom: 1px solid #e0e0e0; padding: 4px 10px; text-align: left; font-size: 14px; }}
.graph {{ overflow: auto; border: 1px solid #e0e0e0; margin: 10px 0; }}
.state-FAIL, .state-ABORT {{ color: #c62828; font-weight: bold; }}
.state-COMPLETE {{ color: #2e7d32; }}
.muted {{ color: #757575; }}
</style></head>
<body><header><a href="/">prov9</a>
<form action="/" method="get"><input name="q" placeholder="Search jobs, datasets, models" aria-label="search"></form>
</header><main><h1>{title}</h1>
{body}
</main></body></html>
"#,
        title = xml(title),
    ))
}

/// A link to a node's page.
pub(crate) fn node_link(id: &str, text: &str) -> String {
    format!(
        r#"<a href="/node?id={}">{}</a>"#,
        prov9_graph::percent_encode(id),
        xml(text)
    )
}

/// A table: header cells, then rows of cells (already HTML).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return r#"<p class="muted">none</p>"#.into();
    }
    let mut out = String::from("<table><tr>");
    for h in header {
        out.push_str(&format!("<th>{}</th>", xml(h)));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{cell}</td>"));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}
