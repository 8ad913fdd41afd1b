"""The benchmark queries (SQL files in benchmarks/queries/), their parameters, and answer checks."""
import datetime
import decimal
import math
from dataclasses import dataclass
from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parents[1] / "queries"
LOOKUPS = 100  # run ids per point-lookup measurement


@dataclass
class Query:
    name: str             # file stem in queries/
    label: str            # row title in the report
    prov9_only: bool = False
    lookup: bool = False  # run once per lookup id, prepared

    def sql(self, params, check=False):
        path = QUERY_DIR / f"{self.name}{'.check' if check else ''}.sql"
        if check and not path.exists():
            return None
        text = path.read_text()
        for key, value in params.items():
            if isinstance(value, (str, int)):
                text = text.replace("{{" + key + "}}", literal(value))
        if "{{" in text:
            raise SystemExit(f"{path}: a parameter has no value: {text[text.index('{{'):].split('}}')[0]}}}}}")
        return text


QUERIES = [
    Query("upstream_closure", "upstream closure of a deployed model (WITH RECURSIVE)"),
    Query("downstream_impact", "downstream impact of a raw dataset version (WITH RECURSIVE)"),
    Query("shortest_path", "shortest path, depth-bounded BFS (WITH RECURSIVE)"),
    Query("run_lookup", f"point lookup of a run by id, x{LOOKUPS}", lookup=True),
    Query("best_metric_per_architecture", "best evaluation metric per architecture"),
    Query("edges_per_job", "lineage edges per job (3-way join, GROUP BY)"),
    Query("lineage_upstream", "lineage_upstream(model, 1000)", prov9_only=True),
    Query("lineage_downstream", "lineage_downstream(raw, 1000)", prov9_only=True),
    Query("lineage_path", "lineage_path(from, to)", prov9_only=True),
]

# The WITH RECURSIVE query a prov9-only table function replaces: its peers' times are the ones
# the function is compared with.
EQUIVALENT = {"lineage_upstream": "upstream_closure", "lineage_downstream": "downstream_impact",
              "lineage_path": "shortest_path"}


def literal(value):
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def pick_parameters(duck, graph):
    """Parameters chosen from the data itself, the same way at every scale factor."""
    # Of the model versions deployed to prod on the last day with a prod deployment, the one with
    # the largest upstream closure (a long training window over an incremental feature table).
    candidates = [r[0] for r in duck.run("""
        SELECT DISTINCT model_version_id FROM deployments
        WHERE environment = 'prod' AND CAST(deployed_at AS DATE) =
            (SELECT max(CAST(deployed_at AS DATE)) FROM deployments WHERE environment = 'prod')""")]
    if not candidates:
        raise SystemExit("no prod deployment in the data: the generated data is not as expected")
    model = max(sorted(candidates), key=lambda m: len(graph.closure(m, "up")))
    # Of the first day's ingested versions read by the most runs, the one with the largest
    # downstream impact: a core team's raw data, which other teams' pipelines read.
    read_most = [r[0] for r in duck.run("""
        SELECT e.dst
        FROM lineage_edges e
        JOIN runs r ON r.run_id = e.src
        JOIN jobs j ON j.job_id = r.job_id
        WHERE e.edge_type = 'output' AND j.job_type = 'ingestion'
          AND CAST(e.event_time AS DATE) = (SELECT CAST(min(event_time) AS DATE) FROM lineage_edges)
        ORDER BY (SELECT count(*) FROM lineage_edges o WHERE o.src = e.dst) DESC, e.dst
        LIMIT 20""")]
    raw = max(sorted(read_most), key=lambda r: len(graph.closure(r, "down")))
    # The farthest deployment downstream of that raw version: how did day-one data reach the last
    # deployments? The BFS may go 4 hops past it.
    dist = graph.distances(raw)
    deployments = sorted((-d, n) for n, d in dist.items() if n.startswith("deployment:"))
    if not deployments:
        raise SystemExit(f"no deployment is downstream of {raw}: the generated data is not as expected")
    distance, to = -deployments[0][0], deployments[0][1]
    ids = [r[0] for r in duck.run("SELECT run_id FROM runs ORDER BY run_id")]
    step = max(1, len(ids) // LOOKUPS)
    return {"model": model, "raw": raw, "from": raw, "to": to, "max_depth": distance + 4,
            "distance": distance, "run_ids": ids[::step][:LOOKUPS]}


def _value(v):
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else float(f"{v:.10g}")  # summation order differs by engine
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat()
    return v


def normalize(rows):
    """A result as a sorted list of plain tuples, comparable across drivers."""
    return sorted((tuple(_value(v) for v in row) for row in rows), key=repr)


def normalize_lookups(results):
    return [normalize(rows) for rows in results]


def diff(a, b, limit=5):
    """A short description of how two normalized answers differ."""
    if isinstance(a, list) and isinstance(b, list) and a and b and isinstance(a[0], list):
        bad = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return f"{len(bad)} of {len(a)} lookups differ, first: {a[bad[0]] if bad else a} vs {b[bad[0]] if bad else b}"
    sa, sb = set(map(repr, a)), set(map(repr, b))
    only_a, only_b = sorted(sa - sb)[:limit], sorted(sb - sa)[:limit]
    return (f"{len(a)} vs {len(b)} rows; {len(sa - sb)} only in the first, e.g. {only_a}; "
            f"{len(sb - sa)} only in the second, e.g. {only_b}")


def check_path(rows, params, graph):
    """lineage_path's rows must be a valid shortest path: consecutive real edges from `from` to `to`.
    Returns None when they are, else what is wrong."""
    steps = [r for r in rows if r[2] is not None]  # a row for the start node itself, if any, has no edge
    if len(steps) != params["distance"]:
        return f"{len(steps)} edges, the shortest path has {params['distance']}"
    at = params["from"]
    for step, node, src, dst, edge_type in steps:
        if src != at or node != dst or not graph.has_edge(src, dst, edge_type):
            return f"step {step} ({src} -> {dst}, {edge_type}) is not an edge continuing the path at {at}"
        at = dst
    return None if at == params["to"] else f"the path ends at {at}, not {params['to']}"
