"""The table definitions of sql/schema.sql, so every engine gets the same columns and types."""
import re
from pathlib import Path

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"

# The tables the queries read (and so the ones exported from prov9 and loaded into the peers).
TABLES = ["jobs", "runs", "model_versions", "metrics", "deployments", "lineage_edges"]

# Indexes a PostgreSQL user would add for these queries: both directions of the edge list and
# the primary lookup column of each table. DuckDB gets none (its zone maps are what it uses).
POSTGRES_INDEXES = [
    ("lineage_edges", "src"), ("lineage_edges", "dst"), ("runs", "run_id"), ("jobs", "job_id"),
    ("model_versions", "version_id"), ("deployments", "deployment_id"),
]


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
    missing = set(TABLES) - set(tables)
    if missing:
        raise SystemExit(f"{SCHEMA_SQL}: no CREATE TABLE for {sorted(missing)}")
    return tables


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
