"""The table definitions of sql/schema.sql, so every engine gets the same columns and types."""
import re
from pathlib import Path

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"

# The tables the queries read. Every table of schema.sql (TABLES, below) is exported from prov9
# and loaded into the peers, so that they load the same rows prov9's load writes.
QUERY_TABLES = ["jobs", "runs", "model_versions", "metrics", "deployments", "lineage_edges"]

# Indexes a PostgreSQL user would add for these queries: both directions of the edge list and
# the primary lookup column of each table they read. DuckDB gets none (its zone maps are what it
# uses).
QUERY_INDEXES = [
    ("lineage_edges", "src"), ("lineage_edges", "dst"), ("runs", "run_id"), ("jobs", "job_id"),
    ("model_versions", "version_id"), ("deployments", "deployment_id"),
]
# And, for a fair load, the id column of every other table that has one (its primary key in all
# but name). transformations (run_id, step) and column_lineage have no id column; metrics neither.
KEY_INDEXES = [("events", "event_id"), ("datasets", "dataset_id"), ("dataset_versions", "version_id")]
POSTGRES_INDEXES = QUERY_INDEXES + KEY_INDEXES


def columns():
    """{table: [(column, definition)]}, in schema.sql's order (definition = type [NOT NULL])."""
    text = SCHEMA_SQL.read_text()
    tables = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", text, re.S):
        cols = []
        for line in body.splitlines():
            line = line.split("--")[0].strip().rstrip(",")
            if line:
                col, definition = line.split(None, 1)
                cols.append((col, definition))
        tables[name] = cols
    missing = set(QUERY_TABLES) - set(tables)
    if missing:
        raise SystemExit(f"{SCHEMA_SQL}: no CREATE TABLE for {sorted(missing)}")
    return tables


# Every table prov9 writes, in schema.sql's order.
TABLES = list(columns())


def create_table(table, cols, dialect):
    """CREATE TABLE as written in schema.sql; PostgreSQL spells DOUBLE as DOUBLE PRECISION."""
    defs = []
    for col, definition in cols:
        if dialect == "postgres":
            definition = re.sub(r"\bDOUBLE\b", "DOUBLE PRECISION", definition)
        defs.append(f"{col} {definition}")
    return f"CREATE TABLE {table} (\n    " + ",\n    ".join(defs) + "\n)"


def column_list(cols):
    return ", ".join(col for col, _ in cols)


def is_list(definition):
    return "[]" in definition


def base_type(definition):
    return re.sub(r"\s+NOT NULL\b", "", definition).strip()


def export_list(cols):
    """The SELECT list that exports a table as CSV. prov9's CSV writer takes no list columns, so a
    VARCHAR[] goes out as PostgreSQL's array literal ({"a","b,c"}: every element quoted, with \\
    before " and \\), which PostgreSQL's COPY reads as is and DuckDB's load turns into a list."""
    out = []
    for col, definition in cols:
        if is_list(definition):
            joined = f"array_to_string({col}, chr(1))"
            escaped = f"""replace(replace({joined}, '\\', '\\\\'), '"', '\\"')"""
            out.append(f"""CASE WHEN {col} IS NULL THEN NULL WHEN cardinality({col}) = 0 THEN '{{}}' """
                       f"""ELSE '{{"' || replace({escaped}, chr(1), '","') || '"}}' END AS {col}""")
        else:
            out.append(col)
    return ", ".join(out)


def nullable_text_columns(cols):
    """The columns where an empty string and NULL look alike in CSV (both are an empty field)."""
    return [col for col, d in cols if base_type(d) == "VARCHAR" and "NOT NULL" not in d]
