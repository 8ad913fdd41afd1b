#!/usr/bin/env python3
"""prov9 against PostgreSQL 15 and DuckDB on the same provenance history, side by side.

    python3 benchmarks/bench.py --sf 1 --reps 5 [--prov9 PATH]   (benchmarks/run.sh builds and calls this)

Steps: generate the history (cached in benchmarks/data/sf<F>/events), load it into prov9 (timed),
serve it, export every table it wrote (all of sql/schema.sql) as CSV over COPY, load those into
a throwaway PostgreSQL (COPY, indexes, ANALYZE: timed; then VACUUM, untimed, so that autovacuum
stays quiet during the queries) and into DuckDB (timed), so the peers load the same rows; run every query on every engine (one warm-up, then --reps timed runs), check that
all engines and a plain-Python walk of the graph give the same answers, and print a Markdown
report (also saved next to the data).
Exits non-zero when any answer differs or a query fails.
"""
import argparse
import datetime
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import psycopg

from generate import source_hash
from harness import queries, report, schema
from harness.duckdb_engine import DuckDB
from harness.postgres import Postgres, settings as pg_settings
from harness.prov9 import LOAD_ENV, Prov9, summary_counts
from harness.reference import Graph
from harness.timing import Stopwatch, repeat

HERE = Path(__file__).resolve().parent
MISSING_FUNCTION = {"42883", "42P01"}  # 42P01: prov9 builds before the table functions answered it


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sf_name(sf):
    return f"sf{sf:g}"


# What a run holds on disk at its peak, per unit of scale factor: prov9's warehouse, the CSV
# export, PostgreSQL's database (in the temp dir) and DuckDB's. SF 10 ran out at 36 GB free.
DISK_GB_PER_SF = 5


def check_disk(sf, data_dir):
    """Stop before loading anything when the disk cannot hold the run."""
    need = max(1.0, DISK_GB_PER_SF * sf)
    free = shutil.disk_usage(data_dir).free / 2**30
    if free < need:
        raise SystemExit(f"bench: SF {sf:g} needs about {need:.0f} GB free in {data_dir} "
                         f"(PostgreSQL's share in the temp dir); {free:.0f} GB free")


def ensure_data(sf, seed, data_dir):
    """The generated events for this scale factor, generated unless already there."""
    events = data_dir / sf_name(sf) / "events"
    manifest = events / "MANIFEST"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if (m.get("sf"), m.get("seed"), m.get("generator")) == (sf, seed, source_hash()):
            log(f"using cached data in {events}")
            return events, m
    shutil.rmtree(events, ignore_errors=True)
    log(f"generating SF {sf:g} into {events}")
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--sf", str(sf), "--seed", str(seed),
                    "--out", str(events)], check=True, stdout=subprocess.DEVNULL)
    return events, json.loads(manifest.read_text())


def measure(engine, query, params, reps):
    """(answer, times, problems), or (None, 'n/a' | 'error' | 'timeout', []), for one query on one
    engine. problems: the engine contradicting itself (a count that is not its row set's size)."""
    try:
        if query.lookup:
            sql = query.sql(params)
            answer, times = repeat(lambda: engine.run_many(sql, params["run_ids"]), reps)
            return queries.normalize_lookups(answer), times, []
        sql = query.sql(params)
        answer, times = repeat(lambda: engine.run(sql), reps)
        check = query.sql(params, check=True)  # the rows behind a count, when there is one
        if not check:
            return queries.normalize(answer), times, []
        count, rows = answer[0][0], engine.run(check)
        # A table function may list a node once per edge reaching it, so only the CTEs' counts
        # must equal their node sets.
        problems = [] if query.prov9_only or count == len(rows) else [
            f"{engine.name} counts {count} rows but lists {len(rows)}"]
        return queries.normalize(rows), times, problems
    except psycopg.errors.QueryCanceled:
        log(f"{engine.name}: {query.name}: statement timeout")
        return None, "timeout", []
    except psycopg.Error as e:
        state = e.sqlstate or ""
        if query.prov9_only and state in MISSING_FUNCTION and "not found" in str(e):
            log(f"{engine.name}: {query.name}: not available in this build ({state}: {str(e).strip()})")
            return None, "n/a", []
        log(f"{engine.name}: {query.name}: ERROR {state}: {str(e).strip()}")
        return None, "error", []
    except Exception as e:  # DuckDB's errors
        log(f"{engine.name}: {query.name}: ERROR {type(e).__name__}: {e}")
        return None, "error", []


