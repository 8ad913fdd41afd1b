#!/usr/bin/env python3
"""Generate prov9's bundled demo: a two-day churn-model pipeline as OpenLineage NDJSON.

Run `python3 generate.py > pipeline.ndjson`; the output is deterministic and committed.
Day 1 ingests two raw sources, cleans and builds features, trains churn@1, evaluates it and
deploys it to staging and prod. Day 2 does it again; its first training attempt fails (FAIL
with an error message), the retry trains churn@2, which is evaluated and deployed.
"""
import json
import uuid

PRODUCER = "https://github.com/provenance-9/prov9/demo"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://github.com/provenance-9/prov9/blob/main/sql/facets/1-0-0/"
NS = "acme-ml"
LAKE = "s3://acme-lake"


def rid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "prov9-demo/" + "/".join(parts)))


def facet(name, **fields):
    return {"_producer": PRODUCER, "_schemaURL": FACETS + name + ".json", **fields}


def schema(*cols):
    return {"schema": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                       "fields": [{"name": n, "type": t} for n, t in cols]}}


def ds(namespace, name, facets=None, out_stats=None, quality=None):
    d = {"namespace": namespace, "name": name, "facets": facets or {}}
    if out_stats:
        d["outputFacets"] = {"outputStatistics": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json", **out_stats}}
    if quality:
        d["inputFacets"] = {"dataQualityMetrics": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json", **quality}}
    return d


events = []


def run(day, job, start, end, inputs, outputs, run_facets=None, job_facets=None, fail=None, attempt="1"):
    run_id = rid(day, job, attempt)
    jf = {"sourceCodeLocation": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SourceCodeLocationJobFacet.json",
                                 "type": "git", "url": f"https://github.com/acme/ml-pipelines/blob/main/{job}.py",
                                 "version": "4f2a9c1" if day == "2026-11-01" else "b81d3e7"}}
    jf.update(job_facets or {})
    base_run_facets = {"nominalTime": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json",
                                        "nominalStartTime": f"{day}T00:00:00Z"}}
    events.append({"eventType": "START", "eventTime": f"{day}T{start}Z", "producer": PRODUCER, "schemaURL": SCHEMA,
                   "run": {"runId": run_id, "facets": base_run_facets}, "job": {"namespace": NS, "name": job, "facets": jf},
                   "inputs": [{"namespace": i["namespace"], "name": i["name"]} for i in inputs], "outputs": []})
    rf = dict(base_run_facets)
    rf.update(run_facets or {})
    if fail:
        rf["errorMessage"] = {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
                              "message": fail, "programmingLanguage": "python"}
    events.append({"eventType": "FAIL" if fail else "COMPLETE", "eventTime": f"{day}T{end}Z", "producer": PRODUCER, "schemaURL": SCHEMA,
                   "run": {"runId": run_id, "facets": rf}, "job": {"namespace": NS, "name": job, "facets": jf},
                   "inputs": inputs, "outputs": [] if fail else outputs})


CLICK_COLS = [("user_id", "BIGINT"), ("event", "VARCHAR"), ("ts", "TIMESTAMP"), ("page", "VARCHAR")]
CUST_COLS = [("customer_id", "BIGINT"), ("plan", "VARCHAR"), ("signup_date", "DATE"), ("country", "VARCHAR")]
FEAT_COLS = [("customer_id", "BIGINT"), ("sessions_7d", "INT"), ("tenure_days", "INT"), ("plan_pro", "BOOLEAN"), ("churned", "BOOLEAN")]


def column_lineage(mapping):
    return {"columnLineage": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                              "fields": {out: {"inputFields": [{"namespace": LAKE, "name": n, "field": f,
                                                                "transformations": [{"type": t, "subtype": s}]} for n, f, t, s in ins]}
                                         for out, ins in mapping.items()}}}


