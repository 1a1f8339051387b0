"""End-to-end: one HTTP request becomes one trace across NestJS, Python, C and Rust, seen in Jaeger.

    GET nest1/kafka -> nest1 -order.created-> nest2 -order.shipped-> nest3
                                                         \\-> python-forwarder -order.packed-> c-consumer
                                                                                        \\-> rust-consumer

Runs against the native dev stack (`scripts/dev-stack up`; `scripts/test-e2e.sh` does everything).
Environment (defaults are the dev stack's, see `scripts/dev-stack env`): NEST1_URL, JAEGER_QUERY,
KAFKA_BOOTSTRAP, KAFKA_TRACE_BIN (the CLI, for `inspect --json`), TOPIC_PREFIX, E2E_TIMEOUT (s).
"""

import json
import os
import subprocess
import time
import urllib.request

import pytest

from trace_tree import tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NEST1_URL = os.environ.get("NEST1_URL", "http://127.0.0.1:3001")
JAEGER = os.environ.get("JAEGER_QUERY", "http://127.0.0.1:16686")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9292")
KAFKA_TRACE = os.environ.get("KAFKA_TRACE_BIN", os.path.join(ROOT, "target", "debug", "kafka-trace"))
PREFIX = os.environ.get("TOPIC_PREFIX", "")
TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "60"))

CREATED, SHIPPED, PACKED = PREFIX + "order.created", PREFIX + "order.shipped", PREFIX + "order.packed"
SERVICES = ["nest1", "nest2", "nest3", "python-forwarder", "c-consumer", "rust-consumer"]
# (producing service, topic, consuming service, consumer group): every Kafka hop of the topology.
HOPS = [
    ("nest1", CREATED, "nest2", "nest2"),
    ("nest2", SHIPPED, "nest3", "nest3"),
    ("nest2", SHIPPED, "python-forwarder", "python-forwarder"),
    ("python-forwarder", PACKED, "c-consumer", "c-consumer"),
    ("python-forwarder", PACKED, "rust-consumer", "rust-consumer"),
]


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


