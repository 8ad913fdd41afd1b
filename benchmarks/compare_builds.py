#!/usr/bin/env python3
"""Two prov9 binaries (say release builds of two profiles or two commits) side by side on the
same generated history: binary size, the bulk load, and the benchmark's queries.

    cp target/release/prov9 /tmp/prov9-before   # then change the profile and build again
    python3 benchmarks/compare_builds.py --sf 1 before=/tmp/prov9-before after=target/release/prov9

Loads alternate between the builds (A, B, A, B, …); then each build serves the queries in turn,
one server at a time (two SF 10 servers and DuckDB do not fit in 24 GiB together). Prints a
Markdown table; B/A above 1 means B is slower.
"""
import argparse
import shutil
from contextlib import contextmanager
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import ensure_data, measure, sf_name  # noqa: E402
from harness import queries, schema  # noqa: E402
from harness.duckdb_engine import DuckDB  # noqa: E402
from harness.prov9 import Prov9  # noqa: E402
from harness.reference import Graph  # noqa: E402
from harness.timing import median  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs=2, metavar="NAME=BINARY")
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--loads", type=int, default=2, help="bulk loads per build, alternating")
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-load", action="store_true",
                    help="query the warehouses a previous run loaded (no load times then)")
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]

    events, _ = ensure_data(args.sf, args.seed, args.data_dir)
    files = sorted(events.glob("*.ndjson.gz"))
    work = args.data_dir / sf_name(args.sf) / "compare"
    if not args.no_load:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)

    servers = {name: Prov9(binary, work / name, work / f"{name}-serve.log") for name, binary in builds}
    loads = {name: [] for name, _ in builds}
    for i in range(0 if args.no_load else args.loads):
        for name, p9 in servers.items():
            shutil.rmtree(p9.warehouse, ignore_errors=True)
            seconds, summary = p9.load(files)
            loads[name].append(seconds)
            print(f"load {i + 1} {name}: {seconds:.2f} s ({summary})", file=sys.stderr)

    a, b = (name for name, _ in builds)
    # The parameters come from the data, picked as bench.py picks them (in DuckDB: one of the
    # queries is a correlated subquery prov9 does not plan).
    tables = schema.columns()
    csv_paths = {t: work / f"{t}.csv" for t in schema.TABLES}
    duck_path = work / "params.duckdb"
    if not duck_path.exists():
        with served(servers[a], args.timeout) as client:
            for t in schema.TABLES:
                servers[a].export_csv(client, t, schema.export_list(tables[t]), csv_paths[t])
        duck = DuckDB(duck_path)
        duck.load(tables, csv_paths)
    else:
        duck = DuckDB(duck_path)
    params = queries.pick_parameters(duck, Graph(csv_paths["lineage_edges"]))
    duck.close()

    answers = {}
    for name, p9 in servers.items():
        with served(p9, args.timeout) as client:
            for q in queries.QUERIES:
                answer, t, _ = measure(client, q, params, args.reps)
                if isinstance(t, str):
                    raise SystemExit(f"{q.name} on {name}: {t}")
                answers[name, q.name] = (answer, median(t) * 1e3)

    size = {name: Path(binary).stat().st_size / 1e6 for name, binary in builds}
    rows = [("binary size, MB", size[a], size[b])]
    if loads[a]:
        rows.append(("bulk load, s (median)", median(loads[a]), median(loads[b])))
    for q in queries.QUERIES:
        (answer_a, ms_a), (answer_b, ms_b) = answers[a, q.name], answers[b, q.name]
        if answer_a != answer_b:
            raise SystemExit(f"{q.name}: the builds answer differently")
        rows.append((f"{q.name}, ms (median)", ms_a, ms_b))

    loaded = "warehouses of an earlier run" if args.no_load else f"{args.loads} loads per build"
    print(f"SF {args.sf:g}, {args.reps} repetitions, {loaded}\n")
    print(f"| | {a} | {b} | {b}/{a} |")
    print("|---|---:|---:|---:|")
    for label, x, y in rows:
        print(f"| {label} | {x:.2f} | {y:.2f} | {y / x:.2f} |")


@contextmanager
def served(p9, timeout_s):
    """A client of `p9` serving its warehouse, stopped after."""
    p9.serve()
    try:
        yield p9.client(timeout_s)
    finally:
        p9.stop()


if __name__ == "__main__":
    main()