for day_no, day in enumerate(["2026-11-01", "2026-11-02"], start=1):
    clicks = 1_204_551 if day_no == 1 else 1_318_902
    customers = 48_210 if day_no == 1 else 48_977
    run(day, "ingest_clickstream", "01:00:00", "01:07:12",
        [ds("s3://acme-landing", f"clickstream/{day}")],
        [ds(LAKE, "raw/clickstream", {**schema(*CLICK_COLS), "dataSource": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json", "name": "acme-lake", "uri": LAKE},
                                      "storage": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/StorageDatasetFacet.json", "storageLayer": "delta", "fileFormat": "parquet"}},
            out_stats={"rowCount": clicks, "size": clicks * 96})],
        job_facets={"prov9_job": facet("JobTypeJobFacet", jobType="ingestion")})
    run(day, "ingest_crm_customers", "01:00:00", "01:02:40",
        [ds("postgres://crm-db:5432", "crm.public.customers")],
        [ds(LAKE, "raw/customers", {**schema(*CUST_COLS), "version": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json", "datasetVersion": f"snapshot-{day}"}},
            out_stats={"rowCount": customers, "size": customers * 64})],
        job_facets={"prov9_job": facet("JobTypeJobFacet", jobType="ingestion")})
    run(day, "clean_clickstream", "02:00:00", "02:11:05",
        [ds(LAKE, "raw/clickstream", quality={"rowCount": clicks, "columnMetrics": {"user_id": {"nullCount": 311 * day_no}}})],
        [ds(LAKE, "clean/clickstream", {**schema(*CLICK_COLS), **column_lineage({"user_id": [("raw/clickstream", "user_id", "DIRECT", "IDENTITY")],
                                                                                 "ts": [("raw/clickstream", "ts", "DIRECT", "TRANSFORMATION")]})},
            out_stats={"rowCount": clicks - 311 * day_no - 1200, "size": (clicks - 1511) * 90})],
        run_facets={"prov9_preprocessing": facet("PreprocessingRunFacet", steps=[
            {"kind": "cleaning", "name": "drop_null_user_id", "parameters": {"columns": ["user_id"]}, "inputColumns": ["user_id"], "outputColumns": ["user_id"]},
            {"kind": "cleaning", "name": "deduplicate", "parameters": {"keys": ["user_id", "ts", "event"]}, "inputColumns": ["user_id", "ts", "event"], "outputColumns": []},
            {"kind": "normalisation", "name": "timestamps_to_utc", "parameters": {"source_tz": "Europe/Berlin"}, "inputColumns": ["ts"], "outputColumns": ["ts"]}])})
    run(day, "build_churn_features", "03:00:00", "03:18:30",
        [ds(LAKE, "clean/clickstream"), ds(LAKE, "raw/customers")],
        [ds(LAKE, "features/churn_train", {**schema(*FEAT_COLS), **column_lineage({
            "sessions_7d": [("clean/clickstream", "user_id", "INDIRECT", "GROUP_BY"), ("clean/clickstream", "ts", "DIRECT", "AGGREGATION")],
            "tenure_days": [("raw/customers", "signup_date", "DIRECT", "TRANSFORMATION")],
            "plan_pro": [("raw/customers", "plan", "DIRECT", "TRANSFORMATION")]})},
            out_stats={"rowCount": int(customers * 0.8), "size": int(customers * 0.8) * 40}),
         ds(LAKE, "features/churn_holdout", schema(*FEAT_COLS), out_stats={"rowCount": customers - int(customers * 0.8), "size": (customers - int(customers * 0.8)) * 40})],
        run_facets={"prov9_preprocessing": facet("PreprocessingRunFacet", steps=[
            {"kind": "feature_engineering", "name": "sessions_last_7_days", "parameters": {"window_days": 7}, "inputColumns": ["user_id", "ts"], "outputColumns": ["sessions_7d"]},
            {"kind": "feature_engineering", "name": "tenure", "parameters": {"as_of": day}, "inputColumns": ["signup_date"], "outputColumns": ["tenure_days"]},
            {"kind": "encoding", "name": "one_hot_plan", "parameters": {"categories": ["free", "pro"]}, "inputColumns": ["plan"], "outputColumns": ["plan_pro"]},
            {"kind": "split", "name": "train_holdout_split", "parameters": {"holdout_fraction": 0.2, "seed": 42}, "inputColumns": [], "outputColumns": []}])})
    hp = {"learning_rate": 0.1, "max_depth": 6, "n_estimators": 300} if day_no == 1 else {"learning_rate": 0.05, "max_depth": 8, "n_estimators": 600}
    training = {"prov9_training": facet("TrainingRunFacet", model={"name": "churn", "version": str(day_no)}, architecture="gradient_boosted_trees",
                                        framework="xgboost 2.1.1", hyperparameters=hp, artifactUri=f"s3://acme-models/churn/{day_no}/model.json",
                                        metrics={"train_logloss": 0.312 if day_no == 1 else 0.287}),
                "prov9_run": facet("RunParametersRunFacet", parameters=hp, environment={"python": "3.11.7", "hardware": "8 vCPU, 32 GiB"})}
    if day_no == 2:
        run(day, "train_churn_model", "04:00:00", "04:21:44", [ds(LAKE, "features/churn_train")], [],
            run_facets={"prov9_run": training["prov9_run"]},
            fail="MemoryError: Unable to allocate 14.2 GiB for an array with shape (1904211, 1000) and data type float64", attempt="1")
    run(day, "train_churn_model", "05:00:00" if day_no == 2 else "04:00:00", "05:42:10" if day_no == 2 else "04:35:02",
        [ds(LAKE, "features/churn_train")], [], run_facets=training, attempt="2" if day_no == 2 else "1")
    auc, f1 = (0.861, 0.702) if day_no == 1 else (0.884, 0.731)
    run(day, "evaluate_churn_model", "06:00:00", "06:04:19", [ds(LAKE, "features/churn_holdout")], [],
        run_facets={"prov9_evaluation": facet("EvaluationRunFacet", model={"name": "churn", "version": str(day_no)},
                                              metrics={"auc": auc, "f1": f1, "accuracy": round(f1 + 0.15, 3)})})
    for env, t in [("staging", "07:00:00"), ("prod", "09:00:00")]:
        run(day, f"deploy_churn_{env}", t, t[:3] + "03:30", [], [],
            run_facets={"prov9_deployment": facet("DeploymentRunFacet", model={"name": "churn", "version": str(day_no)}, environment=env,
                                                  target=f"k8s://ml-{env}/churn-scorer", runtime={"image": f"acme/churn-scorer:{day_no}.0", "python": "3.11"},
                                                  hardware={"replicas": 2 if env == "staging" else 6, "cpu": "2", "memory": "4Gi"},
                                                  packages={"xgboost": "2.1.1", "numpy": "1.26.4"}, deployedBy="ml-platform-bot")},
            job_facets={"prov9_job": facet("JobTypeJobFacet", jobType="deployment")})

for e in events:
    print(json.dumps(e, separators=(",", ":")))
