"""DuckDB, in process, in a database file, loaded from the same CSV files as PostgreSQL."""
import duckdb

from . import schema
from .timing import Stopwatch

# prov9's COPY … (FORMAT csv): comma, " quotes doubled inside quoted fields, no header, NULL as an
# empty field.
CSV = "FORMAT csv, AUTO_DETECT false, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"'"
CSV_ARGS = "auto_detect = false, header = false, delim = ',', quote = '\"', escape = '\"'"


class DuckDB:
    name = "DuckDB"

    def __init__(self, path):
        self.conn = duckdb.connect(str(path))

    @staticmethod
    def version():
        return duckdb.__version__

    def load(self, tables, csv_paths):
        """Returns the seconds CREATE + COPY of every table took (one transaction, then CHECKPOINT).
        The CSV dialect is given, not sniffed (the events' JSON payloads are full of commas and
        quotes). A table with list columns is read with read_csv and its lists, exported as
        PostgreSQL array literals, turned into DuckDB lists (JSON arrays once the braces are
        brackets: both escape " and \\ with a backslash)."""
        with Stopwatch() as t:
            self.conn.execute("BEGIN")
            for table in schema.TABLES:
                cols = tables[table]
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
                self.conn.execute(schema.create_table(table, cols, "duckdb"))
                path = str(csv_paths[table]).replace("'", "''")
                if not any(schema.is_list(d) for _, d in cols):
                    self.conn.execute(f"COPY {table} FROM '{path}' ({CSV})")
                    continue
                types = ", ".join(f"'{c.strip(chr(34))}': "
                                  f"'{'VARCHAR' if schema.is_list(d) else schema.base_type(d)}'" for c, d in cols)
                select = ", ".join(f"CAST(CAST('[' || {c}[2:-2] || ']' AS JSON) AS {schema.base_type(d)})"
                                   if schema.is_list(d) else c for c, d in cols)
                self.conn.execute(f"INSERT INTO {table} SELECT {select} FROM read_csv('{path}', {CSV_ARGS}, "
                                  f"columns = {{{types}}})")
            self.conn.execute("COMMIT")
            self.conn.execute("CHECKPOINT")
        return t.seconds

    def run(self, sql):
        return self.conn.execute(sql).fetchall()

    def run_many(self, sql, values):
        return [self.conn.execute(sql, [v]).fetchall() for v in values]

    def close(self):
        self.conn.close()
