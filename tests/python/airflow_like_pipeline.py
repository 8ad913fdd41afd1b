#!/usr/bin/env python3
"""Write a two-day, Airflow-like pipeline with the real OpenLineage Python client.

Usage: airflow_like_pipeline.py OUTPUT.ndjson
       airflow_like_pipeline.py --files DIR/PREFIX
       airflow_like_pipeline.py --http URL [--gzip] [--check-dsn DSN]

Events go through openlineage-python's file transport: in append mode one JSON event per line,
exactly as a producer configured with `transport: {type: file, log_file_path: ..., append: true}`;
with --files the transport's default mode (one file per event, here in its pretty-printed debug
layout); with --http the HTTP transport to URL's /api/v1/lineage, as Airflow's OPENLINEAGE_URL does.
With --check-dsn, after every emit (which returns once the server answered 2xx) the events table is
read over the Postgres wire: each acknowledged event must already be there.
Each day: extract_orders (postgres -> raw/orders, row counts), clean_orders (raw -> clean, column
lineage), train_churn (clean -> model churn@<day>, prov9_training facet). On day 2 the first
clean_orders attempt fails with an error message and is retried.
"""
import sys
import uuid
from datetime import datetime, timedelta, timezone

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    error_message_run,
    output_statistics_output_dataset,
    schema_dataset,
    source_code_location_job,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpCompression, HttpConfig, HttpTransport

PRODUCER = "https://github.com/provenance-9/prov9/tests/python/airflow_like_pipeline.py"
NS = "airflow-prod"
DB = "postgres://shop-db:5432"
LAKE = "s3://acme-warehouse"


@attr.define
class Prov9TrainingRunFacet(RunFacet):
    """prov9's custom training facet (sent as `prov9_training`)."""

    model: dict
    architecture: str
    framework: str
    hyperparameters: dict
    metrics: dict = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return "https://github.com/provenance-9/prov9/blob/main/sql/facets/1-0-0/TrainingRunFacet.json"


def main(transport, check_dsn=None) -> None:
    client = OpenLineageClient(transport=transport)
    check = None
    if check_dsn:
        import psycopg
        check = psycopg.connect(check_dsn, autocommit=True)
    emitted = 0
    schema = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="order_id", type="BIGINT"),
        schema_dataset.SchemaDatasetFacetFields(name="customer_id", type="BIGINT"),
        schema_dataset.SchemaDatasetFacetFields(name="amount", type="DOUBLE"),
    ])
    code = source_code_location_job.SourceCodeLocationJobFacet(type="git", url="https://github.com/acme/dags/blob/main/orders.py", version="a1b2c3d")

    def emit(day_start, job, run_id, state, minute, inputs=(), outputs=(), run_facets=None):
        nonlocal emitted
        client.emit(RunEvent(
            eventType=state,
            eventTime=(day_start + timedelta(minutes=minute)).isoformat(),
            run=Run(runId=run_id, facets=run_facets or {}),
            job=Job(namespace=NS, name=job, facets={"sourceCodeLocation": code}),
            inputs=list(inputs), outputs=list(outputs), producer=PRODUCER))
        emitted += 1
        if check is not None:
            (stored,) = check.execute("SELECT count(*) FROM events").fetchone()
            if stored != emitted:
                sys.exit(f"after {emitted} acknowledged events, the events table holds {stored}")

    for day in (1, 2):
        start = datetime(2026, 11, day, 2, 0, tzinfo=timezone.utc)
        rows = 1000 * day
        # extract_orders: postgres -> raw/orders
        r = str(uuid.uuid5(uuid.NAMESPACE_URL, f"extract/{day}"))
        emit(start, "orders_dag.extract_orders", r, RunState.START, 0, inputs=[InputDataset(DB, "public.orders")])
        emit(start, "orders_dag.extract_orders", r, RunState.COMPLETE, 5, inputs=[InputDataset(DB, "public.orders")],
             outputs=[OutputDataset(LAKE, "raw/orders", facets={"schema": schema},
                                    outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows, size=rows * 24)})])
        # clean_orders: raw -> clean; day 2's first attempt fails
        lineage = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            "amount": column_lineage_dataset.Fields(inputFields=[column_lineage_dataset.InputField(LAKE, "raw/orders", "amount")], transformationDescription="round(amount, 2)", transformationType="TRANSFORMATION"),
            "customer_id": column_lineage_dataset.Fields(inputFields=[column_lineage_dataset.InputField(LAKE, "raw/orders", "customer_id")], transformationDescription="identity", transformationType="IDENTITY"),
        })
        attempts = [("fail", 10)] if day == 2 else []
        attempts.append(("ok", 20))
        for kind, minute in attempts:
            r = str(uuid.uuid5(uuid.NAMESPACE_URL, f"clean/{day}/{kind}"))
            emit(start, "orders_dag.clean_orders", r, RunState.START, minute, inputs=[InputDataset(LAKE, "raw/orders")])
            if kind == "fail":
                emit(start, "orders_dag.clean_orders", r, RunState.FAIL, minute + 2, inputs=[InputDataset(LAKE, "raw/orders")],
                     run_facets={"errorMessage": error_message_run.ErrorMessageRunFacet(message="psycopg2.OperationalError: server closed the connection unexpectedly", programmingLanguage="python")})
            else:
                emit(start, "orders_dag.clean_orders", r, RunState.COMPLETE, minute + 5, inputs=[InputDataset(LAKE, "raw/orders")],
                     outputs=[OutputDataset(LAKE, "clean/orders", facets={"schema": schema, "columnLineage": lineage},
                                            outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows - 10 * day)})])
        # train_churn: clean -> model churn@day
        r = str(uuid.uuid5(uuid.NAMESPACE_URL, f"train/{day}"))
        training = Prov9TrainingRunFacet(model={"name": "churn", "version": str(day)}, architecture="logistic_regression",
                                         framework="scikit-learn 1.5", hyperparameters={"C": 1.0 / day, "max_iter": 100 * day},
                                         metrics={"train_auc": 0.8 + day / 100})
        emit(start, "orders_dag.train_churn", r, RunState.START, 40, inputs=[InputDataset(LAKE, "clean/orders")])
        emit(start, "orders_dag.train_churn", r, RunState.COMPLETE, 55, inputs=[InputDataset(LAKE, "clean/orders")],
             run_facets={"prov9_training": training})


    print(f"emitted {emitted} events")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--http":
        http = HttpConfig(url=args[1], compression=HttpCompression.GZIP if "--gzip" in args else None)
        dsn = args[args.index("--check-dsn") + 1] if "--check-dsn" in args else None
        main(HttpTransport(http), dsn)
    else:
        per_file = args[0] == "--files"
        main(FileTransport(FileConfig(log_file_path=args[-1], append=not per_file, debug_mode=per_file)))
