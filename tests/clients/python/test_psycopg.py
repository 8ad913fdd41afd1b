#!/usr/bin/env python3
"""psycopg 3 against a running `prov9 serve --demo`.

Usage: PGHOST=127.0.0.1 PGPORT=5433 PGUSER=prov9 PGDATABASE=prov9 python3 test_psycopg.py

Runs every check, prints PASS/FAIL for each, ends with 'N passed, N failed' and exits 1 if any
check failed. psycopg 3 binds parameters server-side (extended protocol: Parse/Bind/Execute);
psycopg.ClientCursor interpolates on the client and sends a simple Query, which here serves as a
second path to the same answer.
"""
import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import errors, pq

from _harness import Runner, conninfo, expect, expect_eq, schema_tables

T = Runner("test_psycopg")
TABLES = schema_tables()
RUNS_COLUMNS = [c for c, _ in TABLES["runs"]]

# Type oids (pg_type.oid) the server should announce in RowDescription.
BOOL, INT8, INT4, FLOAT8, TEXT, VARCHAR, TIMESTAMP, TIMESTAMPTZ = 16, 20, 23, 701, 25, 1043, 1114, 1184


def connect(**kw):
    return psycopg.connect(conninfo(), **kw)


def one(conn, sql, params=None, **kw):
    return conn.execute(sql, params, **kw).fetchone()


def expect_sqlstate(conn, sql, params, sqlstate, *, exc_class=None):
    """The statement fails with `sqlstate`; returns the error's message."""
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        expect(e.sqlstate is not None, f"{sql!r}: error without a sqlstate: {e}")
        expect_eq(e.sqlstate, sqlstate, f"sqlstate of {sql!r} (message: {str(e).strip()})")
        if exc_class is not None:
            expect(isinstance(e, exc_class), f"{sql!r}: {type(e).__name__} is not {exc_class.__name__}")
        return str(e).strip().splitlines()[0]
    raise AssertionError(f"{sql!r} succeeded, expected SQLSTATE {sqlstate}")


# --- connection and server parameters ----------------------------------------------------------

@T.check("connect (trust auth, any user) and report server parameters")
def _():
    with connect(autocommit=True) as conn:
        info = conn.info
        expect_eq(info.status, pq.ConnStatus.OK, "connection status")
        expect(info.server_version >= 90000, f"server_version {info.server_version} (psycopg needs >= 9.0 semantics)")
        expect_eq(info.parameter_status("client_encoding"), "UTF8", "client_encoding")
        expect_eq(info.parameter_status("standard_conforming_strings"), "on", "standard_conforming_strings")
        expect(info.parameter_status("server_version") is not None, "no server_version ParameterStatus")
        ds = info.parameter_status("DateStyle")
        expect(ds is not None and ds.startswith("ISO"), f"DateStyle should start with ISO, got {ds!r}")
        expect(info.backend_pid is not None, "no BackendKeyData pid")
        return f"server_version={info.parameter_status('server_version')}, pid={info.backend_pid}"


@T.check("count(*) FROM runs agrees across extended protocol, simple protocol, row count and psql")
def _():
    with connect(autocommit=True) as conn:
        (extended,) = one(conn, "SELECT count(*) FROM runs")
        with psycopg.ClientCursor(conn) as cur:
            cur.execute("SELECT count(*) FROM runs")
            (simple,) = cur.fetchone()
        rows = conn.execute("SELECT run_id FROM runs").fetchall()
        (distinct,) = one(conn, "SELECT count(DISTINCT run_id) FROM runs")
    expect(isinstance(extended, int), f"count(*) is {type(extended).__name__}, not int")
    expect_eq(simple, extended, "count(*) via simple protocol vs extended")
    expect_eq(len(rows), extended, "rows of SELECT run_id FROM runs vs count(*)")
    expect_eq(distinct, extended, "count(DISTINCT run_id) vs count(*) (one row per run)")
    expect(extended > 0, "runs is empty: start the server with --demo")
    if shutil.which("psql"):
        out = subprocess.run(["psql", "-X", "-At", "-c", "SELECT count(*) FROM runs"],
                             capture_output=True, text=True, timeout=30)
        expect_eq(out.returncode, 0, f"psql exit status (stderr: {out.stderr.strip()})")
        expect_eq(int(out.stdout.strip()), extended, "count(*) via psql")
    return f"{extended} runs"


