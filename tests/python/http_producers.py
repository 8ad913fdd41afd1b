#!/usr/bin/env python3
"""Many producers at once: THREADS threads post EVENTS OpenLineage events to prov9's ingest endpoint.

Usage: http_producers.py URL THREADS EVENTS BATCH

Each thread sends its share as JSON arrays of BATCH events (gzip-compressed on every other
request), retrying on 503 after Retry-After, as a backfill client would. Prints one JSON line:
{"acknowledged": N, "requests": N, "retries_503": N, "seconds": S}; exits non-zero on any other
answer than 201.
"""
import gzip
import json
import sys
import threading
import time
import uuid

import requests

PRODUCER = "https://github.com/provenance-9/prov9/tests/python/http_producers.py"


def event(i: int) -> dict:
    run = str(uuid.uuid5(uuid.NAMESPACE_URL, f"producer-run/{i}"))
    return {
        "eventType": "COMPLETE",
        "eventTime": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run},
        "job": {"namespace": "load-test", "name": f"job_{i % 50}"},
        "inputs": [{"namespace": "s3://load", "name": f"in/{i % 100}"}],
        "outputs": [{"namespace": "s3://load", "name": f"out/{i % 100}"}],
    }


def main(url: str, threads: int, total: int, batch: int) -> None:
    endpoint = url.rstrip("/") + "/api/v1/lineage"
    acknowledged = [0] * threads
    requests_sent = [0] * threads
    retries = [0] * threads
    errors = []

    def produce(t: int) -> None:
        session = requests.Session()
        mine = list(range(t, total, threads))
        for k in range(0, len(mine), batch):
            body = json.dumps([event(i) for i in mine[k:k + batch]]).encode()
            headers = {"Content-Type": "application/json"}
            if (k // batch) % 2:
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            while True:
                r = session.post(endpoint, data=body, headers=headers, timeout=120)
                requests_sent[t] += 1
                if r.status_code == 503:
                    retries[t] += 1
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                break
            if r.status_code != 201:
                errors.append(f"thread {t}: HTTP {r.status_code}: {r.text}")
                return
            acknowledged[t] += r.json()["accepted"]

    started = time.monotonic()
    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps({"acknowledged": sum(acknowledged), "requests": sum(requests_sent),
                      "retries_503": sum(retries), "seconds": round(time.monotonic() - started, 2)}))
    if errors:
        sys.exit("\n".join(errors[:5]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
