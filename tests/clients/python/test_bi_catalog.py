#!/usr/bin/env python3
"""The catalog queries BI and SQL tools send on connect and to list tables, run through psycopg.

Usage: PGHOST=127.0.0.1 PGPORT=5433 PGUSER=prov9 PGDATABASE=prov9 python3 test_bi_catalog.py

The statements are the ones captured from Grafana, Metabase and DBeaver in datafusion-postgres'
tests (tests/grafana.rs, metabase.rs, dbeaver.rs), with Grafana's column query pointed at
public.runs. Each runs over the extended protocol (Parse/Bind/Execute: what pgjdbc, pgx and
psycopg send) and over the simple protocol, and its rows are checked against sql/schema.sql.
Runs every check, prints ok/FAIL, ends with 'N passed, N failed' and exits 1 on a failure.
"""
import psycopg

from _harness import CheckFailed, Runner, conninfo, env, expect, expect_eq, schema_tables

T = Runner("test_bi_catalog")
TABLES = schema_tables()
RUNS_COLUMNS = [c for c, _ in TABLES["runs"]]
VIEWS = ["lineage_nodes", "prov9_commits"]

_SEARCH_PATH_SCHEMAS = """
              SELECT
                CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
              FROM
                generate_series(
                  array_lower(string_to_array(current_setting('search_path'),','),1),
                  array_upper(string_to_array(current_setting('search_path'),','),1)
                ) as i,
                string_to_array(current_setting('search_path'),',') s
"""

GRAFANA_TABLES = f"""SELECT
        CASE WHEN
              quote_ident(table_schema) IN ({_SEARCH_PATH_SCHEMAS})
          THEN quote_ident(table_name)
          ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
        END AS "table"
        FROM information_schema.tables
        WHERE quote_ident(table_schema) NOT IN ('information_schema',
                                 'pg_catalog',
                                 '_timescaledb_cache',
                                 '_timescaledb_catalog',
                                 '_timescaledb_internal',
                                 '_timescaledb_config',
                                 'timescaledb_information',
                                 'timescaledb_experimental')
        ORDER BY CASE WHEN
              quote_ident(table_schema) IN ({_SEARCH_PATH_SCHEMAS}) THEN 0 ELSE 1 END, 1"""

