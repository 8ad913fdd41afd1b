#!/usr/bin/env python3
"""The lineage graph Marquez's web UI asks for, on a big fan-in: prov9's `GET /api/v1/lineage`
against Marquez's own lineage SQL on PostgreSQL 15, same graph, same run.

    python3 benchmarks/lineage_graph.py --producers 25000 [--reps 5] [--prov9 PATH]

The graph (MarquezProject/marquez#3058's shape): N producer jobs, each with one run writing its
own dataset `big.part_<i>`, and one consumer job whose run reads all N and writes
`big.all_parts`. Asked from `dataset:big:all_parts` (and from the consumer job) at depth 2, the
answer holds every producer job and every part: 2N + 2 nodes.

prov9: the events are loaded with `prov9 load`, then `prov9 serve` answers the HTTP route (the
JSON Marquez's UI draws: nodes with their data, in- and out-edges). The first request is timed
apart (it builds the lineage index), then --reps timed requests; the answer is checked to hold
2N + 2 nodes. Also timed: prov9's own lineage page (`/node`, which draws at most 40 nodes per
column and says "N more") and `prov9 lineage --format json` (every node), both walking 4 hops
up from all_parts' version to every producer run.

PostgreSQL: the same graph in the four tables Marquez's lineage query reads (jobs,
job_versions, job_versions_io_mapping, datasets; uuids, indexed as in Marquez's migrations), and
Marquez 0.51's `LineageDao.getLineage` recursive query plus `getDatasetData` for the datasets
it names, which is what `LineageService.lineage` runs for one request (less the per-job run
lookups, which Marquez does after). Its timeout is --pg-timeout seconds.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

from harness.postgres import Postgres
from harness.prov9 import Prov9
from harness.timing import median

PRODUCER = "https://github.com/provenance-9/prov9/benchmarks/lineage_graph"


def log(msg):
    print(f"lineage_graph: {msg}", file=sys.stderr, flush=True)


def event(run_id, job, inputs, outputs, minute):
    return {
        "eventType": "COMPLETE",
        "eventTime": f"2026-01-01T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "big", "name": job},
        "inputs": [{"namespace": "big", "name": n} for n in inputs],
        "outputs": [{"namespace": "big", "name": n} for n in outputs],
    }


def write_events(path, producers):
    with open(path, "w") as f:
        for i in range(producers):
            run = str(uuid.uuid5(uuid.NAMESPACE_URL, f"producer-{i}"))
            f.write(json.dumps(event(run, f"producer_{i}", [], [f"part_{i}"], 0)) + "\n")
        parts = [f"part_{i}" for i in range(producers)]
        run = str(uuid.uuid5(uuid.NAMESPACE_URL, "consumer"))
        f.write(json.dumps(event(run, "consumer", parts, ["all_parts"], 1)) + "\n")


def get(url):
    with urllib.request.urlopen(url, timeout=3600) as response:
        return response.read()


def time_prov9(binary, producers, reps, workdir):
    events = workdir / "fanin.ndjson"
    write_events(events, producers)
    prov9 = Prov9(binary, workdir / "warehouse", workdir / "prov9.log")
    load_s, summary = prov9.load([events])
    log(f"prov9 load: {load_s:.1f} s ({summary})")
    prov9.serve()
    results = {}
    try:
        base = f"http://127.0.0.1:{prov9.http_port}/api/v1/lineage?depth=2&nodeId="
        for label, node in [("dataset", "dataset:big:all_parts"), ("job", "job:big:consumer")]:
            url = base + urllib.request.quote(node, safe="")
            began = time.perf_counter()
            body = get(url)
            first = time.perf_counter() - began
            nodes = len(json.loads(body)["graph"])
            if nodes != 2 * producers + 2:
                raise SystemExit(f"prov9 answered {nodes} nodes for {node}, expected {2 * producers + 2}")
            times = []
            for _ in range(reps):
                began = time.perf_counter()
                get(url)
                times.append(time.perf_counter() - began)
            results[label] = {"first": first, "median": median(times), "max": max(times),
                              "nodes": nodes, "bytes": len(body)}
            log(f"prov9 {node}: first {first:.3f} s, median {median(times):.3f} s, {nodes} nodes, {len(body)} bytes")
        # The lineage page and `prov9 lineage` walk from all_parts' one version, 4 hops up (to every
        # producer run): 2N + 2 nodes.
        with psycopg.connect(prov9.conninfo(), autocommit=True) as conn:
            version = conn.execute("SELECT version_id FROM dataset_versions "
                                   "WHERE dataset_id = 'dataset:big:all_parts'").fetchone()[0]
        page = (f"http://127.0.0.1:{prov9.http_port}/node?depth=4&id="
                + urllib.request.quote(version, safe=""))
        results["page"] = timed("lineage page", lambda: get(page), reps)
        cli = [binary, "--data", str(workdir / "warehouse"), "lineage", version, "--upstream",
               "--depth", "4", "--format", "json"]
        out = subprocess.run(cli, capture_output=True, check=True).stdout
        drawn = len(json.loads(out)["nodes"])
        if drawn != 2 * producers + 2:
            raise SystemExit(f"prov9 lineage drew {drawn} nodes, expected {2 * producers + 2}")
        results["cli"] = timed("prov9 lineage --format json",
                               lambda: subprocess.run(cli, capture_output=True, check=True), reps)
    finally:
        prov9.stop()
    return results


def timed(label, fn, reps):
    began = time.perf_counter()
    fn()
    first = time.perf_counter() - began
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    log(f"prov9 {label}: first {first:.3f} s, median {median(times):.3f} s")
    return {"first": first, "median": median(times), "max": max(times)}


MARQUEZ_TABLES = """
CREATE TABLE datasets (uuid uuid PRIMARY KEY, namespace_name varchar NOT NULL, name varchar NOT NULL,
                       current_version_uuid uuid);
