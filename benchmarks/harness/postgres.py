"""A throwaway PostgreSQL 15 cluster on loopback, in a temporary directory, and its timed load."""
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from . import schema
from .prov9 import free_port
from .timing import Stopwatch
from .wire import WireClient

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def meminfo_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 8 << 30


def settings():
    """Memory sized to the machine as a DBA would for an analytical copy; everything else default.
    wal_level=minimal lets COPY into a table created in the same transaction skip the WAL."""
    mem_mb = meminfo_bytes() >> 20
    return {
        "shared_buffers": f"{min(mem_mb // 4, 4096)}MB",
        "effective_cache_size": f"{mem_mb // 2}MB",
        "work_mem": "64MB",
        "maintenance_work_mem": "1GB",
        "max_wal_size": "8GB",
        "wal_level": "minimal",
        "max_wal_senders": "0",
    }


class Postgres:
    def __init__(self):
        self.dir = None
        self.port = None
        self.user = None

    def _as_user(self, cmd):
        # initdb and postgres refuse to run as root.
        return ["runuser", "-u", self.user, "--", *cmd] if os.geteuid() == 0 else cmd

    def version(self):
        return subprocess.run([f"{PG_BIN}/postgres", "--version"], capture_output=True, text=True).stdout.strip()

    def start(self):
        if not os.path.exists(f"{PG_BIN}/initdb"):
            raise SystemExit(f"no PostgreSQL server in {PG_BIN}: apt-get install -y postgresql-15 (or set PG_BIN)")
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            self.user = "postgres"
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", self.user], check=True)
        self.dir = tempfile.mkdtemp(prefix="prov9-bench-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.dir, self.user)
        data = os.path.join(self.dir, "data")
        subprocess.run(self._as_user([f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                                      "--no-sync", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True)
        self.port = free_port()
        opts = [f"-c listen_addresses=127.0.0.1", f"-c port={self.port}", f"-c unix_socket_directories={self.dir}"]
        opts += [f"-c {k}={v}" for k, v in settings().items()]
        subprocess.run(self._as_user([f"{PG_BIN}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"),
                                      "-o", " ".join(opts), "-w", "-t", "120", "start"]),
                       check=True, capture_output=True)

    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def client(self, timeout_s):
        return WireClient("PostgreSQL", self.conninfo(), timeout_s)

    def load(self, client, tables, csv_paths):
        """CREATE + COPY each table in one transaction, then the indexes, then ANALYZE.
        Returns {"copy": s, "index": s, "analyze": s}."""
        conn = client.conn
        times = {}
        with Stopwatch() as copy_time:
            with conn.transaction(), conn.cursor() as cur:
                for table in schema.TABLES:
                    cols = tables[table]
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                    cur.execute(schema.create_table(table, cols, "postgres"))
                    sql = f"COPY {table} ({schema.column_list(cols)}) FROM STDIN WITH (FORMAT csv)"
                    with open(csv_paths[table], "rb") as f, cur.copy(sql) as copy:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
        times["copy"] = copy_time.seconds
        with Stopwatch() as index_time:
            for table, col in schema.POSTGRES_INDEXES:
                conn.execute(f"CREATE INDEX ON {table} ({col})")
        times["index"] = index_time.seconds
        with Stopwatch() as analyze_time:
            conn.execute("ANALYZE")
        times["analyze"] = analyze_time.seconds
        return times

    def settle(self, client):
        """VACUUM every table once loaded, untimed: autovacuum would otherwise do it during the
        queries (inserts trigger it since PostgreSQL 13), on the cores every engine shares.
        Returns its seconds."""
        with Stopwatch() as vacuum_time:
            client.conn.execute("VACUUM")
        return vacuum_time.seconds

    def stop(self):
        if self.dir:
            subprocess.run(self._as_user([f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.dir, "data"),
                                          "-m", "fast", "-w", "stop"]), capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
