#!/usr/bin/env python3
"""Prints a trace from Jaeger's HTTP query API as a tree (service, span, kind, e2e latency).

    python3 tests/e2e/trace_tree.py TRACE_ID            # JAEGER_QUERY, default http://127.0.0.1:16686
    python3 tests/e2e/trace_tree.py --request           # GET nest1/kafka first (NEST1_URL), then print its trace
"""

import json
import os
import sys
import time
import urllib.request

JAEGER = os.environ.get("JAEGER_QUERY", "http://127.0.0.1:16686")
NEST1_URL = os.environ.get("NEST1_URL", "http://127.0.0.1:3001")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read().decode())


def tree(doc):
    procs = doc["processes"]
    children = {}
    for s in doc["spans"]:
        parent = next((r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"), None)
        children.setdefault(parent, []).append(s)
    lines = [f'trace {doc["traceID"]}: {len(doc["spans"])} spans, {len({p["serviceName"] for p in procs.values()})} services']

    def walk(span, depth):
        tags = {t["key"]: t["value"] for t in span.get("tags", [])}
        extra = f'  e2e {tags["kafka_trace.e2e_latency_ms"]:.0f} ms' if "kafka_trace.e2e_latency_ms" in tags else ""
        if "messaging.kafka.offset" in tags:
            extra += f'  [{tags.get("messaging.destination.partition.id")}@{tags["messaging.kafka.offset"]}]'
        lines.append(f'{"  " * depth}{procs[span["processID"]]["serviceName"]:<17} {span["operationName"]:<24} {tags.get("span.kind", ""):<9} {span["duration"] / 1000:7.1f} ms{extra}')
        for c in sorted(children.get(span["spanID"], []), key=lambda s: s["startTime"]):
            walk(c, depth + 1)

    known = {s["spanID"] for s in doc["spans"]}
    for root in sorted([s for p, ss in children.items() if p is None or p not in known for s in ss], key=lambda s: s["startTime"]):
        walk(root, 1)
    return "\n".join(lines)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    if argv[0] == "--request":
        trace_id = get(f"{NEST1_URL}/kafka")["traceId"]
        time.sleep(float(os.environ.get("WAIT", "5")))
    else:
        trace_id = argv[0]
    data = get(f"{JAEGER}/api/traces/{trace_id}").get("data") or []
    if not data:
        print(f"no trace {trace_id} in {JAEGER}", file=sys.stderr)
        return 1
    print(tree(data[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
