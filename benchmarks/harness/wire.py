"""A client over the Postgres wire protocol (psycopg 3): how prov9 and PostgreSQL are queried."""
import psycopg


class WireClient:
    def __init__(self, name, conninfo, timeout_s):
        self.name = name
        # RawCursor: $1 placeholders, the same text DuckDB takes.
        self.conn = psycopg.connect(conninfo, autocommit=True, cursor_factory=psycopg.RawCursor)
        self.conn.execute(f"SET statement_timeout = '{int(timeout_s * 1000)}ms'")

    def run(self, sql):
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def run_many(self, sql, values):
        """One parameterised statement, prepared once and executed for each value."""
        out = []
        with self.conn.cursor() as cur:
            for v in values:
                cur.execute(sql, (v,), prepare=True)
                out.append(cur.fetchall())
        return out

    def close(self):
        self.conn.close()