@T.check("runs column names and type oids in RowDescription match sql/schema.sql")
def _():
    with connect(autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM runs LIMIT 1")
        names = [d.name for d in cur.description]
        expect_eq(names, RUNS_COLUMNS, "columns of SELECT * FROM runs")
        oids = {d.name: d.type_code for d in cur.description}
        expect(oids["run_id"] in (TEXT, VARCHAR), f"run_id type oid {oids['run_id']}, want text/varchar")
        # schema.sql: timestamps are UTC, TIMESTAMP WITH TIME ZONE over the wire.
        for c in ("started_at", "ended_at", "updated_at"):
            expect_eq(oids[c], TIMESTAMPTZ, f"type oid of runs.{c}")
        row = cur.fetchone()
        expect(row is not None, "no row")
        expect(isinstance(row[names.index("started_at")], (datetime, type(None))), "started_at not a datetime")


# --- parameters (server-side binding) ----------------------------------------------------------

@T.check("text parameter: WHERE state = %s matches the simple-protocol answer")
def _():
    with connect(autocommit=True) as conn:
        (bound,) = one(conn, "SELECT count(*) FROM runs WHERE state = %s", ["COMPLETE"])
        with psycopg.ClientCursor(conn) as cur:
            cur.execute("SELECT count(*) FROM runs WHERE state = 'COMPLETE'")
            (literal,) = cur.fetchone()
        (all_runs,) = one(conn, "SELECT count(*) FROM runs")
        (none,) = one(conn, "SELECT count(*) FROM runs WHERE state = %s", ["no such state"])
    expect_eq(bound, literal, "count with bound text parameter vs literal")
    expect(0 < bound <= all_runs, f"COMPLETE runs {bound} of {all_runs}")
    expect_eq(none, 0, "count for an unknown state")
    return f"{bound} COMPLETE"


@T.check("int parameter: LIMIT %s and = %s on a bigint column")
def _():
    with connect(autocommit=True) as conn:
        rows = conn.execute("SELECT run_id FROM runs ORDER BY run_id LIMIT %s", [5]).fetchall()
        expect_eq(len(rows), 5, "rows with LIMIT 5")
        allrows = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall()]
        expect_eq([r[0] for r in rows], allrows[:5], "LIMIT %s rows are the first of the ordered set")
        (n,) = one(conn, "SELECT count(*) FROM transformations WHERE step = %s", [0])
        (m,) = one(conn, "SELECT count(*) FROM transformations WHERE step = 0")
        expect_eq(n, m, "count with bound int vs literal")
        (x,) = one(conn, "SELECT %s::bigint + 1", [41])
        expect_eq(x, 42, "%s::bigint + 1")


