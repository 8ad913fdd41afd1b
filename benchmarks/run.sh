#!/usr/bin/env bash
# One command for the whole comparison: build prov9 (release), check the peers are installed,
# then generate, load, query and report (benchmarks/bench.py does the work).
#
#   ./benchmarks/run.sh [--sf F] [--reps N] [other bench.py options]
#   PROV9_BIN=/path/to/prov9 ./benchmarks/run.sh --sf 0.01     # use that binary, build nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

if [[ -z "${PROV9_BIN:-}" ]]; then
    echo "run.sh: building prov9 (cargo build --release)" >&2
    (cd "$repo" && cargo build --release)
    # Ask cargo where it put the binary (CARGO_TARGET_DIR or a config may move target/).
    target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    export PROV9_BIN="$target_dir/release/prov9"
fi
[[ -x "$PROV9_BIN" ]] || { echo "run.sh: no prov9 binary at $PROV9_BIN" >&2; exit 1; }

if [[ ! -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "run.sh: installing PostgreSQL 15" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2
    else
        echo "run.sh: PostgreSQL 15 server binaries missing: apt-get install postgresql-15 (or set PG_BIN)" >&2
        exit 1
    fi
fi

if ! python3 -c 'import duckdb, psycopg' 2>/dev/null; then
    echo "run.sh: installing the Python packages of benchmarks/requirements.txt" >&2
    python3 -m pip install -q -r "$here/requirements.txt"
fi

export BENCH_COMMAND="./benchmarks/run.sh${*:+ $*}"
cd "$here"
exec python3 bench.py "$@"