class Trace:
    """A Jaeger trace (HTTP query API v1 JSON) with helpers."""

    def __init__(self, doc):
        self.doc = doc
        self.spans = doc["spans"]
        procs = doc["processes"]
        self.by_id = {s["spanID"]: s for s in self.spans}
        for s in self.spans:
            s["service"] = procs[s["processID"]]["serviceName"]
            s["tagmap"] = {t["key"]: t["value"] for t in s.get("tags", [])}
            s["parent"] = next((r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"), None)

    @property
    def services(self):
        return {s["service"] for s in self.spans}

    def find(self, service, name, kind=None):
        return [s for s in self.spans if s["service"] == service and s["operationName"] == name and (kind is None or s["tagmap"].get("span.kind") == kind)]

    def ancestors(self, span):
        seen = []
        while span["parent"] and span["parent"] in self.by_id:
            span = self.by_id[span["parent"]]
            seen.append(span)
        return seen

    def describe(self, span):
        return f'{span["service"]}:{span["operationName"]}({span["tagmap"].get("span.kind")})'


def fetch_trace(trace_id):
    try:
        data = http_json(f"{JAEGER}/api/traces/{trace_id}")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise
    docs = data.get("data") or []
    return Trace(docs[0]) if docs else None


def complete(trace):
    if trace is None or not set(SERVICES) <= trace.services:
        return False
    return all(trace.find(p, f"send {t}", "producer") and trace.find(c, f"process {t}", "consumer") for p, t, c, _ in HOPS)


@pytest.fixture(scope="module")
def trace():
    """Sends one request to nest1 and waits until its trace is complete in Jaeger (or times out)."""
    reply = http_json(f"{NEST1_URL}/kafka")
    trace_id = reply.get("traceId")
    assert trace_id and len(trace_id) == 32, f"nest1 answered without a trace id: {reply}"
    deadline = time.monotonic() + TIMEOUT
    t = None
    while time.monotonic() < deadline:
        t = fetch_trace(trace_id)
        if complete(t):
            time.sleep(1.5)  # late spans of the same batch (e.g. nest3's record-shipment)
            return trace_id, fetch_trace(trace_id)
        time.sleep(1)
    return trace_id, t


def missing_report(trace):
    if trace is None:
        return "Jaeger has no span of the trace at all"
    lines = [f"services present: {sorted(trace.services)}; missing: {sorted(set(SERVICES) - trace.services)}"]
    for p, t, c, _ in HOPS:
        send, proc = trace.find(p, f"send {t}", "producer"), trace.find(c, f"process {t}", "consumer")
        if not (send and proc):
            lines.append(f"hop {p} -{t}-> {c}: " + ("no send span" if not send else "") + (" no process span" if not proc else ""))
    lines.append(tree(trace.doc))
    return "\n".join(lines)


def test_one_trace_with_all_six_services(trace):
    trace_id, t = trace
    assert t is not None and set(SERVICES) <= t.services, missing_report(t)
    assert {s["traceID"] for s in t.spans} == {trace_id}, "every span carries the request's trace id"


def test_exact_parent_chain(trace):
    trace_id, t = trace
    assert complete(t), missing_report(t)
    problems = []
    # The root: nest1's HTTP server span, with no parent.
    roots = [s for s in t.spans if s["parent"] is None]
    assert len(roots) == 1, f"one root span, got {[t.describe(s) for s in roots]}"
    root = roots[0]
    assert root["service"] == "nest1" and root["tagmap"].get("span.kind") == "server", f"root is {t.describe(root)}"
    for producer, topic, consumer, _ in HOPS:
        sends = t.find(producer, f"send {topic}", "producer")
        procs = t.find(consumer, f"process {topic}", "consumer")
        if len(sends) != 1:
            problems.append(f"{producer}: {len(sends)} 'send {topic}' spans (want 1)")
            continue
        if len(procs) != 1:
            problems.append(f"{consumer}: {len(procs)} 'process {topic}' spans (want 1)")
            continue
        send, proc = sends[0], procs[0]
        # across Kafka (strategy parent): the consumer's process span is a child of the producer's send span
        if proc["parent"] != send["spanID"]:
            parent = t.by_id.get(proc["parent"])
            problems.append(f"{t.describe(proc)} has parent {t.describe(parent) if parent else proc['parent']}, want {t.describe(send)}")
        # inside a service: the send runs under the handler of the message it forwards (or the HTTP request)
        if producer == "nest1":
            upstream = root
        else:
            upstream = next(iter(t.find(producer, f"process {_upstream_topic(producer)}", "consumer")), None)
        if upstream is None or upstream["spanID"] not in {a["spanID"] for a in t.ancestors(send)}:
            problems.append(f"{t.describe(send)} is not under {t.describe(upstream) if upstream else producer + ' handler'}: ancestors {[t.describe(a) for a in t.ancestors(send)]}")
    assert not problems, "\n".join(problems)


def _upstream_topic(service):
    return {"nest2": CREATED, "python-forwarder": SHIPPED}[service]


SEMCONV_COMMON = ["messaging.system", "messaging.operation.name", "messaging.operation.type", "messaging.destination.name", "messaging.destination.partition.id", "messaging.kafka.offset"]


def test_semconv_attributes_on_every_kafka_span(trace):
    trace_id, t = trace
    assert complete(t), missing_report(t)
    problems = []
    kafka_spans = [s for s in t.spans if s["tagmap"].get("span.kind") in ("producer", "consumer") and s["tagmap"].get("messaging.system")]
    # every producer/consumer span of the trace is a Kafka span of ours
    for s in t.spans:
        if s["tagmap"].get("span.kind") in ("producer", "consumer") and s not in kafka_spans:
            problems.append(f"{t.describe(s)} has no messaging.system")
    for s in kafka_spans:
        tags, kind = s["tagmap"], s["tagmap"]["span.kind"]
        op = "send" if kind == "producer" else "process"
        for key in SEMCONV_COMMON:
            if key not in tags:
                problems.append(f"{t.describe(s)}: missing {key}")
        if tags.get("messaging.system") != "kafka":
            problems.append(f"{t.describe(s)}: messaging.system={tags.get('messaging.system')!r}")
        if tags.get("messaging.operation.name") != op or tags.get("messaging.operation.type") != op:
            problems.append(f"{t.describe(s)}: operation {tags.get('messaging.operation.name')!r}/{tags.get('messaging.operation.type')!r}, want {op}")
        if s["operationName"] != f"{op} {tags.get('messaging.destination.name')}":
            problems.append(f"{t.describe(s)}: name does not match destination {tags.get('messaging.destination.name')!r}")
        if not isinstance(tags.get("messaging.destination.partition.id"), str):
            problems.append(f"{t.describe(s)}: partition id must be a string, got {tags.get('messaging.destination.partition.id')!r}")
        if not isinstance(tags.get("messaging.kafka.offset"), int):
            problems.append(f"{t.describe(s)}: messaging.kafka.offset must be an integer, got {tags.get('messaging.kafka.offset')!r}")
        if kind == "consumer":
            if not tags.get("messaging.consumer.group.name"):
                problems.append(f"{t.describe(s)}: missing messaging.consumer.group.name")
        if "server.address" not in tags:
            problems.append(f"{t.describe(s)}: missing server.address")
    assert not problems, "\n".join(problems)
    sends = {(p, t) for p, t, _, _ in HOPS}
    assert len(kafka_spans) == len(sends) + len(HOPS), f"{len(kafka_spans)} Kafka spans: {sorted(t.describe(s) for s in kafka_spans)}"


def test_e2e_latency_on_every_process_span(trace):
    trace_id, t = trace
    assert complete(t), missing_report(t)
    problems = []
    for _, topic, consumer, _ in HOPS:
        for s in t.find(consumer, f"process {topic}", "consumer"):
            v = s["tagmap"].get("kafka_trace.e2e_latency_ms")
            if not isinstance(v, (int, float)) or v < 0 or v > 60_000:
                problems.append(f"{t.describe(s)}: kafka_trace.e2e_latency_ms={v!r}")
    assert not problems, "\n".join(problems)


def inspect(topic):
    out = subprocess.run(
        [KAFKA_TRACE, "inspect", "--bootstrap", BOOTSTRAP, "--topic", topic, "--from-beginning", "--json", "--timeout", "3"],
        check=True, capture_output=True, text=True, timeout=120,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("topic", [CREATED, SHIPPED, PACKED])
def test_no_duplicate_trace_headers(trace, topic):
    trace_id, _ = trace
    doc = inspect(topic)
    summary = doc["summary"]
    assert summary["messages_with_duplicate_headers"] == 0, json.dumps(summary, indent=1)
    ours = [m for m in doc["messages"] if m["traceparent"].get("trace_id") == trace_id]
    assert len(ours) == 1, f"{topic}: {len(ours)} messages of trace {trace_id} (want exactly 1)"
    names = [h["name"].lower() for h in ours[0]["headers"]]
    assert names.count("traceparent") == 1 and names.count("tracestate") <= 1 and names.count("baggage") <= 1, names
    assert ours[0]["traceparent"]["valid"] and ours[0]["traceparent"]["sampled"]