@T.check("float parameter: value > %s on metrics and arithmetic")
def _():
    with connect(autocommit=True) as conn:
        values = [r[0] for r in conn.execute("SELECT value FROM metrics WHERE value IS NOT NULL").fetchall()]
        expect(values, "metrics has no values")
        pivot = sorted(values)[len(values) // 2]
        (n,) = one(conn, "SELECT count(*) FROM metrics WHERE value > %s", [pivot])
        expect_eq(n, sum(1 for v in values if v > pivot), f"metrics with value > {pivot}")
        (x,) = one(conn, "SELECT %s::double precision * 2", [1.25])
        expect_eq(x, 2.5, "%s::double precision * 2")
        expect(isinstance(x, float), f"double comes back as {type(x).__name__}")


@T.check("timestamptz parameter: started_at >= %s (aware datetime) matches client-side filter")
def _():
    with connect(autocommit=True) as conn:
        started = [r[0] for r in conn.execute("SELECT started_at FROM runs WHERE started_at IS NOT NULL").fetchall()]
        expect(started, "no started_at values")
        expect(all(s.tzinfo is not None for s in started), f"started_at values are naive: {started[0]!r}")
        pivot = sorted(started)[len(started) // 2]
        # Same instant, other offset: the server must compare instants, not wall-clock text.
        pivot_cet = pivot.astimezone(timezone(timedelta(hours=2)))
        (n,) = one(conn, "SELECT count(*) FROM runs WHERE started_at >= %s", [pivot_cet])
        expect_eq(n, sum(1 for s in started if s >= pivot), f"runs started at or after {pivot_cet.isoformat()}")
        (echo,) = one(conn, "SELECT %s::timestamptz", [pivot_cet])
        expect_eq(echo, pivot, "timestamptz parameter echoed back (same instant)")


@T.check("NULL parameter: %s IS NULL, coalesce(%s, ...), col = NULL matches nothing")
def _():
    with connect(autocommit=True) as conn:
        expect_eq(one(conn, "SELECT %s::text IS NULL", [None])[0], True, "NULL::text IS NULL")
        expect_eq(one(conn, "SELECT coalesce(%s::text, 'fallback')", [None])[0], "fallback", "coalesce(NULL, ...)")
        expect_eq(one(conn, "SELECT count(*) FROM runs WHERE state = %s", [None])[0], 0, "state = NULL")
        expect_eq(one(conn, "SELECT %s::bigint", [None])[0], None, "NULL::bigint echoed")


@T.check("mixed parameters of several types in one statement")
def _():
    with connect(autocommit=True) as conn:
        ts = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
        row = one(conn, "SELECT %s::text, %s::bigint, %s::double precision, %s::boolean, %s::timestamptz, %s::text",
                  ["héllo 'quoted'", 7, 0.5, True, ts, None])
        expect_eq(tuple(row), ("héllo 'quoted'", 7, 0.5, True, ts, None), "echoed parameters")


@T.check("prepare=True: named prepared statement reused with different parameters")
def _():
    with connect(autocommit=True) as conn:
        sql = "SELECT run_id, state FROM runs WHERE state = %s ORDER BY run_id"
        plain = {s: conn.execute(sql, [s], prepare=False).fetchall() for s in ("COMPLETE", "FAIL")}
        for _ in range(3):  # first time prepares (Parse with a name), then Bind/Execute only
            for s in ("COMPLETE", "FAIL"):
                got = conn.execute(sql, [s], prepare=True).fetchall()
                expect_eq(got, plain[s], f"prepared result for state={s}")
        expect(plain["COMPLETE"], "no COMPLETE runs")
        # a prepared statement with a timestamptz and an int parameter
        sql2 = "SELECT count(*) FROM runs WHERE started_at < %s AND length(run_id) > %s"
        far = datetime(2100, 1, 1, tzinfo=timezone.utc)
        (n1,) = conn.execute(sql2, [far, 0], prepare=True).fetchone()
        (n2,) = conn.execute(sql2, [far, 0], prepare=True).fetchone()
        (n0,) = one(conn, "SELECT count(*) FROM runs WHERE started_at IS NOT NULL")
        expect_eq((n1, n2), (n0, n0), "prepared count twice vs unprepared")


@T.check("prepare_threshold=0: every statement prepared, executemany-free loop over run ids")
def _():
    with psycopg.connect(conninfo(), autocommit=True, prepare_threshold=0) as conn:
        ids = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall()]
        for rid in ids:
            (got,) = one(conn, "SELECT run_id FROM runs WHERE run_id = %s", [rid])
            expect_eq(got, rid, "run looked up by id")
        return f"{len(ids)} lookups"


# --- type round trips --------------------------------------------------------------------------

def _roundtrip(binary):
    with connect(autocommit=True) as conn:
        cur = conn.cursor(binary=binary)

        def val(sql):
            cur.execute(sql)
            return cur.fetchone()[0]

        expect_eq(val("SELECT true"), True, "SELECT true")
        expect_eq(val("SELECT false"), False, "SELECT false")
        expect_eq(val("SELECT 9007199254740993::bigint"), 9007199254740993, "bigint beyond 2^53")
        expect_eq(val("SELECT (-9223372036854775807 - 1)::bigint"), -9223372036854775808, "min bigint")
        expect_eq(val("SELECT 0.1::double precision"), 0.1, "0.1::double (shortest round-trip text)")
        expect_eq(val("SELECT 1e300::double precision"), 1e300, "1e300::double")
        expect_eq(val("SELECT NULL"), None, "SELECT NULL")
        expect_eq(val("SELECT CAST(NULL AS BIGINT)"), None, "NULL bigint")
        expect_eq(val("SELECT 'ünïcødé ✓'"), "ünïcødé ✓", "UTF-8 text")
        expect_eq(val("SELECT ARRAY[1,2,3]"), [1, 2, 3], "ARRAY[1,2,3]")
        expect_eq(val("SELECT ARRAY['a','b',NULL]"), ["a", "b", None], "text array with NULL")
        ts = val("SELECT CAST('2024-01-02 03:04:05+02' AS TIMESTAMPTZ)")
        expect(isinstance(ts, datetime) and ts.tzinfo is not None, f"timestamptz literal came back as {ts!r}")
        expect_eq(ts, datetime(2024, 1, 2, 1, 4, 5, tzinfo=timezone.utc), "timestamptz instant")
        started = val("SELECT started_at FROM runs WHERE started_at IS NOT NULL ORDER BY started_at LIMIT 1")
        expect(isinstance(started, datetime) and started.tzinfo is not None, f"runs.started_at came back as {started!r}")
        cols = val("SELECT input_columns FROM transformations WHERE cardinality(input_columns) > 0 LIMIT 1")
        expect(isinstance(cols, list) and cols and all(isinstance(c, str) for c in cols),
               f"transformations.input_columns (VARCHAR[]) came back as {cols!r}")


@T.check("type round trip, text result format")
def _():
    _roundtrip(binary=False)


@T.check("type round trip, binary result format (cursor(binary=True))")
def _():
    _roundtrip(binary=True)


@T.check("JSON text column: runs.parameters parses; ->> 'literal key' extracts a value")
def _():
    with connect(autocommit=True) as conn:
        rid, text = one(conn, "SELECT run_id, parameters FROM runs WHERE parameters IS NOT NULL ORDER BY run_id LIMIT 1")
        expect(isinstance(text, str), f"parameters came back as {type(text).__name__}")
        params = json.loads(text)
        expect(isinstance(params, dict) and params, f"parameters is not a JSON object: {text}")
        for key, want in params.items():
            with psycopg.ClientCursor(conn) as cur:
                cur.execute("SELECT parameters->>%s::text FROM runs WHERE run_id = %s", [key, rid])
                (got,) = cur.fetchone()
            expect_eq(got, want if isinstance(want, str) else json.dumps(want), f"parameters->>'{key}'")
        return f"{len(params)} keys of {rid}"


@T.check("JSON: ->> with the key as a parameter (%s::text: an untyped key has no type to plan with)")
def _():
    with connect(autocommit=True) as conn:
        rid, text = one(conn, "SELECT run_id, parameters FROM runs WHERE parameters IS NOT NULL ORDER BY run_id LIMIT 1")
        key, want = next(iter(json.loads(text).items()))
        (got,) = one(conn, "SELECT parameters->>%s::text FROM runs WHERE run_id = %s", [key, rid])
        expect_eq(got, want if isinstance(want, str) else json.dumps(want), f"parameters->>%s with {key!r}")


@T.check("JSON: CAST('...' AS JSON) and ::jsonb literals")
def _():
    with connect(autocommit=True) as conn:
        for sql in ("""SELECT CAST('{"a": [1, 2], "b": null}' AS JSON)""",
                    """SELECT '{"a": [1, 2], "b": null}'::jsonb"""):
            (j,) = one(conn, sql)
            if isinstance(j, str):
                j = json.loads(j)
            expect_eq(j, {"a": [1, 2], "b": None}, sql)


@T.check("untyped SELECT %s keeps the type psycopg declared for the parameter (int, float, bool, str)")
def _():
    with connect(autocommit=True) as conn:
        bad = []
        # (A bare NULL has no type for DataFusion to plan `SELECT $1` with; NULL parameters in
        # typed positions are checked above.)
        for value in ("abc", 5, 1.5, True):
            try:
                (got,) = one(conn, "SELECT %s", [value])
            except psycopg.Error as e:
                bad.append(f"{value!r} -> error {e.sqlstate}: {str(e).strip()}")
                continue
            if not (got == value and type(got) is type(value)):
                bad.append(f"{value!r} ({type(value).__name__}) -> {got!r} ({type(got).__name__})")
        expect(not bad, "SELECT %s: " + "; ".join(bad))


# --- errors ------------------------------------------------------------------------------------

@T.check("errors carry SQLSTATEs (42601 syntax, 42703 column, 42P01 table) and autocommit connection stays usable")
def _():
    with connect(autocommit=True) as conn:
        expect_sqlstate(conn, "SELEC 1", None, "42601", exc_class=errors.SyntaxError)
        expect_eq(one(conn, "SELECT 1")[0], 1, "SELECT 1 after syntax error")
        expect_sqlstate(conn, "SELECT no_such_column FROM runs", None, "42703", exc_class=errors.UndefinedColumn)
        expect_eq(one(conn, "SELECT count(*) FROM runs WHERE state = %s", ["FAIL"])[0] >= 0, True, "query after 42703")
        expect_sqlstate(conn, "SELECT * FROM no_such_table", None, "42P01", exc_class=errors.UndefinedTable)
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "status after errors in autocommit")
        expect_eq(one(conn, "SELECT 2")[0], 2, "SELECT 2 at the end")


