#!/usr/bin/env python3
"""A complete, runnable example: one ML pipeline's lineage, with every prov9 facet, sent to prov9
with the OpenLineage Python client (pip install openlineage-python).

Usage: ml_facets_example.py [URL]     (default: $OPENLINEAGE_URL, else http://127.0.0.1:5000)

It emits, for one model version:
  prepare_features  preprocessing steps (prov9_preprocessing), raw -> features
  train_model       training (prov9_training, prov9_run), features -> model fraud@1
  evaluate_model    evaluation metrics on a holdout (prov9_evaluation)
  deploy_model      a deployment to prod (prov9_deployment, job type via prov9_job)
Then in SQL:  SELECT * FROM model_versions; SELECT * FROM metrics; SELECT * FROM deployments;
"""
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import JobFacet, RunFacet
from openlineage.client.transport.http import HttpConfig, HttpTransport

PRODUCER = "https://github.com/provenance-9/prov9/tests/python/ml_facets_example.py"
FACETS = "https://github.com/provenance-9/prov9/blob/main/sql/facets/1-0-0/"
NAMESPACE = "fraud-ml"
LAKE = "s3://fraud-lake"


def schema_url(name):
    return staticmethod(lambda: FACETS + name + ".json")


# One class per prov9 facet; the attribute names are the facet's JSON fields.
@attr.define
class Prov9JobFacet(JobFacet):
    jobType: str
    _get_schema = schema_url("JobTypeJobFacet")


@attr.define
class Prov9RunFacet(RunFacet):
    parameters: dict
    environment: dict
    _get_schema = schema_url("RunParametersRunFacet")


@attr.define
class Prov9PreprocessingFacet(RunFacet):
    steps: list
    _get_schema = schema_url("PreprocessingRunFacet")


@attr.define
class Prov9TrainingFacet(RunFacet):
    model: dict
    architecture: str
    framework: str
    hyperparameters: dict
    artifactUri: str
    metrics: dict
    _get_schema = schema_url("TrainingRunFacet")


@attr.define
class Prov9EvaluationFacet(RunFacet):
    model: dict
    dataset: dict
    metrics: dict
    _get_schema = schema_url("EvaluationRunFacet")


@attr.define
class Prov9DeploymentFacet(RunFacet):
    model: dict
    environment: str
    target: str
    runtime: dict
    hardware: dict
    packages: dict
    deployedBy: str
    status: str
    _get_schema = schema_url("DeploymentRunFacet")


def main(url):
    client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
    t0 = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)

    def run(job, minute, inputs=(), outputs=(), run_facets=None, job_facets=None):
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PRODUCER}/{job}"))
        for state, offset in ((RunState.START, 0), (RunState.COMPLETE, 5)):
            client.emit(RunEvent(
                eventType=state,
                eventTime=(t0 + timedelta(minutes=minute + offset)).isoformat(),
                run=Run(runId=run_id, facets=run_facets or {}),
                job=Job(namespace=NAMESPACE, name=job, facets=job_facets or {}),
                inputs=list(inputs), outputs=list(outputs), producer=PRODUCER))

    model = {"name": "fraud", "version": "1"}
    hyperparameters = {"learning_rate": 0.03, "max_depth": 7}
    run("prepare_features", 0,
        inputs=[InputDataset(LAKE, "raw/transactions")],
        outputs=[OutputDataset(LAKE, "features/train"), OutputDataset(LAKE, "features/holdout")],
        run_facets={"prov9_preprocessing": Prov9PreprocessingFacet(steps=[
            {"kind": "cleaning", "name": "drop_test_cards", "parameters": {"bins": ["400000"]},
             "inputColumns": ["card_bin"], "outputColumns": []},
            {"kind": "feature_engineering", "name": "amount_zscore", "parameters": {"window_days": 30},
             "inputColumns": ["amount"], "outputColumns": ["amount_z"]},
            {"kind": "split", "name": "time_split", "parameters": {"holdout_from": "2026-11-01"},
             "inputColumns": ["ts"], "outputColumns": []}])})
    run("train_model", 10,
        inputs=[InputDataset(LAKE, "features/train")],
        run_facets={
            "prov9_training": Prov9TrainingFacet(model=model, architecture="gradient_boosted_trees",
                                                 framework="lightgbm 4.5", hyperparameters=hyperparameters,
                                                 artifactUri="s3://fraud-models/fraud/1/model.txt",
                                                 metrics={"train_auc": 0.951}),
            "prov9_run": Prov9RunFacet(parameters=hyperparameters, environment={"python": "3.11", "gpu": "none"})})
    run("evaluate_model", 20,
        inputs=[InputDataset(LAKE, "features/holdout")],
        run_facets={"prov9_evaluation": Prov9EvaluationFacet(
            model=model, dataset={"namespace": LAKE, "name": "features/holdout"},
            metrics={"auc": 0.934, "precision_at_1pct": 0.71})})
    run("deploy_model", 30,
        job_facets={"prov9_job": Prov9JobFacet(jobType="deployment")},
        run_facets={"prov9_deployment": Prov9DeploymentFacet(
            model=model, environment="prod", target="k8s://risk-prod/fraud-scorer",
            runtime={"image": "acme/fraud-scorer:1.0"}, hardware={"replicas": 4},
            packages={"lightgbm": "4.5.0"}, deployedBy="ml-platform-bot", status="active")})
    print("sent 8 events")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPENLINEAGE_URL", "http://127.0.0.1:5000"))
