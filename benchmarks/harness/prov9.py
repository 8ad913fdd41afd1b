"""prov9 itself: a timed bulk load, `prov9 serve` on free ports, and CSV export over COPY."""
import re
import socket
import os
import subprocess
import time

import psycopg

from .wire import WireClient


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



# The bulk-load tuning README.md suggests: mimalloc keeps freed memory instead of returning it
# to the OS after each batch (which made the next batch fault in zeroed pages: a third of the
# load in the kernel). PostgreSQL gets its bulk-load settings too (wal_level=minimal, …).
LOAD_ENV = {"MIMALLOC_PURGE_DELAY": "-1"}

class Prov9:
    def __init__(self, binary, warehouse, log_path):
        self.binary = binary
        self.warehouse = warehouse
        self.log_path = log_path
        self.proc = None
        self.port = None

    def version(self):
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def load(self, files):
        """Runs `prov9 load` on the files (in the order given) and returns (seconds, summary line)."""
        began = time.perf_counter()
        out = subprocess.run([self.binary, "--data", str(self.warehouse), "load", "--no-progress", *map(str, files)],
                             capture_output=True, text=True, env={**os.environ, **LOAD_ENV})
        seconds = time.perf_counter() - began
        if out.returncode != 0:
            raise SystemExit(f"prov9 load failed ({out.returncode}):\n{out.stdout}{out.stderr}")
        summary = [l for l in (out.stdout + out.stderr).splitlines() if l.startswith("loaded ")]
        return seconds, (summary[-1] if summary else "")

    def memory_limit(self):
        """A query's memory budget sized to the machine like PostgreSQL's shared_buffers (RAM/4):
        prov9 does not spill, so its 2 GiB default stops the largest joins at SF 10."""
        from .postgres import meminfo_bytes  # postgres.py imports this module
        return f"{meminfo_bytes() // 4 >> 20}MiB"

    def serve(self, timeout_s=120):
        self.port, self.http_port = free_port(), free_port()
        cmd = [self.binary, "--data", str(self.warehouse), "serve",
               "--pg-listen", f"127.0.0.1:{self.port}", "--http-listen", f"127.0.0.1:{self.http_port}",
               "--memory-limit", self.memory_limit()]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"prov9 serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                psycopg.connect(self.conninfo(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"prov9 serve did not answer within {timeout_s}s; see {self.log_path}")
                time.sleep(0.2)

    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} dbname=prov9 user=bench"

    def client(self, timeout_s):
        return WireClient("prov9", self.conninfo(), timeout_s)

    def export_csv(self, client, table, column_list, path):
        """COPY (SELECT …) TO STDOUT in CSV, as a user moving data to another engine would."""
        sql = f"COPY (SELECT {column_list} FROM {table}) TO STDOUT WITH (FORMAT csv)"
        with open(path, "wb") as f, client.conn.cursor() as cur, cur.copy(sql) as copy:
            for chunk in copy:
                f.write(chunk)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
            self.proc = None


def summary_counts(summary):
    """{'lineage_edges': 11073, …} from prov9 load's summary line."""
    return {t: int(n) for t, n in re.findall(r"(\w+) \+(\d+)", summary)}
