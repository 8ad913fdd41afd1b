"""An MLflow store (a file store, or a tracking database: sqlite:///…, postgresql://…) written by
the real MLflow library, and the check that prov9 imported
it faithfully, value by value, against what MLflow's own API reports.

    python3 mlflow_history.py generate STORE   # experiments, runs, metric histories, a dataset
                                               # input, a logged and a registered model, a
                                               # run using the logged model, a failed run, nested runs, deleted run/experiment
    python3 mlflow_history.py extend STORE     # one more run, more points on an old run
    python3 mlflow_history.py check STORE DSN  # compare MLflow's API with prov9 over SQL

`check` prints one line of counts and exits non-zero listing every difference.
"""

import json
import math
import os
import sys
import warnings

# MLflow 3 keeps the file store for existing mlruns/ directories behind this switch.
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.entities import LoggedModelInput, Metric, ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

STEPS = 2500
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def use(store):
    # A path is a file store (mlruns/); sqlite:///… and postgresql://… are tracking databases.
    uri = store if "://" in store else "file:" + os.path.abspath(store)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def history(client, run_id, key, steps, first_step=0, value=lambda s: 1.0 / (s + 1)):
    points = [Metric(key, value(s), BASE_MS + 1000 * s, s) for s in range(first_step, first_step + steps)]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i : i + 1000])


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


def generate(store):
    client = use(store)
    fraud = mlflow.set_experiment("fraud-detection")
    train = pd.DataFrame({"amount": [12.5, 80.0, 3.2], "merchant": ["a", "b", "c"], "label": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(train, source="s3://ml-data/fraud/train.parquet", name="fraud-train", targets="label")
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_params({"learning_rate": 0.05, "max_depth": 8, "n_estimators": 400})
        mlflow.set_tags({"team": "risk", "mlflow.source.git.commit": "8c1f0e2a9b", "mlflow.source.git.repoURL": "https://git.example.com/ml/fraud"})
        history(client, run.info.run_id, "loss", STEPS)
        history(client, run.info.run_id, "val/auc", STEPS, value=lambda s: 0.5 + s / (2.0 * STEPS))
        # JSON has no NaN or infinity: these travel as numeric strings.
        client.log_batch(run.info.run_id, metrics=[
            Metric("grad_norm", float("nan"), BASE_MS, 0),
            Metric("grad_norm", float("inf"), BASE_MS + 1, 1),
            Metric("grad_norm", 2.5, BASE_MS + 2, 2),
        ])
        mlflow.log_input(dataset, context="training")
        model = mlflow.pyfunc.log_model(name="model", python_model=Echo(), registered_model_name="fraud-detector")
    with mlflow.start_run(run_name="evaluate") as run:
        # The logged model as the run's input (MLflow 3): an edge model version -> run.
        client.log_inputs(run.info.run_id, models=[LoggedModelInput(model.model_id)])
        mlflow.log_metric("auc", 0.91)
    with mlflow.start_run(run_name="sweep") as parent:
        mlflow.log_param("search", "grid")
        for depth in (4, 6):
            with mlflow.start_run(run_name=f"depth-{depth}", nested=True) as child:
                mlflow.log_param("max_depth", depth)
                history(client, child.info.run_id, "loss", 300)
        history(client, parent.info.run_id, "best_loss", 10)
    with mlflow.start_run(run_name="broken") as run:
        mlflow.log_param("learning_rate", 5.0)
        history(client, run.info.run_id, "loss", 20, value=lambda s: 10.0 * (s + 1))
        mlflow.end_run(status="FAILED")

    churn = mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="kept") as run:
        mlflow.log_params({"model": "logreg", "C": 0.1})
        history(client, run.info.run_id, "accuracy", 50)
    with mlflow.start_run(run_name="thrown-away") as run:
        mlflow.log_param("model", "svm")
        history(client, run.info.run_id, "accuracy", 5)
    client.delete_run(run.info.run_id)

    scratch = mlflow.set_experiment("scratch")
    with mlflow.start_run(run_name="try") as run:
        mlflow.log_metric("x", 1.0)
    client.delete_experiment(scratch.experiment_id)
    print(f"generated {store}: experiments {fraud.experiment_id}, {churn.experiment_id}, {scratch.experiment_id} (deleted)")


def extend(store):
    """More history after a first import: a new run, and new points on an old run."""
    client = use(store)
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="second") as run:
        mlflow.log_param("model", "gbm")
        history(client, run.info.run_id, "accuracy", 1200)
    kept = client.search_runs(
        [client.get_experiment_by_name("churn").experiment_id],
        filter_string="attributes.run_name = 'kept'",
    )[0]
    history(client, kept.info.run_id, "accuracy", 30, first_step=50)
    print(f"extended {store}: run {run.info.run_id}, 30 more points on {kept.info.run_id}")


def ms(t):
    return None if t is None else round(t.timestamp() * 1000)


