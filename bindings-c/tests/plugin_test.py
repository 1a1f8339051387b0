#!/usr/bin/env python3
"""The librdkafka plugin (libkafka_trace.so via plugin.library.paths) on the real broker, with
clients we do not edit: kcat (Debian's librdkafka) and a confluent-kafka Python producer (the
librdkafka bundled in its wheel), every span checked at an OTLP/HTTP receiver run here.

Usage: plugin_test.py LIBKAFKA_TRACE_SO C_EXAMPLES_DIR
Needs: kcat, cargo (for `kafka-trace inspect`), confluent-kafka and opentelemetry-proto in this
Python, a broker at $KAFKA_BOOTSTRAP (default 127.0.0.1:9092), the C examples (consumer) built.

Checks (exact counts, ids and parents):
 1. kcat -P through the plugin, N messages: `kafka-trace inspect` reports 100% coverage, N valid
    traceparents, no duplicate header, N distinct traces; the receiver got exactly N
    `send T` PRODUCER root spans whose span ids are the header span ids, with the partition and
    offset inspect read, ended at librdkafka's ack (end - start = a positive latency).
 2. kcat -H traceparent=...: the plugin continues the application's traceparent (same trace, the
    send span's parent is the given span), one traceparent header on the wire.
 3. kafka_trace.exclude_topics: no header, no span.
 4. a message librdkafka cannot deliver (an unknown partition): its send span ends with status
    error and error.type = the librdkafka error name.
 5. kcat -C through the plugin: one `poll T` receive span per consumed message.
 6. confluent-kafka Producer configured with the plugin only -> our C consumer (forwarder) ->
    our C consumer: one trace per message, send (py) -> process -> send -> process, each span the
    parent of the next.
 7. a bad kafka_trace.* value is refused at configuration time by rd_kafka_conf_set().
 8. a C program (plugin_current.c) that sets the thread's current context with
    kt_context_set_current(): the plugin's send span is its child; after clearing, a new trace.
"""
import json
import os
import subprocess
import sys
import time
import uuid

from opentelemetry.proto.trace.v1 import trace_pb2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from otlp_http_receiver import OtlpHttpReceiver  # noqa: E402 (found through ROOT)

PRODUCER, CONSUMER, CLIENT = trace_pb2.Span.SPAN_KIND_PRODUCER, trace_pb2.Span.SPAN_KIND_CONSUMER, trace_pb2.Span.SPAN_KIND_CLIENT
STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
failures = []
receiver = None  # the OTLP receiver, started by main()


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def spans_of(name, service=None):
    return receiver.spans_named(name, service)


def wait_for(pred, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def run(argv, env, stdin=None, timeout=120, check=True):
    p = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"{argv[0]} exited {p.returncode}")
    return p


def create_topic(topic, partitions=1):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def inspect(topic, limit):
    p = run(["cargo", "run", "-q", "-p", "kafka-trace", "--features", "cli", "--", "inspect", "--bootstrap", BOOTSTRAP,
             "--topic", topic, "--from-beginning", "--json", "--limit", str(limit), "--timeout", "10"], dict(os.environ), timeout=900)
    return json.loads(p.stdout)


