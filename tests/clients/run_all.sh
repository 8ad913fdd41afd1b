#!/usr/bin/env bash
# Real-client compatibility checks against `prov9 serve --demo`.
#
# Usage: tests/clients/run_all.sh [PATH/TO/prov9]      (default: target/debug/prov9)
# Needs: pip install -r tests/clients/python/requirements.txt; apt-get install
# libpostgresql-jdbc-java (and Java 17); (cd tests/clients/node && npm ci). A client whose tools
# are missing is reported as skipped. With PGHOST/PGPORT already set, uses that server instead.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../target/debug/prov9}"
export PGUSER="${PGUSER:-prov9}" PGDATABASE="${PGDATABASE:-prov9}"

server_pid=""
if [ -z "${PGPORT:-}" ]; then
  log="$(mktemp)"
  "$bin" --data memory:// serve --demo --pg-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 2>"$log" &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null' EXIT
  for _ in $(seq 1 300); do
    port="$(grep -o 'postgresql://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')"
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log"; echo "prov9 exited"; exit 1; }
    sleep 0.2
  done
  [ -n "${port:-}" ] || { cat "$log"; echo "prov9 did not report its port"; exit 1; }
  export PGHOST=127.0.0.1 PGPORT="$port"
fi
echo "server: postgresql://$PGHOST:$PGPORT/$PGDATABASE"

status=0
results=()
run() { # name, dir, command...
  local name="$1" dir="$2"; shift 2
  echo; echo "=== $name"
  (cd "$dir" && "$@"); local rc=$?
  results+=("$name: $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")
  [ $rc -eq 0 ] || status=1
}
skip() { results+=("$1: skipped ($2)"); }

if python3 -c 'import psycopg, sqlalchemy, pandas' 2>/dev/null; then
  run psycopg "$here/python" python3 test_psycopg.py
  run sqlalchemy "$here/python" python3 test_sqlalchemy.py
  run bi-catalog "$here/python" python3 test_bi_catalog.py
else
  skip python "pip install -r tests/clients/python/requirements.txt"
fi
jar=/usr/share/java/postgresql.jar
if command -v java >/dev/null && [ -f "$jar" ]; then
  run jdbc "$here/jdbc" java -cp "$jar" ClientTest.java
else
  skip jdbc "needs java and $jar (libpostgresql-jdbc-java)"
fi
if command -v node >/dev/null && [ -d "$here/node/node_modules/pg" ]; then
  run node-pg "$here/node" node test_pg.js
else
  skip node-pg "cd tests/clients/node && npm ci"
fi

echo; echo "=== summary"
printf '%s\n' "${results[@]}"
exit $status
