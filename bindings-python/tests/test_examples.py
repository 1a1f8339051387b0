"""The examples in examples/python continue a NestJS-style trace and forward it (real broker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from kafka_trace import extract_parts

from conftest import BOOTSTRAP
from test_confluent import consumer_conf, poll_one

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"
# What a NestJS (kafka-trace Node binding) producer writes.
NEST_TP = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize("script", ["confluent_forwarder.py", "aiokafka_forwarder.py"])
def test_example_continues_the_trace(script: str, new_topic: Any) -> None:
    src, dst = new_topic("kt-ex-in"), new_topic("kt-ex-out")
    p = Producer({"bootstrap.servers": BOOTSTRAP})
    p.produce(src, b'{"id": 7, "item": "book"}', headers=[("traceparent", NEST_TP), ("tracestate", b"nest=1")])
    assert p.flush(30) == 0
    env = {
        **os.environ,
        "KT_IN_TOPIC": src,
        "KT_OUT_TOPIC": dst,
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "KT_GROUP": f"{src}-forwarder",
        "KT_MAX_MESSAGES": "1",
        "KT_IDLE_SECONDS": "60",
        "KT_SPANS": "console",
    }
    r = subprocess.run([sys.executable, str(EXAMPLES / script)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "forwarded offset=0 trace=0af7651916cd43dd8448eb211c80319c" in r.stdout, r.stdout + r.stderr
    assert '"name": "process ' + src + '"' in r.stdout  # the console exporter printed our span

    consumer = Consumer(consumer_conf(f"{dst}-check"))
    consumer.subscribe([dst])
    msg = poll_one(consumer)
    consumer.close()
    parts = extract_parts(msg.headers())
    assert parts.traceparent is not None
    assert parts.traceparent.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert parts.traceparent.span_id != "b7ad6b7169203331"  # the Python send span is the new parent
    assert parts.tracestate == [("nest", "1")]
    assert [n for n, _ in msg.headers()] == ["traceparent", "tracestate"]
    assert b'"forwardedBy": "python' in msg.value()
