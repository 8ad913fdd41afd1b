"""Tiny check runner shared by the client-compatibility scripts in this folder.

Each check runs, prints PASS/FAIL with the reason, and the script closes with a summary line
'N passed, N failed' and exits non-zero if any check failed. Connection settings come from the
libpq environment variables PGHOST, PGPORT, PGUSER, PGDATABASE (PGPASSWORD if set).
"""
import os
import re
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCHEMA_SQL = REPO / "sql" / "schema.sql"


class CheckFailed(AssertionError):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def env():
    missing = [v for v in ("PGHOST", "PGPORT") if not os.environ.get(v)]
    if missing:
        print(f"set {', '.join(missing)} (and PGUSER, PGDATABASE) to the prov9 server", file=sys.stderr)
        sys.exit(2)
    return {
        "host": os.environ["PGHOST"],
        "port": int(os.environ["PGPORT"]),
        "user": os.environ.get("PGUSER", "prov9"),
        "dbname": os.environ.get("PGDATABASE", "prov9"),
        "password": os.environ.get("PGPASSWORD") or None,
    }


def conninfo():
    e = env()
    parts = [f"host={e['host']}", f"port={e['port']}", f"user={e['user']}", f"dbname={e['dbname']}",
             "connect_timeout=10"]
    if e["password"]:
        parts.append(f"password={e['password']}")
    return " ".join(parts)


def schema_tables():
    """{table: [(column, declared type)]} from sql/schema.sql, the reference for schema public."""
    text = SCHEMA_SQL.read_text()
    tables = {}
    for m in re.finditer(r"CREATE TABLE (\w+) \((.*?)\n\);", text, re.S):
        cols = []
        for line in m.group(2).splitlines():
            line = line.split("--")[0].strip().rstrip(",")
            if not line:
                continue
            cm = re.match(r'"?(\w+)"?\s+([A-Z\[\]]+)', line)
            if cm:
                cols.append((cm.group(1), cm.group(2)))
        tables[m.group(1)] = cols
    return tables


class Runner:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = []

    def check(self, title):
        """Decorator: run the function now as one check."""
        def run(fn):
            print(f"-- {title} ... ", end="", flush=True)
            try:
                detail = fn()
            except CheckFailed as e:
                print(f"FAIL\n   {e}")
                self.failed.append((title, str(e)))
            except Exception as e:  # a client exception is a failed check, with its text
                sqlstate = getattr(e, "sqlstate", None)
                msg = f"{type(e).__module__}.{type(e).__name__}: {e}".strip()
                if sqlstate:
                    msg += f" [SQLSTATE {sqlstate}]"
                if len(msg) > 900 and not os.environ.get("CHECK_VERBOSE"):
                    msg = msg[:900] + " ... [cut; CHECK_VERBOSE=1 prints all]"
                print(f"FAIL\n   {msg}")
                if os.environ.get("CHECK_TRACEBACK"):
                    traceback.print_exc()
                self.failed.append((title, msg))
            else:
                print("ok" + (f" ({detail})" if detail else ""))
                self.passed += 1
            return fn
        return run

    def finish(self):
        print()
        if self.failed:
            print(f"{self.name}: failed checks:")
            for title, msg in self.failed:
                first = msg.splitlines()[0] if msg else ""
                print(f"  - {title}: {first}")
        print(f"{self.name}: {self.passed} passed, {len(self.failed)} failed")
        sys.exit(1 if self.failed else 0)