GRAFANA_COLUMNS = f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
        FROM information_schema.columns
        WHERE
          CASE WHEN array_length(parse_ident('public.runs'),1) = 2
            THEN quote_ident(table_schema) = (parse_ident('public.runs'))[1]
              AND quote_ident(table_name) = (parse_ident('public.runs'))[2]
            ELSE quote_ident(table_name) = 'public.runs'
              AND
              quote_ident(table_schema) IN ({_SEARCH_PATH_SCHEMAS})
          END"""

METABASE_SCHEMAS = """SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM\""""

METABASE_PRIVILEGES = """with table_privileges as (
         select
           NULL as role,
           t.schemaname as schema,
           t.objectname as table,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
           pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
         from (
           select schemaname, tablename as objectname from pg_catalog.pg_tables
           union
           select schemaname, viewname as objectname from pg_catalog.pg_views
           union
           select schemaname, matviewname as objectname from pg_catalog.pg_matviews
         ) t
         where t.schemaname !~ '^pg_'
           and t.schemaname <> 'information_schema'
           and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
        )
        select t.*
        from table_privileges t"""

METABASE_TABLES = """SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = '0') AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('public')) ORDER BY "type" ASC, "schema" ASC, "name" ASC"""

DBEAVER_NAMESPACES = "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname"


def run_both(sql):
    """Rows (as dicts) over the extended protocol, after checking the simple protocol agrees."""
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        errors = []
        results = {}
        for proto, cur in (("extended", conn.cursor()), ("simple", psycopg.ClientCursor(conn))):
            try:
                cur.execute(sql)
                if cur.description is None:
                    results[proto] = (None, [])
                else:
                    names = [d.name for d in cur.description]
                    results[proto] = (names, [dict(zip(names, r)) for r in cur.fetchall()])
            except psycopg.Error as e:
                errors.append(f"{proto} protocol: {type(e).__name__} [SQLSTATE {e.sqlstate}]: {str(e).strip()}")
        if errors:
            raise CheckFailed("; ".join(errors))
        # Row order is compared only as a multiset: some of these queries have no ORDER BY.
        (sn, sr), (en, er) = results["simple"], results["extended"]
        expect_eq(sn, en, "simple vs extended protocol column names")
        expect_eq(sorted(map(repr, sr)), sorted(map(repr, er)), "simple vs extended protocol rows")
        return results["extended"]


def ok_statement(sql):
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        for proto, cur in (("extended", conn.cursor()), ("simple", psycopg.ClientCursor(conn))):
            try:
                cur.execute(sql)
            except psycopg.Error as e:
                raise CheckFailed(f"{proto} protocol: {type(e).__name__} [SQLSTATE {e.sqlstate}]: {str(e).strip()}")


# --- Grafana (PostgreSQL data source) ----------------------------------------------------------

@T.check("Grafana: table list (information_schema.tables, search_path via current_setting)")
def _():
    names, rows = run_both(GRAFANA_TABLES)
    expect_eq(names, ["table"], "columns")
    got = [r["table"] for r in rows]
    # Grafana qualifies names whose schema it does not find on the search path; prov9 cannot
    # run its `string_to_array(...) AS s` in FROM, so names come back as public.<table>.
    for t in list(TABLES) + VIEWS:
        expect(t in got or f"public.{t}" in got, f"{t} missing: {got}")
    return f"{len(got)} rows"


@T.check("Grafana: column list of public.runs (parse_ident, information_schema.columns)")
def _():
    names, rows = run_both(GRAFANA_COLUMNS)
    expect_eq(names, ["column", "type"], "columns")
    got = {r["column"]: r["type"] for r in rows}
    expect_eq(sorted(got), sorted(RUNS_COLUMNS), "runs columns")
    # information_schema is DataFusion's, with Arrow type names (Timestamp(µs, "UTC"), Utf8View).
    expect(all(got.values()), f"every column has a data_type: {got}")


@T.check("Grafana: current_setting('search_path') contains public")
def _():
    names, rows = run_both("SELECT current_setting('search_path') AS sp")
    expect("public" in rows[0]["sp"], f"search_path = {rows[0]['sp']!r}")


# --- Metabase (pgjdbc-based driver) ------------------------------------------------------------

@T.check("Metabase: session setup (SET extra_float_digits, application_name, isolation level)")
def _():
    for sql in ("SET extra_float_digits = 2",
                "SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'",
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"):
        ok_statement(sql)


@T.check("Metabase: SHOW TRANSACTION ISOLATION LEVEL answers an isolation level")
def _():
    names, rows = run_both("SHOW TRANSACTION ISOLATION LEVEL")
    expect_eq(len(rows), 1, "rows")
    (value,) = rows[0].values()
    expect(value in ("read committed", "read uncommitted", "repeatable read", "serializable"), f"value {value!r}")
    return value


@T.check("Metabase: show timezone answers a time zone name")
def _():
    names, rows = run_both("show timezone")
    expect_eq(len(rows), 1, "rows")
    expect_eq(names, ["TimeZone"], "column name")
    (value,) = rows[0].values()
    expect(value in ("UTC", "Etc/UTC", "GMT"), f"TimeZone = {value!r} (column {names})")
    return value


@T.check("Metabase: schema list (pg_namespace, current_schemas(true)[1], !~) includes public")
def _():
    names, rows = run_both(METABASE_SCHEMAS)
    expect_eq(names, ["TABLE_SCHEM", "TABLE_CATALOG"], "columns")
    schemas = [r["TABLE_SCHEM"] for r in rows]
    expect("public" in schemas, f"schemas {schemas}")
    return ", ".join(schemas)


@T.check("Metabase: table privileges lists every table and the view with select = true")
def _():
    names, rows = run_both(METABASE_PRIVILEGES)
    expect_eq(names, ["role", "schema", "table", "update", "select", "insert", "delete"], "columns")
    public = {r["table"]: r for r in rows if r["schema"] == "public"}
    for t in list(TABLES) + VIEWS:
        expect(t in public, f"{t} missing from table_privileges: {sorted(public)}")
        expect_eq(public[t]["select"], True, f"select privilege on {t}")
    return f"{len(rows)} rows"


@T.check("Metabase: table privileges say update/insert/delete = false (prov9 is read-only)")
def _():
    names, rows = run_both(METABASE_PRIVILEGES)
    bad = [(r["table"], p) for r in rows if r["schema"] == "public"
           for p in ("update", "insert", "delete") if r[p] is not False]
    expect(not bad, f"write privileges reported on a read-only server: {bad[:6]}{' ...' if len(bad) > 6 else ''}")


@T.check("Metabase: table list (pg_class, pg_description, pg_stat_user_tables): tables and the view, typed")
def _():
    names, rows = run_both(METABASE_TABLES)
    expect_eq(names, ["schema", "name", "type", "description", "estimated_row_count"], "columns")
    kinds = {r["name"]: r["type"] for r in rows}
    for t in TABLES:
        expect_eq(kinds.get(t), "TABLE", f"type of {t}")
    for v in VIEWS:
        expect_eq(kinds.get(v), "VIEW", f"type of {v}")
    return f"{len(rows)} relations"


# --- DBeaver (pgjdbc-based) --------------------------------------------------------------------

@T.check("DBeaver: SELECT current_schema(), session_user")
def _():
    names, rows = run_both("SELECT current_schema(),session_user")
    values = list(rows[0].values())
    expect_eq(values[0], "public", "current_schema()")
    expect(values[1], f"session_user = {values[1]!r}")


@T.check("DBeaver: namespaces with descriptions (pg_namespace, 'pg_namespace'::regclass)")
def _():
    names, rows = run_both(DBEAVER_NAMESPACES)
    expect("nspname" in names and "oid" in names, f"columns {names}")
    expect("public" in [r["nspname"] for r in rows], "public missing")


@T.check("DBeaver/pgAdmin: SELECT version() names PostgreSQL")
def _():
    _, rows = run_both("SELECT version()")
    v = list(rows[0].values())[0]
    expect(v.startswith("PostgreSQL "), f"version() = {v!r}")


@T.check("DBeaver: SHOW search_path contains public")
def _():
    _, rows = run_both("SHOW search_path")
    expect("public" in list(rows[0].values())[0], f"search_path {rows}")


@T.check("DBeaver: pg_settings has standard_conforming_strings = on")
def _():
    _, rows = run_both("SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'")
    expect_eq([r["setting"] for r in rows], ["on"], "standard_conforming_strings in pg_settings")


@T.check("DBeaver: pg_database has the current database")
def _():
    _, rows = run_both("SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=current_database()")
    expect_eq(len(rows), 1, "pg_database rows for current_database()")


@T.check("DBeaver: relations of public via pg_class with pg_total_relation_size")
def _():
    names, rows = run_both(
        "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') ORDER BY c.relname")
    kinds = {r["relname"]: r["relkind"] for r in rows}
    for t in TABLES:
        expect_eq(kinds.get(t), "r", f"relkind of {t}")
    for v in VIEWS:
        expect_eq(kinds.get(v), "v", f"relkind of {v}")
    _, rows = run_both("select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,"
                       "pg_catalog.pg_relation_size(c.oid) as rel_size FROM pg_class c WHERE c.relname = 'runs'")
    expect_eq(len(rows), 1, "pg_class row for runs")


T.finish()
