#!/usr/bin/env python3
"""Live ingest the way production sends it: one OpenLineage event per HTTP request, for a long
time, with PostgreSQL 15 receiving the same events in the same run.

    python3 benchmarks/stream.py --prov9 target/release/prov9 [--events 200000] [--clients 16]
                                 [--sequential 20000] [--kills 10] [--settle 75]

Steps (each printed as it ends, then a Markdown report):
1. Generate Airflow-like events: per task run a START and a COMPLETE, an input and an output
   dataset, a parent facet naming its DAG run.
2. prov9: a fresh warehouse, `prov9 serve` (default settings: background fold-in and
   maintenance). --clients producers post one event per request; latency per request and
   sustained events/s. Then 4 sequential producers on fresh events.
3. PostgreSQL 15: the same events, one INSERT transaction per event into a jsonb table,
   synchronous_commit on, --clients connections.
4. Wait --settle seconds (fold-in and maintenance run as configured), then compare the
   streamed warehouse with the same events loaded in bulk: queries, disk, `serve` ready time.
5. kill -9 of `serve` --kills times at random moments while producers stream: every
   acknowledged event is there after restart, and none is stored twice.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from harness.postgres import Postgres
from harness.prov9 import Prov9

HERE = Path(__file__).resolve().parent


def log(msg):
    print(f"stream: {msg}", file=sys.stderr, flush=True)


def events_for(runs, seed):
    """Airflow-like events, as (START, COMPLETE) text pairs per task run."""
    rng = random.Random(seed)
    ns = uuid.UUID(int=seed)
    pairs = []
    for i in range(runs):
        dag = f"dag_{i % 40}"
        task = f"task_{rng.randrange(12)}"
        run_id = str(uuid.uuid5(ns, f"run-{i}"))
        dag_run = str(uuid.uuid5(ns, f"dagrun-{i // 10}"))
        table = rng.randrange(400)
        day = 1 + (i * 30) // max(runs, 1)
        start = f"2026-11-{day:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z"
        end = f"2026-11-{day:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:30Z"
        job = {"namespace": "airflow", "name": f"{dag}.{task}"}
        parent = {"parent": {
            "_producer": "https://github.com/apache/airflow", "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json",
            "run": {"runId": dag_run}, "job": {"namespace": "airflow", "name": dag}}}
        inputs = [{"namespace": "s3://lake", "name": f"raw/t{table}"}]
        outputs = [{"namespace": "s3://lake", "name": f"clean/t{table}"}]
        common = {"producer": "https://github.com/apache/airflow", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
        s = {"eventType": "START", "eventTime": start, "run": {"runId": run_id, "facets": parent},
             "job": job, "inputs": inputs, "outputs": outputs, **common}
        c = {"eventType": "COMPLETE", "eventTime": end, "run": {"runId": run_id, "facets": parent},
             "job": job, "inputs": inputs, "outputs": outputs, **common}
        pairs.append((json.dumps(s), json.dumps(c), run_id))
    return pairs


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def post_all(port, pairs, clients, retry=False, acked=None):
    """Producers posting one event per request (each run's START before its COMPLETE).
    Returns (seconds, latencies in ms, failures)."""
    latencies, failures = [], [0]
    lock = threading.Lock()
    chunks = [pairs[i::clients] for i in range(clients)]

    def producer(chunk):
        conn = None
        mine = []
        for start, complete, run_id in chunk:
            for kind, body in (("START", start), ("COMPLETE", complete)):
                while True:
                    try:
                        if conn is None:
                            conn = http.client.HTTPConnection("127.0.0.1", port.value(), timeout=30)
                        began = time.perf_counter()
                        conn.request("POST", "/api/v1/lineage", body, {"Content-Type": "application/json"})
                        resp = conn.getresponse()
                        resp.read()
                        took = (time.perf_counter() - began) * 1000
                        if resp.status == 201:
                            mine.append(took)
                            if acked is not None:
                                with lock:
                                    acked.add((run_id, kind))
                            break
                        if resp.status == 503:
                            time.sleep(0.05)
                            continue
                        with lock:
                            failures[0] += 1
                        break
                    except (OSError, http.client.HTTPException):
                        conn = None
                        if not retry:
                            with lock:
                                failures[0] += 1
                            break
                        time.sleep(0.2)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=producer, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began, latencies, failures[0]


class Port:
    def __init__(self, value):
        self.port = value

    def value(self):
        return self.port


def du(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


QUERIES = {
    "runs by state": "SELECT state, count(*) FROM runs GROUP BY state ORDER BY state",
    "edges per job (3-way join)": "SELECT j.name, count(*) FROM lineage_edges e JOIN runs r ON e.run_id = r.run_id JOIN jobs j ON j.job_id = r.job_id GROUP BY j.name ORDER BY 2 DESC, 1 LIMIT 10",
    "point lookup of a run": "SELECT state, ended_at FROM runs WHERE run_id = %s",
    "lineage_downstream of a dataset": "SELECT count(*) FROM lineage_downstream(%s)",
}


def query_times(conninfo, run_id, node, reps=5):
    out = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name, sql in QUERIES.items():
            params = None
            if "%s" in sql:
                if "lineage_downstream" in sql:
                    sql, params = sql.replace("%s", f"'{node}'"), None
                else:
                    params = (f"run:{run_id}",)
            conn.execute(sql, params).fetchall()
            times = []
            answer = None
            for _ in range(reps):
                began = time.perf_counter()
                answer = conn.execute(sql, params).fetchall()
                times.append((time.perf_counter() - began) * 1000)
            out[name] = (statistics.median(times), answer)
    return out


def ready_time(binary, warehouse, log_path):
    p = Prov9(binary, warehouse, log_path)
    began = time.perf_counter()
    p.serve()
    took = time.perf_counter() - began
    return p, took


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prov9", default=os.environ.get("PROV9_BIN", "target/release/prov9"))
    ap.add_argument("--events", type=int, default=200_000, help="events streamed by --clients producers")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--sequential", type=int, default=20_000, help="events sent by 4 sequential producers")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--settle", type=int, default=75, help="seconds left to fold-in and maintenance")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    binary = str(Path(args.prov9).resolve())
    work = Path(tempfile.mkdtemp(prefix="prov9-stream-"))
    results = {}

    pairs = events_for(args.events // 2, args.seed)
    sequential_pairs = events_for(args.sequential // 2, args.seed + 1)
    log(f"{2 * len(pairs)} + {2 * len(sequential_pairs)} events generated in {work}")

    # 2. prov9, live
    live = Prov9(binary, work / "live", work / "live.log")
    began = time.perf_counter()
    live.serve()
    seconds, lat, failed = post_all(Port(live.http_port), pairs, args.clients)
    results["prov9 live"] = (2 * len(pairs) / seconds, percentile(lat, 0.5), percentile(lat, 0.99), failed)
    log(f"prov9, {args.clients} producers: {results['prov9 live'][0]:.0f} events/s, p50 {results['prov9 live'][1]:.1f} ms, p99 {results['prov9 live'][2]:.1f} ms, {failed} failed")
    seconds, lat, failed = post_all(Port(live.http_port), sequential_pairs, 4)
    results["prov9 sequential"] = (2 * len(sequential_pairs) / seconds, percentile(lat, 0.5), percentile(lat, 0.99), failed)
    log(f"prov9, 4 sequential producers: {results['prov9 sequential'][0]:.0f} events/s, p99 {results['prov9 sequential'][2]:.1f} ms")

    # 3. PostgreSQL, same events
    pg = Postgres()
    pg.start()
    try:
        with psycopg.connect(pg.conninfo(), autocommit=True) as c:
            c.execute("CREATE TABLE events (id bigserial PRIMARY KEY, payload jsonb NOT NULL)")
            c.execute("SHOW synchronous_commit")

        def pg_all(items, clients):
            lat, lock = [], threading.Lock()
            chunks = [items[i::clients] for i in range(clients)]

            def producer(chunk):
                mine = []
                with psycopg.connect(pg.conninfo(), autocommit=True) as c:
                    for start, complete, _ in chunk:
                        for body in (start, complete):
                            t = time.perf_counter()
                            c.execute("INSERT INTO events (payload) VALUES (%s::jsonb)", (body,))
                            mine.append((time.perf_counter() - t) * 1000)
                with lock:
                    lat.extend(mine)
            began = time.perf_counter()
            threads = [threading.Thread(target=producer, args=(ch,)) for ch in chunks]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - began, lat

        seconds, lat = pg_all(pairs, args.clients)
        results["postgres live"] = (2 * len(pairs) / seconds, percentile(lat, 0.5), percentile(lat, 0.99), 0)
        log(f"PostgreSQL, {args.clients} connections: {results['postgres live'][0]:.0f} events/s, p99 {results['postgres live'][2]:.1f} ms")
        seconds, lat = pg_all(sequential_pairs, 4)
        results["postgres sequential"] = (2 * len(sequential_pairs) / seconds, percentile(lat, 0.5), percentile(lat, 0.99), 0)
    finally:
        subprocess.run(pg._as_user([f"{os.environ.get('PG_BIN', '/usr/lib/postgresql/15/bin')}/pg_ctl", "-D",
                                    os.path.join(pg.dir, "data"), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(pg.dir, ignore_errors=True)

    # 4. the streamed warehouse after maintenance, against the same events in bulk
    log(f"letting fold-in and maintenance run for {args.settle} s")
    time.sleep(args.settle)
    total = 2 * (len(pairs) + len(sequential_pairs))
    with psycopg.connect(live.conninfo(), autocommit=True) as c:
        stored, distinct = c.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
        node = c.execute("SELECT min(version_id) FROM dataset_versions").fetchone()[0]
    results["stored"] = (stored, distinct, total)
    run_id = pairs[len(pairs) // 2][2]
    live_q = query_times(live.conninfo(), run_id, node)
    live.stop()
    live_disk = du(work / "live")
    live, live_ready = ready_time(binary, work / "live", work / "live2.log")
    live.stop()
    # What the retention window keeps (files replaced by compaction, old log entries) against
    # what the newest version needs: vacuum with no retention leaves only the latter.
    subprocess.run([binary, "--data", str(work / "live"), "vacuum", "--retention", "0s", "--no-progress"],
                   check=True, capture_output=True)
    live_vacuumed = du(work / "live")

    bulk_file = work / "bulk.ndjson"
    with open(bulk_file, "w") as f:
        for start, complete, _ in pairs + sequential_pairs:
            f.write(start + "\n" + complete + "\n")
    bulk = Prov9(binary, work / "bulk", work / "bulk.log")
    load_s, _ = bulk.load([bulk_file])
    bulk_disk = du(work / "bulk")
    bulk, bulk_ready = ready_time(binary, work / "bulk", work / "bulk2.log")
    bulk_q = query_times(bulk.conninfo(), run_id, node)
    bulk.stop()

    # 5. kill -9 while streaming
    kill_pairs = events_for(20_000, args.seed + 2)
    acked = set()
    kill = Prov9(binary, work / "kill", work / "kill.log")
    kill.serve()
    port = Port(kill.http_port)
    done = threading.Event()

    def killer():
        nonlocal kill
        for _ in range(args.kills):
            time.sleep(random.uniform(1.0, 4.0))
            if done.is_set():
                break
            kill.proc.kill()
            kill.proc.wait()
            kill.log.close()
            kill.proc = None
            kill = Prov9(binary, work / "kill", work / f"kill-{time.time()}.log")
            kill.serve()
            port.port = kill.http_port

    k = threading.Thread(target=killer)
    k.start()
    post_all(port, kill_pairs, args.clients, retry=True, acked=acked)
    done.set()
    k.join()
    with psycopg.connect(kill.conninfo(), autocommit=True) as c:
        rows = c.execute("SELECT run_id, event_type FROM events").fetchall()
    kill.stop()
    stored_keys = [(r.removeprefix("run:"), t) for r, t in rows]
    missing = len(acked - set(stored_keys))
    twice = len(stored_keys) - len(set(stored_keys))
    results["kill"] = (args.kills, len(acked), len(stored_keys), missing, twice)

    # report
    print(f"\n## Streaming ({2 * len(pairs)} events by {args.clients} producers, then {2 * len(sequential_pairs)} by 4 sequential)\n")
    print("| | events/s | p50 ms | p99 ms | failed |")
    print("|---|---:|---:|---:|---:|")
    for name in ("prov9 live", "postgres live", "prov9 sequential", "postgres sequential"):
        r = results[name]
        print(f"| {name} | {r[0]:.0f} | {r[1]:.1f} | {r[2]:.1f} | {r[3]} |")
    s = results["stored"]
    print(f"\nStored after streaming: {s[0]} events, {s[1]} distinct, of {s[2]} sent.\n")
    print("| after streaming + maintenance | streamed | bulk-loaded | ratio |")
    print("|---|---:|---:|---:|")
    for name in QUERIES:
        a, b = live_q[name][0], bulk_q[name][0]
        same = "" if live_q[name][1] == bulk_q[name][1] else " (answers differ!)"
        print(f"| {name} (ms) | {a:.1f} | {b:.1f} | {a / b:.2f}x{same} |")
    print(f"| disk (MB), 7-day retention | {live_disk / 2**20:.1f} | {bulk_disk / 2**20:.1f} | {live_disk / bulk_disk:.2f}x |")
    print(f"| disk (MB), after `prov9 vacuum --retention 0s` | {live_vacuumed / 2**20:.1f} | {bulk_disk / 2**20:.1f} | {live_vacuumed / bulk_disk:.2f}x |")
    print(f"| serve ready (s) | {live_ready:.2f} | {bulk_ready:.2f} | {live_ready / bulk_ready:.2f}x |")
    print(f"\nBulk load of the same events: {load_s:.1f} s.")
    kr = results["kill"]
    print(f"\nkill -9 x{kr[0]} while streaming: {kr[1]} acknowledged, {kr[2]} stored, {kr[3]} acknowledged missing, {kr[4]} stored twice.")
    shutil.rmtree(work, ignore_errors=True)
    bad = kr[3] or kr[4] or s[0] != s[1] or s[0] != s[2] or any(live_q[n][1] != bulk_q[n][1] for n in QUERIES)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