def number(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else repr(float(v))


STATES = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT", "RUNNING": "RUNNING", "SCHEDULED": "RUNNING"}


def check(store, dsn):
    import psycopg

    client = use(store)
    problems = []

    def same(what, mlflow_value, prov9_value):
        if mlflow_value == prov9_value:
            return
        if isinstance(mlflow_value, (list, set)):
            only_mlflow = sorted(set(mlflow_value) - set(prov9_value))
            only_prov9 = sorted(set(prov9_value) - set(mlflow_value))
            problems.append(f"{what}: {len(only_mlflow)} only in MLflow (first {only_mlflow[:3]}), "
                            f"{len(only_prov9)} only in prov9 (first {only_prov9[:3]})")
        else:
            problems.append(f"{what}: MLflow {mlflow_value!r}, prov9 {prov9_value!r}")

    db = psycopg.connect(dsn, autocommit=True)
    rows = lambda sql, *args: db.execute(sql, args).fetchall()

    experiments = client.search_experiments(view_type=ViewType.ALL)
    same("experiments", sorted(e.name for e in experiments),
         sorted(r[0] for r in rows("SELECT name FROM jobs WHERE namespace = 'mlflow'")))
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=50000)
    stored = {r[0][len("run:"):]: r for r in rows(
        "SELECT r.run_id, r.state, r.started_at, r.ended_at, r.parameters, r.environment, r.parent_run_id, j.name "
        "FROM runs r JOIN jobs j USING (job_id) WHERE j.namespace = 'mlflow'")}
    same("run ids", sorted(r.info.run_id for r in runs), sorted(stored))
    metrics = {}
    for run_id, key, step, ts, value in rows(
            "SELECT run_id, key, step, timestamp, value FROM metrics WHERE model_version_id IS NULL"):
        metrics.setdefault(run_id[len("run:"):], set()).add((key, step, ms(ts), number(value)))
    inputs = {}
    for run_id, version in rows(
            "SELECT e.dst, v.version FROM lineage_edges e JOIN dataset_versions v ON v.version_id = e.src "
            "WHERE e.edge_type = 'input'"):
        inputs.setdefault(run_id[len("run:"):], set()).add(version)
    model_inputs = {}
    for run_id, model_id in rows(
            "SELECT e.dst, m.version FROM lineage_edges e JOIN model_versions m ON m.version_id = e.src "
            "WHERE e.edge_type = 'input'"):
        model_inputs.setdefault(run_id[len("run:"):], set()).add(model_id)
    experiment_names = {e.experiment_id: e.name for e in experiments}
    counts = dict(params=0, tags=0, points=0, inputs=0, model_inputs=0, deleted=0)
    for run in runs:
        info, data = run.info, run.data
        row = stored.get(info.run_id)
        if row is None:
            continue
        _, state, started, ended, parameters, environment, parent, job = row
        environment = json.loads(environment)
        what = f"run {info.run_id} ({info.run_name})"
        same(f"{what} job", experiment_names[info.experiment_id], job)
        same(f"{what} state", STATES[info.status], state)
        same(f"{what} start", info.start_time, ms(started))
        if info.status in ("FINISHED", "FAILED", "KILLED"):
            same(f"{what} end", info.end_time, ms(ended))
        same(f"{what} params", data.params, json.loads(parameters))
        same(f"{what} tags", data.tags, environment["tags"])
        same(f"{what} user", info.user_id, environment["mlflow"].get("user"))
        same(f"{what} lifecycle", info.lifecycle_stage, environment["mlflow"]["lifecycleStage"])
        same(f"{what} parent", data.tags.get("mlflow.parentRunId"), parent and parent[len("run:"):])
        # A metric point is (key, step, timestamp, value); a line MLflow wrote twice is one point.
        points = set()
        for key in data.metrics:
            for m in client.get_metric_history(info.run_id, key):
                points.add((m.key, m.step, m.timestamp, number(m.value)))
        same(f"{what} metric points", sorted(points), sorted(metrics.get(info.run_id, ())))
        digests = {d.dataset.digest for d in run.inputs.dataset_inputs}
        same(f"{what} dataset inputs", digests, inputs.get(info.run_id, set()))
        used = {m.model_id for m in client.get_run(info.run_id).inputs.model_inputs}
        same(f"{what} model inputs", used, model_inputs.get(info.run_id, set()))
        counts["model_inputs"] += len(used)
        counts["params"] += len(data.params)
        counts["tags"] += len(data.tags)
        counts["points"] += len(points)
        counts["inputs"] += len(digests)
        counts["deleted"] += info.lifecycle_stage == "deleted"

    models = {(r[0], r[1]): r[2] for r in rows(
        "SELECT name, version, training_run_id FROM model_versions WHERE namespace = 'mlflow'")}
    logged = client.search_logged_models(experiment_ids=[e.experiment_id for e in experiments])
    registered = client.search_model_versions()
    expected = {}
    for m in logged:
        expected[(f"{experiment_names[m.experiment_id]}/{m.name}", m.model_id)] = f"run:{m.source_run_id}"
    for v in registered:
        expected[(v.name, str(v.version))] = f"run:{v.run_id}"
    same("model versions", expected, models)

    print(f"MLflow and prov9 agree on {len(experiments)} experiments, {len(runs)} runs ({counts['deleted']} deleted), "
          f"{counts['params']} params, {counts['tags']} tags, {counts['points']} metric points, "
          f"{counts['inputs']} dataset inputs, {counts['model_inputs']} model inputs, {len(logged)} logged models, {len(registered)} registered model versions"
          if not problems else f"{len(problems)} differences")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    command, store = sys.argv[1], sys.argv[2]
    if command == "generate":
        generate(store)
    elif command == "extend":
        extend(store)
    elif command == "check":
        sys.exit(check(store, sys.argv[3]))
    else:
        sys.exit(f"unknown command {command}")
