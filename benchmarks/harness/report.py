"""The Markdown report: machine and setup, load times, and per-query medians and p95s."""
import platform
import subprocess

from .timing import median, p95

ENGINES = ["prov9", "PostgreSQL", "DuckDB"]


def machine():
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    os_name = ""
    try:
        with open("/etc/os-release") as f:
            os_name = dict(l.rstrip().split("=", 1) for l in f if "=" in l).get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    return f"{cores} cores ({cpu}), {mem_kb / 1048576:.1f} GiB RAM, {os_name}, Linux {platform.release()}"


def ms(seconds):
    if seconds is None:
        return "—"
    v = seconds * 1000
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def cell(result, stat):
    if result is None:
        return "—"
    if isinstance(result, str):  # n/a, error, timeout
        return result
    return ms(stat(result))


def ratio(a, b):
    if isinstance(a, list) and isinstance(b, list):
        r = median(a) / median(b)
        return f"{r:,.0f}" if r >= 100 else f"{r:.2g}" if r < 1 else f"{r:.3g}"
    return "—"


def mb(n):
    return f"{n / 1e6:,.1f}"


def render(header, loads, rows, notes=()):
    """header: [(key, value)]; loads: dict; rows: [(label, {engine: times|str}, {engine: times|str} peers, answers)];
    notes: lines said under the load table."""
    out = ["# prov9 vs PostgreSQL vs DuckDB", ""]
    out += [f"- {k}: {v}" for k, v in header]
    csv = f"{mb(loads['csv_bytes'])} CSV ({loads['tables']} tables)"
    out += ["", "## Load", "",
            "| step | prov9 | PostgreSQL | DuckDB |", "|---|---:|---:|---:|",
            f"| load, total (s) | {loads['prov9']:.2f} | {loads['pg_total']:.2f} | {loads['duckdb']:.2f} |",
            f"| of which index build + ANALYZE (s) | — | {loads['pg_index'] + loads['pg_analyze']:.2f} "
            f"({loads['pg_index']:.2f} + {loads['pg_analyze']:.2f}) | — |",
            f"| input loaded (MB) | {mb(loads['ndjson_bytes'])} NDJSON ({mb(loads['gzip_bytes'])} gzipped) "
            f"| {csv} | {csv} |",
            "",
            "prov9 loads the OpenLineage NDJSON itself (parse, normalise into every table, keep each event "
            "verbatim, Delta commits); PostgreSQL and DuckDB load the same rows: the CSV of every table prov9 "
            "wrote (events with their JSON payloads included), exported from prov9 with "
            f"`COPY (SELECT …) TO STDOUT WITH (FORMAT csv)` in {loads['export']:.2f} s (not counted in any "
            "load time). Input sizes are the sums of the files' sizes (NDJSON: uncompressed).",
            *(f"\nNote: {n}." for n in notes),
            "", "## Queries (milliseconds)", "",
            "| query | prov9 median | prov9 p95 | PostgreSQL median | PostgreSQL p95 | DuckDB median | DuckDB p95 "
            "| prov9/PostgreSQL | prov9/DuckDB | answers |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for label, results, peers, answers in rows:
        line = [label]
        for e in ENGINES:
            line += [cell(results.get(e), median), cell(results.get(e), p95)]
        line += [ratio(results.get("prov9"), peers.get("PostgreSQL")),
                 ratio(results.get("prov9"), peers.get("DuckDB")), answers]
        out.append("| " + " | ".join(line) + " |")
    out += ["",
            "Ratios are prov9's median over the peer's (below 1: prov9 is faster). Rows in *italics* are "
            "prov9's lineage table functions; their ratios compare them with the peer's WITH RECURSIVE "
            "query for the same question (the row named in parentheses). Times are taken by the client: "
            "prov9 and PostgreSQL over the wire with psycopg on loopback, DuckDB in process.", ""]
    return "\n".join(out)
