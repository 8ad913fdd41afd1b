#!/usr/bin/env bash
# The stock Marquez web UI (0.51) against prov9's Marquez read API, as the marquez-web image runs
# it: its `web/` built with npm, served by its own setupProxy.js with MARQUEZ_HOST/MARQUEZ_PORT
# pointing at `prov9 serve --demo`, then every page driven in headless Chromium by check.mjs
# (exit 1 listing what broke). Not part of CI: Marquez's source comes from GitHub, which CI
# cannot reach; run it by hand after changing crates/http/src/marquez/.
#
#   git clone --depth 1 --branch 0.51.1 https://github.com/MarquezProject/marquez /tmp/marquez
#   tests/marquez-web/run.sh /tmp/marquez [path/to/prov9]
#
# Needs node and npm, and Chromium at /usr/bin/chromium (apt-get install chromium) or CHROMIUM.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
marquez="${1:?usage: run.sh MARQUEZ_CHECKOUT [PROV9_BIN]}"
prov9="${2:-$(cd "$here/../.." && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/prov9}"
[[ -x "$prov9" ]] || { echo "run.sh: no prov9 binary at $prov9 (cargo build first)" >&2; exit 1; }
[[ -f "$marquez/web/setupProxy.js" ]] || { echo "run.sh: $marquez is not a Marquez checkout" >&2; exit 1; }

work="$(mktemp -d -t prov9-marquez-web-XXXX)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "run.sh: building Marquez's web UI in $work/web (npm ci + webpack: about 4 min)" >&2
cp -r "$marquez/web" "$work/web"
(cd "$work/web" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent) >&2
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2

http="$(free_port)" pg="$(free_port)" web="$(free_port)"
"$prov9" --data "$work/warehouse" serve --demo --pg-listen "127.0.0.1:$pg" \
    --http-listen "127.0.0.1:$http" > "$work/prov9.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$http/api/v1/namespaces" > /dev/null && break
    sleep 1
done
(cd "$work/web" && MARQUEZ_HOST=127.0.0.1 MARQUEZ_PORT="$http" WEB_PORT="$web" \
    exec node setupProxy.js) > "$work/web.log" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
    curl -sf "http://127.0.0.1:$web/" > /dev/null && break
    sleep 1
done
node "$here/check.mjs" --prov9 "http://127.0.0.1:$http" --web "http://127.0.0.1:$web" --out "$work/out"
echo "run.sh: screenshots and report.json in $work/out" >&2