@T.check("error inside a transaction: status INERROR, then rollback() and the connection works")
def _():
    with connect() as conn:  # non-autocommit: psycopg sends BEGIN before the first statement
        expect_eq(one(conn, "SELECT 1")[0], 1, "SELECT 1")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.INTRANS, "status after first statement")
        try:
            conn.execute("SELECT no_such_column FROM runs")
            raise AssertionError("bad column succeeded")
        except psycopg.Error as e:
            expect_eq(e.sqlstate, "42703", "sqlstate of bad column")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.INERROR, "status after error in transaction")
        conn.rollback()
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "status after rollback")
        expect_eq(one(conn, "SELECT count(*) FROM runs")[0] > 0, True, "query after rollback")
        conn.commit()


@T.check("error in a failed transaction block: next statement gets 25P02 until ROLLBACK")
def _():
    with connect() as conn:
        conn.execute("SELECT 1")
        try:
            conn.execute("SELEC 1")
        except psycopg.Error:
            pass
        expect_sqlstate(conn, "SELECT 1", None, "25P02")
        conn.rollback()
        expect_eq(one(conn, "SELECT 3")[0], 3, "after rollback")


# --- transactions ------------------------------------------------------------------------------

@T.check("implicit transactions: BEGIN on first statement, commit()/rollback() return to IDLE")
def _():
    with connect() as conn:
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "status before any statement")
        (n1,) = one(conn, "SELECT count(*) FROM runs")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.INTRANS, "status inside implicit transaction")
        conn.commit()
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "status after commit")
        (n2,) = one(conn, "SELECT count(*) FROM runs")
        conn.rollback()
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "status after rollback")
        expect_eq(n1, n2, "count in two transactions")
        with conn.transaction():  # nested: SAVEPOINT inside the outer BEGIN
            (n3,) = one(conn, "SELECT count(*) FROM runs")
        expect_eq(n3, n1, "count inside conn.transaction()")
        conn.commit()