CREATE TABLE dataset_versions (uuid uuid PRIMARY KEY, dataset_uuid uuid, fields jsonb, lifecycle_state varchar);
CREATE TABLE jobs (uuid uuid PRIMARY KEY, namespace_name varchar NOT NULL, name varchar NOT NULL,
                   current_version_uuid uuid, current_job_context_uuid uuid);
CREATE TABLE job_versions (uuid uuid PRIMARY KEY, job_uuid uuid NOT NULL);
CREATE TABLE job_versions_io_mapping (job_version_uuid uuid NOT NULL, dataset_uuid uuid NOT NULL,
                                      io_type varchar NOT NULL, PRIMARY KEY (job_version_uuid, dataset_uuid, io_type));
CREATE TABLE job_contexts (uuid uuid PRIMARY KEY, context text);
CREATE VIEW jobs_view AS SELECT * FROM jobs;
"""

# Per job i (0..N-1 producers, N the consumer): job, job version, and io rows; the dataset of
# part i, and all_parts as dataset N. uuids from md5 so the rows are reproducible.
MARQUEZ_ROWS = """
INSERT INTO datasets SELECT md5('ds' || i)::uuid, 'big', CASE WHEN i = {n} THEN 'all_parts' ELSE 'part_' || i END,
       md5('dv' || i)::uuid FROM generate_series(0, {n}) i;
INSERT INTO dataset_versions SELECT md5('dv' || i)::uuid, md5('ds' || i)::uuid, '[]', NULL FROM generate_series(0, {n}) i;
INSERT INTO jobs SELECT md5('job' || i)::uuid, 'big', CASE WHEN i = {n} THEN 'consumer' ELSE 'producer_' || i END,
       md5('jv' || i)::uuid, NULL FROM generate_series(0, {n}) i;