def reference_answer(query, params, graph):
    """What the plain-Python graph walk says the answer is, for the graph queries."""
    if query.name == "upstream_closure":
        return queries.normalize((n,) for n in graph.closure(params["model"], "up"))
    if query.name == "downstream_impact":
        return queries.normalize((n,) for n in graph.closure(params["raw"], "down"))
    if query.name == "shortest_path":
        return [(params["distance"],)]
    if query.name == "lineage_upstream":
        return queries.normalize((n,) for n in graph.closure(params["model"], "up") - {params["model"]})
    if query.name == "lineage_downstream":
        return queries.normalize((n,) for n in graph.closure(params["raw"], "down") - {params["raw"]})
    return None


def check_answers(query, answers, params, graph):
    """Every way the engines' answers disagree with each other or with the graph walk."""
    problems = []
    got = {e: a for e, a in answers.items() if a is not None}
    if query.name == "lineage_path" and "prov9" in got:
        rows = sorted(got["prov9"], key=lambda r: r[0])
        why = queries.check_path(rows, params, graph)
        if why:
            problems.append(f"prov9 lineage_path: {why}; rows: {rows[:10]}")
        return problems
    ref = reference_answer(query, params, graph)
    for engine, answer in got.items():
        if ref is not None and answer != ref:
            problems.append(f"{engine} vs the Python graph walk: {queries.diff(answer, ref)}")
    names = list(got)
    for a, b in zip(names, names[1:]):
        if got[a] != got[b]:
            problems.append(f"{a} vs {b}: {queries.diff(got[a], got[b])}")
    return problems


def table_counts(engine):
    return {t: engine.run(f"SELECT count(*) FROM {t}")[0][0] for t in schema.TABLES}


def gunzipped_size(path):
    """The uncompressed size of a single-member gzip file (its trailer's ISIZE; files < 4 GiB)."""
    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)
        return struct.unpack("<I", f.read(4))[0]