@T.check("explicit BEGIN / COMMIT / ROLLBACK in autocommit mode and conn.transaction()")
def _():
    with connect(autocommit=True) as conn:
        conn.execute("BEGIN")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.INTRANS, "after BEGIN")
        (n,) = one(conn, "SELECT count(*) FROM runs")
        conn.execute("COMMIT")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "after COMMIT")
        conn.execute("BEGIN")
        conn.execute("SELECT 1")
        conn.execute("ROLLBACK")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "after ROLLBACK")
        with conn.transaction():
            expect_eq(conn.info.transaction_status, pq.TransactionStatus.INTRANS, "inside conn.transaction()")
            expect_eq(one(conn, "SELECT count(*) FROM runs")[0], n, "count inside conn.transaction()")
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.IDLE, "after conn.transaction()")


@T.check("SAVEPOINT / ROLLBACK TO / RELEASE inside a transaction (psycopg's nested conn.transaction())")
def _():
    with connect() as conn:
        (n,) = one(conn, "SELECT count(*) FROM runs")  # opens the outer transaction
        with conn.transaction():  # SAVEPOINT "_pg3_1" ... RELEASE "_pg3_1"
            expect_eq(one(conn, "SELECT count(*) FROM runs")[0], n, "count inside savepoint")
        try:
            with conn.transaction():  # SAVEPOINT ... ROLLBACK TO ... RELEASE
                conn.execute("SELECT no_such_column FROM runs")
        except psycopg.errors.UndefinedColumn:
            pass
        expect_eq(conn.info.transaction_status, pq.TransactionStatus.INTRANS, "outer transaction alive after ROLLBACK TO")
        expect_eq(one(conn, "SELECT count(*) FROM runs")[0], n, "count after rolled-back savepoint")
        conn.commit()