INSERT INTO job_versions SELECT md5('jv' || i)::uuid, md5('job' || i)::uuid FROM generate_series(0, {n}) i;
INSERT INTO job_versions_io_mapping SELECT md5('jv' || i)::uuid, md5('ds' || i)::uuid, 'OUTPUT' FROM generate_series(0, {n} - 1) i;
INSERT INTO job_versions_io_mapping SELECT md5('jv' || {n})::uuid, md5('ds' || i)::uuid, 'INPUT' FROM generate_series(0, {n} - 1) i;
INSERT INTO job_versions_io_mapping VALUES (md5('jv' || {n})::uuid, md5('ds' || {n})::uuid, 'OUTPUT');
CREATE INDEX ON job_versions_io_mapping (dataset_uuid);
CREATE INDEX ON datasets (namespace_name, name);
ANALYZE;
"""

# LineageDao.getLineage (Marquez 0.51), verbatim but for the bound parameters.
GET_LINEAGE = """
WITH RECURSIVE
    job_io AS (
        SELECT j.uuid AS job_uuid,
        ARRAY_AGG(DISTINCT io.dataset_uuid) FILTER (WHERE io_type='INPUT') AS inputs,
        ARRAY_AGG(DISTINCT io.dataset_uuid) FILTER (WHERE io_type='OUTPUT') AS outputs
        FROM jobs j
        LEFT JOIN job_versions v on j.current_version_uuid = v.uuid
        LEFT JOIN job_versions_io_mapping io on v.uuid = io.job_version_uuid
        GROUP BY j.uuid
    ),
    lineage(job_uuid, inputs, outputs) AS (
        SELECT job_uuid, inputs, outputs, 0 AS depth
        FROM job_io
        WHERE job_uuid IN (%(start)s)
        UNION
        SELECT io.job_uuid, io.inputs, io.outputs, l.depth + 1
        FROM job_io io,
             lineage l
        WHERE io.job_uuid != l.job_uuid AND
        array_cat(io.inputs, io.outputs) && array_cat(l.inputs, l.outputs)
        AND depth < %(depth)s    )