def empty_strings(client, tables):
    """{table: rows} with an empty string in a nullable text column. In CSV an empty string and a
    NULL are both an empty field, so the peers would load these as NULL."""
    found = {}
    for t in schema.TABLES:
        cols = schema.nullable_text_columns(tables[t])
        if cols:
            n = client.run(f"SELECT count(*) FROM {t} WHERE " + " OR ".join(f"{c} = ''" for c in cols))[0][0]
            if n:
                found[t] = n
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sf", type=float, default=1.0, help="scale factor (1 = about 1M lineage edges)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions after one warm-up")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--prov9", default=os.environ.get("PROV9_BIN", str(HERE.parent / "target/release/prov9")))
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--timeout", type=float, default=600, help="statement timeout, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the loaded warehouse, CSVs and DuckDB file")
    args = ap.parse_args()
    command = os.environ.get("BENCH_COMMAND") or " ".join([sys.argv[0], *sys.argv[1:]])

    events, manifest = ensure_data(args.sf, args.seed, args.data_dir)
    files = sorted(events.glob("*.ndjson.gz"))
    work = args.data_dir / sf_name(args.sf) / "run"
    shutil.rmtree(work, ignore_errors=True)
    check_disk(args.sf, args.data_dir)
    (work / "csv").mkdir(parents=True)

    prov9 = Prov9(args.prov9, work / "prov9", work / "prov9-serve.log")
    pg = Postgres()
    clients = []
    try:
        log(f"loading {len(files)} files into prov9 ({args.prov9})")
        prov9_load, summary = prov9.load(files)
        log(summary)
        loaded = summary_counts(summary)
        for table, expected in manifest["expected_rows"].items():
            if loaded.get(table, 0) != expected:
                log(f"note: prov9 loaded {loaded.get(table, 0)} {table} rows, the generator expected {expected}")

        prov9.serve()
        p9 = prov9.client(args.timeout)
        clients.append(p9)
        tables = schema.columns()
        csv_paths = {t: work / "csv" / f"{t}.csv" for t in schema.TABLES}
        with Stopwatch() as export:
            for t in schema.TABLES:
                prov9.export_csv(p9, t, schema.export_list(tables[t]), csv_paths[t])
        csv_bytes = sum(p.stat().st_size for p in csv_paths.values())
        log(f"exported {len(csv_paths)} tables as CSV ({csv_bytes / 1e6:.1f} MB) in {export.seconds:.2f}s")
        notes = [f"{t}: {n:,} rows with an empty string in a nullable text column, loaded as NULL by the "
                 f"peers (CSV writes both as an empty field)" for t, n in empty_strings(p9, tables).items()]
        for n in notes:
            log(f"note: {n}")

        log("starting PostgreSQL")
        pg.start()
        pgc = pg.client(args.timeout)
        clients.append(pgc)
        pg_times = pg.load(pgc, tables, csv_paths)
        log(f"PostgreSQL load: {pg_times}")
        vacuum = pg.settle(pgc)
        log(f"PostgreSQL VACUUM: {vacuum:.2f}s (not counted in its load)")
        notes.append(f"PostgreSQL: VACUUM after the load ({vacuum:.1f} s, not counted in its load time), so "
                     f"that autovacuum does not run during the queries")

        duck = DuckDB(work / "bench.duckdb")
        clients.append(duck)
        duck_load = duck.load(tables, csv_paths)
        log(f"DuckDB load: {duck_load:.2f}s")

        engines = {"prov9": p9, "PostgreSQL": pgc, "DuckDB": duck}
        counts = {name: table_counts(e) for name, e in engines.items()}
        for name, c in counts.items():
            if c != counts["prov9"]:
                raise SystemExit(f"row counts differ after loading: prov9 {counts['prov9']}, {name} {c}")

        graph = Graph(csv_paths["lineage_edges"])
        params = queries.pick_parameters(duck, graph)
        log("parameters: " + json.dumps({k: v for k, v in params.items() if k != "run_ids"}))

        rows, mismatches, failures, by_name = [], [], [], {}
        for q in queries.QUERIES:
            results, answers, problems = {}, {}, []
            for name, engine in engines.items():
                if q.prov9_only and name != "prov9":
                    continue
                log(f"{q.name} on {name}")
                answers[name], results[name], own = measure(engine, q, params, args.reps)
                problems += own
                if isinstance(results[name], str) and results[name] != "n/a":
                    failures.append(f"{q.name} on {name}: {results[name]}")
            by_name[q.name] = results
            problems += check_answers(q, answers, params, graph)
            mismatches += [f"{q.name}: {p}" for p in problems]
            if problems:
                verdict = "**MISMATCH**"
            elif not any(a is not None for a in answers.values()):
                verdict = "n/a"
            else:
                verdict = "same" if not q.prov9_only else "checked"
            if q.prov9_only:
                peers = by_name[queries.EQUIVALENT[q.name]]
                label = f"*{q.label}* ({queries.EQUIVALENT[q.name]})"
            else:
                peers, label = results, q.label
            rows.append((label, results, peers, verdict))

        c = counts["prov9"]
        header = [
            ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
            ("command", f"`{command}`"),
            ("machine", report.machine()),
            ("prov9", f"{prov9.version()} ({args.prov9}; memory_limit={prov9.memory_limit()}; load with "
                      f"{' '.join(f'{k}={v}' for k, v in LOAD_ENV.items())}"
                      f"{'; DEBUG BUILD, not representative' if '/debug/' in args.prov9 else ''})"),
            ("peers", f"{pg.version()} ({', '.join(f'{k}={v}' for k, v in pg_settings().items())}; "
                      f"indexes on {', '.join(f'{t}({c})' for t, c in schema.POSTGRES_INDEXES)}); "
                      f"DuckDB {DuckDB.version()} (file database, no indexes); psycopg {psycopg.__version__}"),
            ("data", f"SF {args.sf:g}: {manifest['days']} days of {manifest['pipelines']} pipelines, "
                     f"{manifest['expected_rows']['events']:,} events in {len(files)} files "
                     f"({manifest['gzip_bytes'] / 1e6:.1f} MB gzipped); rows, the same in all three engines: "
                     + ", ".join(f"{t} {c[t]:,}" for t in schema.TABLES)),
            ("parameters", f"model `{params['model']}` ({len(graph.closure(params['model'], 'up')):,} nodes upstream, "
                           f"itself included), raw `{params['raw']}` ({len(graph.closure(params['raw'], 'down')):,} nodes "
                           f"downstream), path from raw to `{params['to']}` ({params['distance']} hops, depth bound "
                           f"{params['max_depth']}), {len(params['run_ids'])} run ids"),
            ("repetitions", f"{args.reps} timed after 1 warm-up"),
        ]
        loads = {"prov9": prov9_load, "pg_total": sum(pg_times.values()), "pg_index": pg_times["index"],
                 "pg_analyze": pg_times["analyze"], "duckdb": duck_load, "export": export.seconds,
                 "ndjson_bytes": sum(gunzipped_size(f) for f in files),
                 "gzip_bytes": sum(f.stat().st_size for f in files),
                 "csv_bytes": csv_bytes, "tables": len(csv_paths)}
        text = report.render(header, loads, rows, notes)
        if mismatches:
            text += "\n## ANSWER MISMATCHES\n\n" + "\n".join(f"- {m}" for m in mismatches) + "\n"
        if failures:
            text += "\n## FAILED QUERIES\n\n" + "\n".join(f"- {f}" for f in failures) + "\n"
        print(text)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        saved = args.data_dir / sf_name(args.sf) / f"results-{stamp}.md"
        saved.write_text(text)
        log(f"report saved to {saved}")
        if mismatches or failures:
            log(f"FAILED: {len(mismatches)} answer mismatches, {len(failures)} failed queries")
            return 1
        return 0
    finally:
        for c in clients:
            try:
                c.close()
            except Exception:
                pass
        prov9.stop()
        pg.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
