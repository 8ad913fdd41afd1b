"""A small DAG for tests/airflow.rs, run by a real Airflow scheduler with the OpenLineage
provider: two tasks that read and write files (lineage from inlets and outlets), and one that
fails after declaring its output."""

from datetime import datetime

from airflow.sdk import DAG, Asset, task

RAW = Asset("file:///data/raw/orders.csv")
STAGED = Asset("file:///data/staging/orders.parquet")
DAILY = Asset("file:///data/marts/orders_daily.parquet")
BROKEN = Asset("file:///data/marts/refunds.parquet")

with DAG(
    dag_id="shop",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["shop"],
    owner_links={},
    default_args={"owner": "data-team", "retries": 0},
):

    @task(inlets=[RAW], outlets=[STAGED])
    def extract():
        return 3

    @task(inlets=[STAGED], outlets=[DAILY])
    def aggregate(rows):
        return rows * 2

    @task(inlets=[STAGED], outlets=[BROKEN])
    def refunds(rows):
        raise ValueError("refunds: upstream schema changed")

    rows = extract()
    aggregate(rows)
    refunds(rows)
