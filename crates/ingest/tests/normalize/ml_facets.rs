//! prov9's ML facets: model versions, metrics and deployments, and metric histories.

use prov9_model::tables::MetricRow;
use prov9_store::Warehouse;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn ml_facets_become_models_metrics_and_deployments() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let model = json!({"name": "m", "version": "3"});
    let events = [
        run_event(
            "COMPLETE",
            "2026-01-01T00:00:00Z",
            "t",
            "train",
            json!([{"namespace": "n", "name": "feat"}]),
            json!([]),
            json!({"prov9_training": {"model": model, "framework": "torch", "hyperparameters": {"lr": 0.01}, "metrics": {"loss": 0.5}}}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T01:00:00Z",
            "e",
            "eval",
            json!([{"namespace": "n", "name": "holdout"}]),
            json!([]),
            json!({"prov9_evaluation": {"model": model, "metrics": {"auc": 0.9, "f1": "0.8"}}}),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T02:00:00Z",
            "d",
            "deploy",
            json!([]),
            json!([]),
            json!({"prov9_deployment": {"model": model, "environment": "prod", "target": "k8s://x", "hardware": {"gpu": "T4"}}}),
        ),
    ];
    load(&wh, &events, 100).await.unwrap();
    assert_eq!(count(&wh, "model_versions").await, 1);
    assert_eq!(count(&wh, "metrics").await, 3);
    assert_eq!(count(&wh, "deployments").await, 1);
    let e = edges(&wh).await;
    let mv = "model:ns:m@3".to_string();
    assert!(e.contains(&("run:t".into(), mv.clone())));
    assert!(e.contains(&(mv.clone(), "run:e".into())));
    assert!(e.contains(&(mv.clone(), "deployment:prod:m@d".into())));
    let mut metrics = Vec::new();
    for b in wh.read("metrics", &[]).await.unwrap() {
        metrics.extend(MetricRow::from_batch(&b).unwrap());
    }
    let f1 = metrics.iter().find(|m| m.key == "f1").unwrap();
    assert_eq!(
        (f1.value, f1.run_id.as_str(), f1.model_version_id.as_deref()),
        (Some(0.8), "run:e", Some(mv.as_str()))
    );
    // The evaluation's only input is its evaluation dataset.
    assert_eq!(
        f1.dataset_version_id.as_deref(),
        Some("dataset:n:holdout@unversioned")
    );
}

#[tokio::test]
async fn a_model_seen_first_in_an_evaluation_gets_its_training_facts() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let model = json!({"name": "m", "version": "1"});
    let eval = run_event(
        "COMPLETE",
        "2026-01-02T00:00:00Z",
        "e",
        "eval",
        json!([]),
        json!([]),
        json!({"prov9_evaluation": {"model": model, "dataset": {"namespace": "n", "name": "holdout"}, "metrics": {"auc": 0.7}}}),
    );
    let train = run_event(
        "COMPLETE",
        "2026-01-01T00:00:00Z",
        "t",
        "train",
        json!([]),
        json!([]),
        json!({"prov9_training": {"model": model, "framework": "torch"}}),
    );
    load(&wh, &[eval], 100).await.unwrap();
    load(&wh, &[train], 100).await.unwrap();
    let batches = wh.read("model_versions", &[]).await.unwrap();
    let rows: Vec<_> = batches
        .iter()
        .flat_map(|b| prov9_model::tables::ModelVersionRow::from_batch(b).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].framework.as_deref(),
            rows[0].training_run_id.as_deref()
        ),
        (Some("torch"), Some("run:t"))
    );
    // The evaluation dataset is an input of the evaluation run.
    assert!(
        edges(&wh)
            .await
            .contains(&("dataset:n:holdout@unversioned".into(), "run:e".into()))
    );
}