def main():
    plugin, examples = os.path.abspath(sys.argv[1]), sys.argv[2]
    global receiver
    receiver = OtlpHttpReceiver()
    endpoint = receiver.endpoint
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_METRIC_EXPORT_INTERVAL="500")
    run_id = uuid.uuid4().hex[:8]
    kcat_plugin = ["-X", f"plugin.library.paths={plugin}"]

    # 1. kcat producer: coverage, ids, ack-time ends
    n = 200
    t1 = f"kt-plugin-kcat-{run_id}"
    create_topic(t1, 3)
    lines = "".join(f"k{i}:value {i}\n" for i in range(n))
    run(["kcat", "-P", "-b", BOOTSTRAP, "-t", t1, "-K:"] + kcat_plugin + ["-X", "kafka_trace.service_name=kcat-producer"], env, stdin=lines)
    report = inspect(t1, n)
    summary = report["summary"]
    expect(summary["messages"] == n and summary["with_valid_context"] == n and summary["coverage_pct"] == 100.0,
           f"inspect: {summary['with_valid_context']}/{summary['messages']} messages with a valid traceparent ({summary['coverage_pct']}%)")
    expect(summary["messages_with_duplicate_headers"] == 0, f"inspect: {summary['messages_with_duplicate_headers']} messages with repeated trace headers")
    expect(summary["distinct_traces"] == n, f"inspect: {summary['distinct_traces']} distinct traces")
    single = all(sum(1 for h in m["headers"] if h["name"].lower() == "traceparent") == 1 for m in report["messages"])
    expect(single, "every message carries exactly one traceparent header")
    wait_for(lambda: len(spans_of(f"send {t1}")) >= n)
    sends = {s["span_id"]: s for s in spans_of(f"send {t1}")}
    expect(len(spans_of(f"send {t1}")) == n and len(sends) == n, f"receiver: {len(spans_of(f'send {t1}'))} send spans for {n} messages")
    matched = 0
    for m in report["messages"]:
        tp = m["traceparent"]
        s = sends.get(tp.get("span_id"))
        if (s and s["trace_id"] == tp["trace_id"] and s["kind"] == PRODUCER and s["parent"] == "" and s["service"] == "kcat-producer"
                and s["attrs"].get("messaging.kafka.offset") == m["offset"]
                and s["attrs"].get("messaging.destination.partition.id") == str(m["partition"])
                and s["end"] > s["start"] and s["status"] != STATUS_ERROR):
            matched += 1
    expect(matched == n, f"{matched}/{n} send spans match their message (ids, root, partition, offset, service, ended after start)")

    # 2. the application's own traceparent is continued
    t2 = f"kt-plugin-parent-{run_id}"
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    run(["kcat", "-P", "-b", BOOTSTRAP, "-t", t2, "-H", f"traceparent=00-{trace_id}-{parent_id}-01"] + kcat_plugin, env, stdin="one\n")
    report2 = inspect(t2, 1)
    msg = report2["messages"][0]
    expect(msg["traceparent"].get("trace_id") == trace_id and msg["traceparent"].get("span_id") != parent_id,
           "kcat -H traceparent: the message carries the same trace with the plugin's send span")
    expect(report2["summary"]["messages_with_duplicate_headers"] == 0, "kcat -H traceparent: one traceparent on the wire")
    wait_for(lambda: len(spans_of(f"send {t2}")) >= 1)
    s2 = spans_of(f"send {t2}")
    expect(len(s2) == 1 and s2[0]["trace_id"] == trace_id and s2[0]["parent"] == parent_id and s2[0]["span_id"] == msg["traceparent"].get("span_id"),
           "kcat -H traceparent: the send span's parent is the application's span")

    # 3. excluded topic: nothing written, nothing recorded
    t3 = f"kt-plugin-excluded-{run_id}"
    run(["kcat", "-P", "-b", BOOTSTRAP, "-t", t3] + kcat_plugin + ["-X", f"kafka_trace.exclude_topics={t3}"], env, stdin="a\nb\n")
    report3 = inspect(t3, 2)
    expect(report3["summary"]["messages"] == 2 and report3["summary"]["with_valid_context"] == 0 and report3["summary"]["missing"] == 2,
           "kafka_trace.exclude_topics: 2 messages, no traceparent")

    # 4. undeliverable message: error.type from librdkafka
    t4 = f"kt-plugin-fail-{run_id}"
    create_topic(t4, 1)
    run(["kcat", "-P", "-b", BOOTSTRAP, "-t", t4, "-p", "7"] + kcat_plugin + ["-X", "message.timeout.ms=3000"], env, stdin="lost\n", check=False)
    wait_for(lambda: len(spans_of(f"send {t4}")) >= 1)
    s4 = spans_of(f"send {t4}")
    expect(len(s4) == 1 and s4[0]["status"] == STATUS_ERROR and s4[0]["attrs"].get("error.type") == "_UNKNOWN_PARTITION",
           f"undeliverable message: send span status error, error.type {s4[0]['attrs'].get('error.type') if s4 else None}")

    # 5. kcat consumer: one receive span per consumed message
    run(["kcat", "-C", "-b", BOOTSTRAP, "-t", t1, "-o", "beginning", "-e", "-q"] + kcat_plugin + ["-X", "kafka_trace.service_name=kcat-consumer"], env)
    wait_for(lambda: len(spans_of(f"poll {t1}", "kcat-consumer")) >= n)
    polls = spans_of(f"poll {t1}", "kcat-consumer")
    expect(len(polls) == n and all(p["kind"] == CLIENT for p in polls), f"kcat -C: {len(polls)} poll spans for {n} messages")

    # 6. confluent-kafka producer by configuration alone -> our C consumers: one trace each
    import confluent_kafka
    t_in, t_out = f"kt-plugin-py-{run_id}", f"kt-plugin-py-out-{run_id}"
    create_topic(t_in, 1)
    create_topic(t_out, 1)
    code = (
        "import sys\nfrom confluent_kafka import Producer\n"
        f"p = Producer({{'bootstrap.servers': '{BOOTSTRAP}', 'plugin.library.paths': '{plugin}', "
        "'kafka_trace.service_name': 'py-producer', 'linger.ms': 5})\n"
        f"for i in range(3): p.produce('{t_in}', key=b'order-%d' % i, value=b'{{}}')\n"
        "sys.exit(p.flush(30))\n"
    )
    run([sys.executable, "-c", code], env)
    run([os.path.join(examples, "consumer"), BOOTSTRAP, f"fwd-{run_id}", t_in, "3", t_out], dict(env, OTEL_SERVICE_NAME="c-forwarder"))
    run([os.path.join(examples, "consumer"), BOOTSTRAP, f"sink-{run_id}", t_out, "3"], dict(env, OTEL_SERVICE_NAME="c-sink"))
    wait_for(lambda: len(spans_of(f"process {t_out}")) >= 3)
    chains = 0
    for root in spans_of(f"send {t_in}", "py-producer"):
        tid = root["trace_id"]
        trace = [s for s in receiver.spans() if s["trace_id"] == tid]
        by_parent = {s["parent"]: s for s in trace}
        p1 = by_parent.get(root["span_id"])
        s2 = by_parent.get(p1["span_id"]) if p1 else None
        p2 = by_parent.get(s2["span_id"]) if s2 else None
        if (root["parent"] == "" and root["kind"] == PRODUCER and len(trace) == 4
                and p1 and p1["name"] == f"process {t_in}" and p1["kind"] == CONSUMER and p1["service"] == "c-forwarder"
                and s2 and s2["name"] == f"send {t_out}" and s2["kind"] == PRODUCER and s2["service"] == "c-forwarder"
                and p2 and p2["name"] == f"process {t_out}" and p2["kind"] == CONSUMER and p2["service"] == "c-sink"):
            chains += 1
    expect(len(spans_of(f"send {t_in}", "py-producer")) == 3 and chains == 3,
           f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]}) -> C forwarder -> C sink: {chains}/3 traces send -> process -> send -> process")

    # 8. a C program's current context (kt_context_set_current) parents the plugin's send span
    t8 = f"kt-plugin-current-{run_id}"
    out = run([os.path.join(examples, "plugin_current"), BOOTSTRAP, t8, plugin], env).stdout.strip()
    print("     " + out)
    wait_for(lambda: len(spans_of(f"send {t8}")) >= 2)
    s8 = spans_of(f"send {t8}", "c-plugin-current")
    child = [s for s in s8 if s["trace_id"] == trace_id and s["parent"] == parent_id]
    roots = [s for s in s8 if s["trace_id"] != trace_id and s["parent"] == ""]
    expect(len(s8) == 2 and len(child) == 1 and len(roots) == 1,
           "kt_context_set_current: the send span is a child of the current context; after clearing it, a new trace")

    # 7. configuration mistakes are refused where they are made
    from confluent_kafka import KafkaException, Producer
    try:
        Producer({"bootstrap.servers": BOOTSTRAP, "plugin.library.paths": plugin, "kafka_trace.strategy": "sideways"})
        refused = ""
    except KafkaException as e:
        refused = str(e)
    expect("kafka_trace.strategy" in refused, f"a bad kafka_trace.strategy is refused: {refused!r}")

    wanted = {"messaging.client.sent.messages", "messaging.client.operation.duration"}
    wait_for(lambda: wanted <= receiver.metric_names(), 10)
    expect(wanted <= receiver.metric_names(), f"metrics exported: {sorted(receiver.metric_names())}")
    receiver.stop()
    if failures:
        print(f"plugin test: FAIL ({len(failures)} checks)")
        return 1
    print("plugin test: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
