"""DuckDB, in process, in a database file, loaded from the same CSV files as PostgreSQL."""
import duckdb

from . import schema
from .timing import Stopwatch


class DuckDB:
    name = "DuckDB"

    def __init__(self, path):
        self.conn = duckdb.connect(str(path))

    @staticmethod
    def version():
        return duckdb.__version__

    def load(self, tables, csv_paths):
        """Returns the seconds CREATE + COPY of every table took (one transaction, then CHECKPOINT)."""
        with Stopwatch() as t:
            self.conn.execute("BEGIN")
            for table in schema.TABLES:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
                self.conn.execute(schema.create_table(table, tables[table], "duckdb"))
                path = str(csv_paths[table]).replace("'", "''")
                self.conn.execute(f"COPY {table} FROM '{path}' (FORMAT csv, HEADER false)")
            self.conn.execute("COMMIT")
            self.conn.execute("CHECKPOINT")
        return t.seconds

    def run(self, sql):
        return self.conn.execute(sql).fetchall()

    def run_many(self, sql, values):
        return [self.conn.execute(sql, [v]).fetchall() for v in values]

    def close(self):
        self.conn.close()