SELECT DISTINCT ON (l2.job_uuid) j.*, inputs AS input_uuids, outputs AS output_uuids, jc.context
FROM lineage l2
INNER JOIN jobs_view j ON j.uuid=l2.job_uuid
LEFT JOIN job_contexts jc on jc.uuid = j.current_job_context_uuid
"""

GET_DATASET_DATA = """
SELECT ds.*, dv.fields, dv.lifecycle_state
FROM datasets ds
LEFT JOIN dataset_versions dv on dv.uuid = ds.current_version_uuid
WHERE ds.uuid = ANY(%(ids)s)
"""


def time_marquez_sql(producers, reps, timeout_s):
    pg = Postgres()
    pg.start()
    try:
        conn = psycopg.connect(pg.conninfo(), autocommit=True)
        conn.execute(MARQUEZ_TABLES)
        conn.execute(MARQUEZ_ROWS.format(n=producers))
        conn.execute(f"SET statement_timeout = '{int(timeout_s * 1000)}ms'")
        start = conn.execute("SELECT uuid FROM jobs WHERE name = 'consumer'").fetchone()[0]

        def one_request():
            # Marquez's lineage service: the jobs (depth 2 job hops), then the data of every
            # dataset they read or write.
            jobs = conn.execute(GET_LINEAGE, {"start": start, "depth": 2}).fetchall()
            ids = {d for row in jobs for side in row[-3:-1] for d in (side or [])}
            datasets = conn.execute(GET_DATASET_DATA, {"ids": list(ids)}).fetchall()
            return len(jobs) + len(datasets)

        times = []
        try:
            nodes = one_request()
            for _ in range(reps):
                began = time.perf_counter()
                one_request()
                times.append(time.perf_counter() - began)
        except psycopg.errors.QueryCanceled:
            log(f"PostgreSQL (Marquez's lineage SQL): over the {timeout_s:.0f} s timeout")
            return {"timeout": timeout_s}
        log(f"PostgreSQL (Marquez's lineage SQL): median {median(times):.3f} s, {nodes} nodes")
        return {"median": median(times), "max": max(times), "nodes": nodes}
    finally:
        pg.stop()


def time_ui_routes(binary, events_dir, reps, workdir):
    """The routes Marquez's UI calls on every page, on a warehouse a month of pipelines built
    (the bench's generated history, e.g. SF 1): median seconds per route."""
    prov9 = Prov9(binary, workdir / "warehouse", workdir / "prov9.log")
    load_s, summary = prov9.load(sorted(Path(events_dir).glob("*.ndjson.gz")))
    log(f"prov9 load {events_dir}: {load_s:.1f} s ({summary})")
    prov9.serve()
    try:
        with psycopg.connect(prov9.conninfo(), autocommit=True) as conn:
            # The busiest job (most runs) and the dataset most read.
            job = conn.execute("SELECT j.namespace, j.name FROM runs r JOIN jobs j ON j.job_id = r.job_id "
                               "GROUP BY j.namespace, j.name ORDER BY count(*) DESC, j.name LIMIT 1").fetchone()
            dataset = conn.execute(
                "SELECT d.namespace, d.name FROM lineage_edges e JOIN dataset_versions v ON v.version_id = e.src "
                "JOIN datasets d ON d.dataset_id = v.dataset_id WHERE e.edge_type = 'input' "
                "GROUP BY d.namespace, d.name ORDER BY count(*) DESC, d.name LIMIT 1").fetchone()
            version = conn.execute(
                "SELECT version_id FROM dataset_versions WHERE dataset_id = %s ORDER BY created_at DESC LIMIT 1",
                (f"dataset:{dataset[0]}:{dataset[1]}",)).fetchone()[0]
        q = lambda text: urllib.request.quote(text, safe="")
        base = f"http://127.0.0.1:{prov9.http_port}"
        routes = {
            "namespaces": "/api/v1/namespaces",
            "jobs (first page)": "/api/v1/jobs?limit=25&offset=0",
            "busiest job": f"/api/v1/namespaces/{q(job[0])}/jobs/{q(job[1])}",
            "its runs": f"/api/v1/namespaces/{q(job[0])}/jobs/{q(job[1])}/runs?limit=100",
            "job lineage, depth 2": f"/api/v1/lineage?depth=2&nodeId={q(f'job:{job[0]}:{job[1]}')}",
            "most-read dataset": f"/api/v1/namespaces/{q(dataset[0])}/datasets/{q(dataset[1])}",
            "dataset lineage, depth 2": f"/api/v1/lineage?depth=2&nodeId={q(f'dataset:{dataset[0]}:{dataset[1]}')}",
            "search": "/api/v1/search?q=train&limit=10",
            "lineage page of its newest version": f"/node?id={q(version)}",
        }
        return {name: timed(name, lambda path=path: get(base + path), reps) for name, path in routes.items()}
    finally:
        prov9.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--producers", type=int, default=25000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--prov9", default="../target/release/prov9", help="the prov9 binary (release)")
    parser.add_argument("--pg-timeout", type=float, default=600)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--ui-routes-on", metavar="EVENTS_DIR",
                        help="instead: time the UI's routes on a warehouse loaded from these events "
                             "(a bench data dir, e.g. benchmarks/data/sf1/events)")
    args = parser.parse_args()
    if args.ui_routes_on:
        with tempfile.TemporaryDirectory(prefix="prov9-ui-routes-") as tmp:
            print(json.dumps(time_ui_routes(args.prov9, args.ui_routes_on, args.reps, Path(tmp)), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="prov9-lineage-graph-") as tmp:
        prov9 = time_prov9(args.prov9, args.producers, args.reps, Path(tmp))
    peer = None if args.skip_postgres else time_marquez_sql(args.producers, args.reps, args.pg_timeout)
    print(json.dumps({"producers": args.producers, "prov9": prov9, "marquez_sql_on_postgres": peer}, indent=2))


if __name__ == "__main__":
    main()