@T.check("read_only / isolation_level: BEGIN READ ONLY, BEGIN ISOLATION LEVEL SERIALIZABLE")
def _():
    with connect() as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        expect_eq(one(conn, "SELECT count(*) FROM runs")[0] > 0, True, "query in a read-only serializable transaction")
        conn.commit()
    with connect(autocommit=True) as conn:
        conn.execute("BEGIN READ ONLY")
        conn.execute("SELECT 1")
        conn.execute("COMMIT")
        conn.execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("SELECT 1")
        conn.execute("ROLLBACK")


@T.check("Describe Portal of a DECLAREd cursor returns its RowDescription")
def _():
    with connect() as conn:
        conn.execute("SELECT 1")
        conn.pgconn.exec_(b"DECLARE prov9_c CURSOR FOR SELECT run_id, started_at FROM runs ORDER BY run_id")
        res = conn.pgconn.describe_portal(b"prov9_c")
        expect_eq(res.status, pq.ExecStatus.COMMAND_OK, f"describe status ({res.error_message!r})")
        expect_eq([res.fname(i).decode() for i in range(res.nfields)], ["run_id", "started_at"],
                  "fields of Describe Portal (server answered NoData?)")
        conn.rollback()


NAMED_CURSOR = """
import psycopg, sys
from _harness import conninfo
with psycopg.connect(conninfo()) as conn:
    with conn.cursor(name="prov9_runs") as cur:
        cur.itersize = 5
        cur.execute("SELECT run_id FROM runs ORDER BY run_id")
        got = [r[0] for r in cur]
    want = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall()]
    if got != want:
        sys.exit(f"named cursor returned {got!r}, expected {want!r}")
    conn.commit()
"""


@T.check("server-side (named) cursor: conn.cursor(name=...) -> DECLARE/FETCH (run in a subprocess: may crash)")
def _():
    # A subprocess, because psycopg's C extension segfaults when FETCH returns columns that
    # Describe Portal did not announce.
    out = subprocess.run([sys.executable, "-c", NAMED_CURSOR], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent)
    expect(out.returncode == 0,
           f"named cursor subprocess exited {out.returncode}"
           f"{' (signal ' + str(-out.returncode) + ')' if out.returncode < 0 else ''}: {out.stderr.strip()[-400:]}")


# --- read-only ---------------------------------------------------------------------------------

@T.check("writes fail with SQLSTATE 42501 (InsufficientPrivilege) and the connection stays usable")
def _():
    with connect(autocommit=True) as conn:
        (before,) = one(conn, "SELECT count(*) FROM runs")
        for sql, params in [
            ("CREATE TABLE x(a int)", None),
            ("INSERT INTO runs (run_id, job_id, state) VALUES ('run:x', 'job:x', 'START')", None),
            ("INSERT INTO runs (run_id, job_id, state) VALUES (%s, %s, %s)", ["run:y", "job:y", "START"]),
            ("UPDATE runs SET state = 'FAIL'", None),
            ("DELETE FROM runs WHERE run_id = %s", ["run:x"]),
            ("DROP TABLE runs", None),
        ]:
            expect_sqlstate(conn, sql, params, "42501", exc_class=errors.InsufficientPrivilege)
        (after,) = one(conn, "SELECT count(*) FROM runs")
        expect_eq(after, before, "runs count after refused writes")
    with connect() as conn:  # inside a transaction too
        conn.execute("SELECT 1")
        expect_sqlstate(conn, "CREATE TABLE x(a int)", None, "42501")
        conn.rollback()
        expect_eq(one(conn, "SELECT 1")[0], 1, "after rollback of refused write")


T.finish()
