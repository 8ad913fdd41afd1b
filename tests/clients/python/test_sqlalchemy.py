#!/usr/bin/env python3
"""SQLAlchemy 2 (postgresql+psycopg dialect) and pandas against a running `prov9 serve --demo`.

Usage: PGHOST=127.0.0.1 PGPORT=5433 PGUSER=prov9 PGDATABASE=prov9 python3 test_sqlalchemy.py

Runs every check, prints PASS/FAIL for each, ends with 'N passed, N failed', exits 1 on a failure.
The dialect's first connect runs its own catalog queries (version(), current_schema(),
standard_conforming_strings, ...), and the inspector asks pg_catalog about tables, views and
columns, so these checks exercise the catalog the way ORMs and notebooks do.
"""
import os
import warnings

import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from _harness import Runner, conninfo, env, expect, expect_eq, schema_tables

T = Runner("test_sqlalchemy")
TABLES = schema_tables()
e = env()
URL_ = URL.create("postgresql+psycopg", username=e["user"], password=e["password"], host=e["host"],
                  port=e["port"], database=e["dbname"])
# Diagnostic only: SA_WORKAROUNDS=1 sidesteps two server gaps that stop SQLAlchemy before any
# check runs, to show which checks fail next: (1) the dialect parses `SELECT version()` and refuses
# an answer without "PostgreSQL N.N" (assume 16.0); (2) psycopg's TypeInfo.fetch('hstore') wraps its
# pg_type query in SAVEPOINT (use_native_hstore=False skips it). The checks without it are the spec.
WORKAROUNDS = bool(os.environ.get("SA_WORKAROUNDS"))
engine = sa.create_engine(URL_, connect_args={"connect_timeout": 10},
                          **({"use_native_hstore": False} if WORKAROUNDS else {}))
if WORKAROUNDS:
    engine.dialect._get_server_version_info = lambda connection: (16, 0)
    print("NOTE: SA_WORKAROUNDS set: version() parse and hstore lookup bypassed (diagnostic run, not the spec)")


def truth(sql):
    """The answer through plain psycopg: the other path to compare with."""
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        return conn.execute(sql).fetchall()


@T.check("SELECT version() names PostgreSQL N.N (SQLAlchemy, pgjdbc and BI tools parse it)")
def _():
    (v,) = truth("SELECT version()")[0]
    import re
    expect(re.match(r".*PostgreSQL (\d+)\.?(\d+)?", v), f"version() = {v!r}")
    return v


@T.check("engine connects (dialect initialisation queries succeed) and SELECT works")
def _():
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM runs")).scalar_one()
        expect_eq(n, truth("SELECT count(*) FROM runs")[0][0], "count(*) FROM runs via SQLAlchemy vs psycopg")
        ver = engine.dialect.server_version_info
        expect(ver is not None and ver[0] >= 9, f"server_version_info {ver}")
        expect_eq(engine.dialect.default_schema_name, "public", "dialect.default_schema_name (current_schema())")
        return f"{n} runs, server_version_info={ver}"


@T.check("text() with bound parameters (:state, :n)")
def _():
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id FROM runs WHERE state = :state ORDER BY run_id LIMIT :n"),
                            {"state": "COMPLETE", "n": 3}).all()
        want = truth("SELECT run_id FROM runs WHERE state = 'COMPLETE' ORDER BY run_id LIMIT 3")
        expect_eq([tuple(r) for r in rows], want, "rows")


@T.check("inspect(engine).get_schema_names() includes public")
def _():
    names = inspect(engine).get_schema_names()
    expect("public" in names, f"schemas: {names}")
    return ", ".join(names)


@T.check("inspect(engine).get_table_names() is exactly the tables of sql/schema.sql")
def _():
    names = inspect(engine).get_table_names()
    missing = sorted(set(TABLES) - set(names))
    expect(not missing, f"missing tables {missing}; got {sorted(names)}")
    extra = sorted(set(names) - set(TABLES))
    expect(not extra, f"unexpected tables {extra}")
    expect("lineage_nodes" not in names, "the view lineage_nodes is listed as a table")
    return f"{len(names)} tables"


@T.check("inspect(engine).get_view_names() includes lineage_nodes")
def _():
    names = inspect(engine).get_view_names()
    expect("lineage_nodes" in names, f"views: {names}")
    return ", ".join(names)