#[tokio::test]
async fn metric_history_and_other_events_leave_the_run_state_alone() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let points = json!({"prov9_metrics": {"points": [
        {"key": "loss", "value": 0.5, "step": 0, "timestamp": "2026-01-01T00:00:01Z"},
        {"key": "loss", "value": "NaN", "step": 1, "timestamp": "2026-01-01T00:00:02Z"},
        {"key": "loss", "value": 0.5, "step": 0, "timestamp": "2026-01-01T00:00:01Z"},
    ]}});
    let events = [
        run_event(
            "START",
            "2026-01-01T00:00:00Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            json!({}),
        ),
        // Metric points logged after the start, arriving as OTHER: the run is still STARTed.
        run_event(
            "OTHER",
            "2026-01-01T00:00:02Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            points,
        ),
    ];
    load(&wh, &events, 10).await.unwrap();
    let r = runs(&wh).await;
    assert_eq!(r[0].state, "START");
    let mut metrics: Vec<MetricRow> = Vec::new();
    for b in wh.read("metrics", &[]).await.unwrap() {
        metrics.extend(MetricRow::from_batch(&b).unwrap());
    }
    metrics.sort_by_key(|m| m.step);
    // The repeated point is one point; NaN travels as a string.
    assert_eq!(metrics.len(), 2);
    assert_eq!((metrics[0].value, metrics[0].step), (Some(0.5), Some(0)));
    assert!(metrics[1].value.unwrap().is_nan());

    // A COMPLETE ends it, and a later OTHER (a model logged after the end) does not reopen it.
    let model = json!({"prov9_training": {"model": {"name": "m", "version": "1"}}});
    let events = [
        run_event(
            "COMPLETE",
            "2026-01-01T00:01:00Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            json!({}),
        ),
        run_event(
            "OTHER",
            "2026-01-01T00:02:00Z",
            "r1",
            "train",
            json!([]),
            json!([]),
            model,
        ),
    ];
    load(&wh, &events, 10).await.unwrap();
    let r = runs(&wh).await;
    assert_eq!(r[0].state, "COMPLETE");
    assert_eq!(count(&wh, "model_versions").await, 1);

    // A bad point rejects its event whole, naming the field.
    let bad = json!({"prov9_metrics": {"points": [
        {"key": "auc", "value": 0.9, "timestamp": "2026-01-01T00:00:03Z"},
        {"key": "auc", "value": "high", "timestamp": "2026-01-01T00:00:04Z"},
    ]}});
    let events = [run_event(
        "OTHER",
        "2026-01-01T00:03:00Z",
        "r1",
        "train",
        json!([]),
        json!([]),
        bad,
    )];
    let err = load(&wh, &events, 10).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "test:1: run.facets.prov9_metrics.points.auc.value: expected a number"
    );
    assert_eq!(count(&wh, "metrics").await, 2);
}

#[tokio::test]
async fn models_a_run_read_are_edges_into_it_on_every_event_once() {
    let wh = Warehouse::open("memory://").await.unwrap();
    let base = json!({"name": "llm-base", "version": "7", "namespace": "hub"});
    let run_facets =
        json!({"prov9_run": {"inputModels": [base, {"name": "tokenizer", "version": "2"}]}});
    let events = [
        run_event(
            "START",
            "2026-01-01T00:00:00Z",
            "ft",
            "finetune",
            json!([]),
            json!([]),
            run_facets.clone(),
        ),
        run_event(
            "COMPLETE",
            "2026-01-01T01:00:00Z",
            "ft",
            "finetune",
            json!([]),
            json!([]),
            run_facets,
        ),
    ];
    load(&wh, &events, 100).await.unwrap();
    let e = edges(&wh).await;
    for model in ["model:hub:llm-base@7", "model:ns:tokenizer@2"] {
        let into_run = e
            .iter()
            .filter(|(s, d)| s == model && d == "run:ft")
            .count();
        assert_eq!(into_run, 1, "{model} -> run:ft in {e:?}");
    }
    // The versions exist (untrained as far as prov9 knows), so the edges lead somewhere.
    assert_eq!(count(&wh, "model_versions").await, 2);

    let bad = run_event(
        "COMPLETE",
        "2026-01-01T02:00:00Z",
        "x",
        "finetune",
        json!([]),
        json!([]),
        json!({"prov9_run": {"inputModels": [{"name": "no-version"}]}}),
    );
    let err = load(&wh, &[bad], 100).await.unwrap_err().to_string();
    assert!(
        err.contains("prov9_run") && err.contains("version"),
        "{err}"
    );
}
