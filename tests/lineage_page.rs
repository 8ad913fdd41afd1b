//! prov9's lineage page in a real headless Chromium (Debian's `chromium`): the home page, a
//! search as the form sends it, a result opened; the graph drawn on a node's page holds exactly
//! the nodes the SQL lineage functions reach. A screenshot is kept in the target directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The page's DOM after Chromium loaded and rendered it.
fn rendered(browser: &Path, url: &str, extra: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,1000",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "{url}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn lineage_page_in_headless_chromium() {
    let Some(browser) = chromium() else {
        missing_client("chromium (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = InProcess::start(&dir.path().join("wh"), true);
    let base = format!("http://127.0.0.1:{}", app.http_port);

    let home = rendered(&browser, &format!("{base}/"), &["--dump-dom"]);
    assert!(home.contains(r#"<form action="/" method="get">"#), "{home}");
    assert!(
        home.contains("acme-ml:train_churn_model"),
        "the home page lists jobs: {home}"
    );

    // The search box sends ?q=; the answer links each result to its node's page.
    let found = rendered(&browser, &format!("{base}/?q=CHURN"), &["--dump-dom"]);
    assert!(found.contains("acme-ml:train_churn_model"), "{found}");
    assert!(
        !found.contains("acme-ml:clean_clickstream"),
        "only names holding the text: {found}"
    );
    let model_link = "/node?id=model%3Aacme-ml%3Achurn%402";
    assert!(
        found.contains(&format!(r#"href="{model_link}""#)),
        "{found}"
    );

    // The model version's page: its graph is what the lineage functions reach at depth 3.
    let page = rendered(&browser, &format!("{base}{model_link}"), &["--dump-dom"]);
    let mut expected: BTreeSet<String> = ["upstream", "downstream"]
        .iter()
        .flat_map(|d| {
            server_rows(
                app.port,
                &format!("SELECT node FROM lineage_{d}('model:acme-ml:churn@2', 3)"),
            )
        })
        .flatten()
        .collect();
    expected.insert("model:acme-ml:churn@2".into());
    let drawn: BTreeSet<String> = page
        .split(r#"data-id=""#)
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(drawn, expected, "the drawn nodes");
    assert!(drawn.len() >= 6, "{drawn:?}");
    for shown in [
        "Trained on",
        "features/churn_train",
        "Metrics",
        "auc",
        "Deployments",
        "k8s://ml-prod/churn-scorer",
    ] {
        assert!(page.contains(shown), "{shown} not on the model page");
    }
    // A run's page shows its job's runs with their states.
    let run = server_rows(
        app.port,
        "SELECT training_run_id FROM model_versions WHERE version_id = 'model:acme-ml:churn@2'",
    )
    .remove(0)
    .unwrap();
    let run_page = rendered(
        &browser,
        &format!("{base}/node?id={}", run.replace(':', "%3A")),
        &["--dump-dom"],
    );
    assert!(
        run_page.contains("Runs of acme-ml:train_churn_model") && run_page.contains("COMPLETE"),
        "{run_page}"
    );

    // An unknown node is a 404 that says what node ids look like.
    let (status, body) = http(app.http_port, "GET", "/node?id=dataset%3Anowhere", &[], b"");
    assert_eq!(status, 404);
    assert!(body.contains("not in the lineage graph"), "{body}");

    // The screenshot, kept for a person to look at.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lineage-page.png");
    let _ = std::fs::remove_file(&shot);
    rendered(
        &browser,
        &format!("{base}{model_link}"),
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}