@T.check("inspect(engine).get_columns('runs'): names in schema.sql order, sane types and nullability")
def _():
    cols = inspect(engine).get_columns("runs")
    names = [c["name"] for c in cols]
    expect_eq(names, [c for c, _ in TABLES["runs"]], "runs columns")
    by = {c["name"]: c for c in cols}
    for name, declared in TABLES["runs"]:
        t = by[name]["type"]
        if declared == "VARCHAR":
            expect(isinstance(t, (sa.String, sa.Text)), f"runs.{name}: {t!r} is not a string type")
        elif declared == "TIMESTAMP":
            expect(isinstance(t, sa.DateTime), f"runs.{name}: {t!r} is not DateTime")
            expect(getattr(t, "timezone", False), f"runs.{name}: {t!r} lacks timezone=True (schema: TIMESTAMPTZ over the wire)")
    for name in ("run_id", "job_id", "state"):
        expect_eq(by[name]["nullable"], False, f"runs.{name} nullable (NOT NULL in schema.sql)")
    for name in ("parent_run_id", "ended_at"):
        expect_eq(by[name]["nullable"], True, f"runs.{name} nullable")


@T.check("inspect(engine).get_columns for every table: names match sql/schema.sql")
def _():
    insp = inspect(engine)
    bad = []
    for table, cols in TABLES.items():
        got = [c["name"] for c in insp.get_columns(table)]
        if got != [c for c, _ in cols]:
            bad.append(f"{table}: {got}")
    expect(not bad, "; ".join(bad))


@T.check("inspect(engine).get_columns('lineage_nodes') (a view)")
def _():
    names = [c["name"] for c in inspect(engine).get_columns("lineage_nodes")]
    expect_eq(names, ["node_id", "kind", "namespace", "name", "version", "created_at"], "lineage_nodes columns")


@T.check("has_table('runs') is True, has_table('nope') is False")
def _():
    insp = inspect(engine)
    expect_eq(insp.has_table("runs"), True, "has_table('runs')")
    expect_eq(insp.has_table("no_such_table"), False, "has_table('no_such_table')")


@T.check("pandas.read_sql(SELECT * FROM runs) has the right shape, columns and dtypes")
def _():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas warns when it cannot use the connectable
        df = pd.read_sql("SELECT * FROM runs ORDER BY run_id", engine)
    n = truth("SELECT count(*) FROM runs")[0][0]
    expect_eq(df.shape, (n, len(TABLES["runs"])), "DataFrame shape")
    expect_eq(list(df.columns), [c for c, _ in TABLES["runs"]], "DataFrame columns")
    expect(pd.api.types.is_datetime64_any_dtype(df["started_at"]), f"started_at dtype {df['started_at'].dtype}")
    expect(getattr(df["started_at"].dtype, "tz", None) is not None, f"started_at dtype {df['started_at'].dtype} has no tz")
    expect_eq(df["run_id"].tolist(), [r[0] for r in truth("SELECT run_id FROM runs ORDER BY run_id")], "run ids")
    return f"shape {df.shape}"


@T.check("pandas.read_sql with params and an aggregate: metrics per key")
def _():
    df = pd.read_sql(text("SELECT key, count(*) AS n, avg(value) AS mean FROM metrics "
                          "WHERE value >= :lo GROUP BY key ORDER BY key"), engine, params={"lo": 0.0})
    want = truth("SELECT key, count(*), avg(value) FROM metrics WHERE value >= 0.0 GROUP BY key ORDER BY key")
    expect_eq(df.shape, (len(want), 3), "shape")
    expect_eq(df["key"].tolist(), [w[0] for w in want], "keys")
    expect_eq(df["n"].tolist(), [w[1] for w in want], "counts")
    expect(all(abs(a - b) < 1e-12 for a, b in zip(df["mean"].tolist(), [w[2] for w in want])), "means")
    return f"{len(df)} keys"


@T.check("pandas.read_sql(chunksize=5) streams all rows")
def _():
    chunks = list(pd.read_sql("SELECT run_id FROM runs ORDER BY run_id", engine, chunksize=5))
    n = truth("SELECT count(*) FROM runs")[0][0]
    expect_eq(sum(len(c) for c in chunks), n, "rows over chunks")
    expect(all(len(c) <= 5 for c in chunks), "chunk larger than 5")


@T.check("writes through SQLAlchemy raise ProgrammingError with SQLSTATE 42501")
def _():
    with engine.connect() as conn:
        try:
            conn.execute(text("INSERT INTO runs (run_id, job_id, state) VALUES (:r, 'job:x', 'START')"), {"r": "run:x"})
            raise AssertionError("INSERT succeeded")
        except sa.exc.DBAPIError as err:
            expect_eq(getattr(err.orig, "sqlstate", None), "42501", f"sqlstate ({err.orig})")
        conn.rollback()
        expect_eq(conn.execute(text("SELECT 1")).scalar_one(), 1, "connection usable after rollback")


T.finish()
