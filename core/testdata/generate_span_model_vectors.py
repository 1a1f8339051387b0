#!/usr/bin/env python3
"""Write the shared span-model vectors (see SPAN_MODEL_VECTORS.md in this folder).

    python3 core/testdata/generate_span_model_vectors.py > core/testdata/span_model_vectors.json
    python3 core/testdata/generate_span_model_vectors.py --check   # self-check + committed file up to date

Every expected value below is spelled out by hand: span names, attribute sets, metric attribute
sets and header lists are literal dicts and strings (or plain merges of the literal constants
defined here, e.g. {**SEND_START, KEY: S("k-1")}). Nothing here parses or formats trace context,
derives attributes from a message or calls our code: the vectors are an independent statement
of the span lifecycle, not a recording of what the core does.

Python 3.11, standard library only.
"""

import json
import os
import re
import sys

# ---------------------------------------------------------------------------
# Fixed identifiers and values
# ---------------------------------------------------------------------------

TID = "4bf92f3577b34da6a3ce929d0e0e4736"  # the remote parent's trace id (W3C example)
PID = "00f067aa0ba902b7"  # the remote parent's span id (W3C example)
OTHER_PID = "00f067aa0ba902b8"  # a second parent span id (conflicting duplicate header)

TP = "00-" + TID + "-" + PID + "-01"  # a valid sampled remote parent
TP_00 = "00-" + TID + "-" + PID + "-00"  # unsampled
TP_02 = "00-" + TID + "-" + PID + "-02"  # Level 2: random, unsampled
TP_03 = "00-" + TID + "-" + PID + "-03"  # Level 2: random + sampled
TP_FF = "00-" + TID + "-" + PID + "-ff"  # every flag bit
TP_OTHER = "00-" + TID + "-" + OTHER_PID + "-01"

# What a send writes. `{span}` / `{trace}` are the ids of the span that wrote the headers
# (SPAN_MODEL_VECTORS.md, "Placeholders").
W_NEW_01 = "00-{trace}-{span}-01"  # a trace of our own (new root or the ambient span's trace)
W_TID_00 = "00-" + TID + "-{span}-00"
W_TID_01 = "00-" + TID + "-{span}-01"
W_TID_02 = "00-" + TID + "-{span}-02"
W_TID_03 = "00-" + TID + "-{span}-03"

FAR = 4102444800000  # 2100-01-01T00:00:00Z in ms: e2e latency clamps to exactly 0

# W3C Trace Context Level 2 tracestate keys the core accepts and some SDK grammars refuse.
LONG_KEY = "a" + "b" * 255  # a 256-character simple key
TENANT_KEY = "t" + "x" * 240 + "@sys"  # multi-tenant key, 241-character tenant part

# Attribute keys, spelled once.
SYSTEM = "messaging.system"
OP_NAME = "messaging.operation.name"
OP_TYPE = "messaging.operation.type"
CLIENT_ID = "messaging.client.id"
ADDRESS = "server.address"
PORT = "server.port"
DEST = "messaging.destination.name"
PARTITION = "messaging.destination.partition.id"
OFFSET = "messaging.kafka.offset"
KEY = "messaging.kafka.message.key"
TOMBSTONE = "messaging.kafka.message.tombstone"
BODY_SIZE = "messaging.message.body.size"
GROUP = "messaging.consumer.group.name"
COUNT = "messaging.batch.message_count"
E2E = "kafka_trace.e2e_latency_ms"
ERROR_TYPE = "error.type"

# The only keys a metric data point may carry (issue 10, item 2).
METRIC_KEYS = {SYSTEM, OP_NAME, OP_TYPE, DEST, PARTITION, GROUP, ADDRESS, PORT, ERROR_TYPE}

# Metric names.
OP_DURATION = "messaging.client.operation.duration"
SENT = "messaging.client.sent.messages"
CONSUMED = "messaging.client.consumed.messages"
PROCESS_DURATION = "messaging.process.duration"
E2E_LATENCY = "kafka_trace.e2e.latency"
INSTRUMENT_KINDS = {OP_DURATION: "histogram", SENT: "counter", CONSUMED: "counter",
                    PROCESS_DURATION: "histogram", E2E_LATENCY: "histogram"}


def S(v):
    return {"string": v}


def I(v):
    return {"int": v}


def B(v):
    return {"bool": v}


def D(v):
    return {"double": v}


def h(name, value):
    """A header with a text value (None: a Kafka null value)."""
    return {"name": name, "value": value}


def hx(name, hex_bytes):
    """A header with raw bytes, lowercase hex."""
    return {"name": name, "value_hex": hex_bytes}


def hexs(text):
    """Lowercase hex of the UTF-8 bytes of text."""
    return text.encode("utf-8").hex()


def without(d, *keys):
    """A copy of dict d without keys (plain dict editing)."""
    return {k: v for k, v in d.items() if k not in keys}


# ---------------------------------------------------------------------------
# Clients and literal attribute sets
# ---------------------------------------------------------------------------

PRODUCER = {"client_id": "svc", "bootstrap_servers": "broker-1:9093"}
CONSUMER = {"client_id": "svc", "consumer_group": "billing", "bootstrap_servers": "broker-1:9093"}

NO_AMBIENT = {"span": False, "baggage": []}
AMBIENT_SPAN = {"span": True, "baggage": []}

# send orders, PRODUCER client, before the ack (partition unknown, UTF-8 key "k-1" recorded).
SEND_START = {
    SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"), CLIENT_ID: S("svc"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), KEY: S("k-1"),
}
# ... acknowledged at partition 1, offset 9.
SEND_ACKED = {
    SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"), CLIENT_ID: S("svc"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), KEY: S("k-1"),
    PARTITION: S("1"), OFFSET: I(9),
}
SEND_METRIC = {
    SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"),
}
SEND_METRIC_P1 = {
    SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), PARTITION: S("1"),
}

# process orders, CONSUMER client, the standard message (partition 2, offset 42, key "k-1",
# 10-byte value, far-future timestamp).
PROCESS_ATTRS = {
    SYSTEM: S("kafka"), OP_NAME: S("process"), OP_TYPE: S("process"), CLIENT_ID: S("svc"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), PARTITION: S("2"),
    OFFSET: I(42), KEY: S("k-1"), GROUP: S("billing"), E2E: D(0.0),
}
PROCESS_METRIC = {
    SYSTEM: S("kafka"), OP_NAME: S("process"), OP_TYPE: S("process"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), PARTITION: S("2"),
    GROUP: S("billing"),
}

# poll orders (3 messages), CONSUMER client.
POLL_ATTRS = {
    SYSTEM: S("kafka"), OP_NAME: S("poll"), OP_TYPE: S("receive"), CLIENT_ID: S("svc"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), COUNT: I(3), GROUP: S("billing"),
}
POLL_METRIC = {
    SYSTEM: S("kafka"), OP_NAME: S("poll"), OP_TYPE: S("receive"),
    ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), GROUP: S("billing"),
}

UNSET = {"code": "unset"}

# The keys the messaging conventions name as important for sampling ("SHOULD be provided at span
# creation time"): the only attributes a sampler sees when a span starts. The rest are set once
# the span is known to be recording.
SAMPLING_KEYS = (SYSTEM, OP_NAME, OP_TYPE, DEST, PARTITION, GROUP, ADDRESS, PORT)


def error_status(description):
    return {"code": "error", "description": description}


def with_error(attributes, error_type):
    """attributes plus error.type (a dict merge)."""
    return {**attributes, ERROR_TYPE: S(error_type)}


# ---------------------------------------------------------------------------
# Case builders (dicts only)
# ---------------------------------------------------------------------------

def span(name, kind, attributes, parent, links=(), status=UNSET):
    return {"name": name, "kind": kind, "attributes": attributes, "status": status,
            "parent": parent, "links": list(links)}


def point(name, attributes):
    return {"name": name, "kind": INSTRUMENT_KINDS[name], "attributes": attributes, "count": 1}


def send_points(attributes):
    """A send records its duration and one sent message, with the same attribute set."""
    return [point(OP_DURATION, attributes), point(SENT, attributes)]


def process_points(attributes, e2e=True):
    """A processed message: one consumed message, its handler duration, and (with a record
    timestamp) its end-to-end latency, all with the same attribute set."""
    points = [point(CONSUMED, attributes), point(PROCESS_DURATION, attributes)]
    if e2e:
        points.append(point(E2E_LATENCY, attributes))
    return points


def poll_points(attributes):
    """A receive call records its duration only."""
    return [point(OP_DURATION, attributes)]


ABSENT = object()


def send_msg(headers=(), **fields):
    m = {"topic": "orders", "key": "k-1", "value_len": 10, "headers": list(headers)}
    for k, v in fields.items():
        if v is ABSENT:
            m.pop(k, None)
        else:
            m[k] = v
    return m


def consumed(headers=(), **fields):
    m = {"topic": "orders", "partition": 2, "offset": 42, "key": "k-1", "value_len": 10,
         "timestamp_ms": FAR, "headers": list(headers)}
    for k, v in fields.items():
        if v is ABSENT:
            m.pop(k, None)
        else:
            m[k] = v
    return m


ACKED = {"kind": "acked", "partition": 1, "offset": 9}
RETURNED = {"kind": "returned"}
RECEIVED = {"kind": "received"}
FORWARD = {"topic": "orders.out"}

CASES = []


def case(name, description, operation, *, options=None, client, ambient=NO_AMBIENT,
         message=None, poll=None, result, forward=None, traced=True, span, handler_baggage=None,
         metrics, headers_out=None):
    c = {"name": name, "description": description, "operation": operation,
         "options": dict(options or {}), "client": dict(client), "ambient": ambient}
    if message is not None:
        c["message"] = message
    if poll is not None:
        c["poll"] = poll
    c["result"] = result
    if forward is not None:
        c["forward"] = forward
    if span is not None:
        span = dict(span)
        # A send learns its partition from the ack unless the message named one.
        known_late = {PARTITION} if operation == "send" and (message or {}).get("partition") is None else set()
        span["sampler_keys"] = [k for k in span["attributes"] if k in SAMPLING_KEYS and k not in known_late]
    expect = {"traced": traced, "span": span}
    if handler_baggage is not None:
        expect["handler_baggage"] = [list(m) for m in handler_baggage]
    expect["metrics"] = metrics
    if headers_out is not None:
        expect["headers_out"] = headers_out
    c["expect"] = expect
    CASES.append(c)


# ===========================================================================
# send
# ===========================================================================

case("send/ambient/none",
     "No current span: the send span is a root; it writes its own trace id, sampled. The ack's "
     "partition goes to the span and the metrics, the offset only to the span.",
     "send", client=PRODUCER, message=send_msg(), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/ambient/span",
     "A current span is the send span's parent; the written traceparent carries its trace.",
     "send", client=PRODUCER, ambient=AMBIENT_SPAN, message=send_msg(), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "ambient"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/ambient/baggage",
     "The current context's baggage is written into the message, with no current span.",
     "send", client=PRODUCER, ambient={"span": False, "baggage": [["tenant", "acme"]]},
     message=send_msg(), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01), h("baggage", "tenant=acme")])

case("send/ambient/span-and-baggage",
     "Span and two baggage entries: the baggage header is compared as a set of members.",
     "send", client=PRODUCER,
     ambient={"span": True, "baggage": [["tenant", "acme"], ["region", "eu"]]},
     message=send_msg(), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "ambient"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01), h("baggage", "tenant=acme,region=eu")])

case("send/ambient/baggage-percent-encoded",
     "A baggage value with a space and a comma is percent-encoded (upper-case hex) when written.",
     "send", client=PRODUCER, ambient={"span": False, "baggage": [["note", "a b,c"]]},
     message=send_msg(), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01), h("baggage", "note=a%20b%2Cc")])

case("send/partition/known",
     "A partition chosen by the producer is known at the start: span and metrics carry it.",
     "send", client=PRODUCER, message=send_msg(partition=2),
     result={"kind": "acked", "partition": 2, "offset": 9},
     span=span("send orders", "producer",
               {SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"), CLIENT_ID: S("svc"),
                ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), PARTITION: S("2"),
                KEY: S("k-1"), OFFSET: I(9)}, "none"),
     metrics=send_points({SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"),
                          ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"),
                          PARTITION: S("2")}),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/partition/unknown-acked-at-zero",
     "Partition 0 from the ack is a real partition: \"0\" in span and metrics, offset 0 in the span.",
     "send", client=PRODUCER, message=send_msg(),
     result={"kind": "acked", "partition": 0, "offset": 0},
     span=span("send orders", "producer", {**SEND_START, PARTITION: S("0"), OFFSET: I(0)}, "none"),
     metrics=send_points({**SEND_METRIC, PARTITION: S("0")}),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/result/acked-without-offset",
     "An ack without an offset (acks=0 reports -1): the partition is recorded, no offset attribute.",
     "send", client=PRODUCER, message=send_msg(),
     result={"kind": "acked", "partition": 1, "offset": -1},
     span=span("send orders", "producer", {**SEND_START, PARTITION: S("1")}, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/result/failed",
     "A failed send: error status with the error class, error.type in span and metrics, no "
     "partition (never acknowledged).",
     "send", client=PRODUCER, message=send_msg(),
     result={"kind": "send_failed", "error_type": "MsgTimedOut"},
     span=span("send orders", "producer", with_error(SEND_START, "MsgTimedOut"), "none",
               status=error_status("MsgTimedOut")),
     metrics=send_points(with_error(SEND_METRIC, "MsgTimedOut")),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/result/failed-unnamed",
     "An error the binding cannot name (error_type \"\") is reported as _OTHER.",
     "send", client=PRODUCER, message=send_msg(),
     result={"kind": "send_failed", "error_type": ""},
     span=span("send orders", "producer", with_error(SEND_START, "_OTHER"), "none",
               status=error_status("_OTHER")),
     metrics=send_points(with_error(SEND_METRIC, "_OTHER")),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/result/failed-partition-known",
     "A failed send to a partition chosen up front keeps that partition in span and metrics.",
     "send", client=PRODUCER, ambient=AMBIENT_SPAN, message=send_msg(partition=2),
     result={"kind": "send_failed", "error_type": "UnknownTopicOrPart"},
     span=span("send orders", "producer",
               {SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"), CLIENT_ID: S("svc"),
                ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"), PARTITION: S("2"),
                KEY: S("k-1"), ERROR_TYPE: S("UnknownTopicOrPart")}, "ambient",
               status=error_status("UnknownTopicOrPart")),
     metrics=send_points({SYSTEM: S("kafka"), OP_NAME: S("send"), OP_TYPE: S("send"),
                          ADDRESS: S("broker-1"), PORT: I(9093), DEST: S("orders"),
                          PARTITION: S("2"), ERROR_TYPE: S("UnknownTopicOrPart")}),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/key/binary",
     "A key that is not UTF-8 is never recorded.",
     "send", client=PRODUCER, message=send_msg(key=ABSENT, key_hex="ff00"), result=ACKED,
     span=span("send orders", "producer", without(SEND_ACKED, KEY), "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/key/none",
     "No key: no key attribute.",
     "send", client=PRODUCER, message=send_msg(key=ABSENT), result=ACKED,
     span=span("send orders", "producer", without(SEND_ACKED, KEY), "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/key/record-off",
     "record_message_key false: a UTF-8 key is not recorded.",
     "send", options={"record_message_key": False}, client=PRODUCER, message=send_msg(),
     result=ACKED,
     span=span("send orders", "producer", without(SEND_ACKED, KEY), "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/key/utf8-multibyte",
     "A multi-byte UTF-8 key is recorded as text.",
     "send", client=PRODUCER, message=send_msg(key="cl\u00e9-\u00fc"), result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, KEY: S("cl\u00e9-\u00fc")}, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/message/tombstone",
     "A null value is a tombstone: messaging.kafka.message.tombstone true.",
     "send", client=PRODUCER, message=send_msg(value_len=None), result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, TOMBSTONE: B(True)}, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/message/body-size-opt-in",
     "record_body_size true: messaging.message.body.size is the value length.",
     "send", options={"record_body_size": True}, client=PRODUCER, message=send_msg(),
     result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, BODY_SIZE: I(10)}, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/message/body-size-empty-value",
     "An empty (not null) value has body size 0 and is not a tombstone.",
     "send", options={"record_body_size": True}, client=PRODUCER, message=send_msg(value_len=0),
     result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, BODY_SIZE: I(0)}, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/message/body-size-tombstone",
     "A tombstone has no body size, even with record_body_size.",
     "send", options={"record_body_size": True}, client=PRODUCER,
     message=send_msg(value_len=None), result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, TOMBSTONE: B(True)}, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/message/timestamp-no-e2e",
     "A record timestamp on a send adds nothing: end-to-end latency belongs to processing.",
     "send", client=PRODUCER, message=send_msg(timestamp_ms=FAR), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/headers/stale-context-replaced",
     "A message sent again with an old context: traceparent rewritten in place (lowercase name), "
     "tracestate and baggage removed (nothing to write), other headers untouched.",
     "send", client=PRODUCER,
     message=send_msg([h("x-app", "1"), h("TraceParent", TP), h("tracestate", "rojo=00f067aa0ba902b7"),
                       h("x-other", "2"), h("baggage", "old=1")]),
     result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("x-app", "1"), h("traceparent", W_NEW_01), h("x-other", "2")])

case("send/headers/stale-baggage-replaced",
     "A stale baggage header is rewritten in place with the current context's baggage; later "
     "copies of traceparent and baggage are removed.",
     "send", client=PRODUCER, ambient={"span": True, "baggage": [["tenant", "acme"]]},
     message=send_msg([h("baggage", "old=1"), h("traceparent", TP), h("x", "y"),
                       h("traceparent", TP_OTHER), h("BAGGAGE", "older=2")]),
     result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "ambient"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("baggage", "tenant=acme"), h("traceparent", W_NEW_01), h("x", "y")])

case("send/headers/other-headers-kept",
     "Non-UTF-8 and null-valued headers of the application keep their bytes and order; ours is appended.",
     "send", client=PRODUCER,
     message=send_msg([hx("x-bin", "ff00fe"), h("x-null", None), h("x-text", "v")]),
     result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[hx("x-bin", "ff00fe"), h("x-null", None), h("x-text", "v"),
                  h("traceparent", W_NEW_01)])

case("send/client/bootstrap-scheme-and-list",
     "server.address/port come from the first bootstrap entry; a SCHEME:// prefix is ignored.",
     "send", client={"client_id": "svc", "bootstrap_servers": "PLAINTEXT://kafka-0.internal:9094,kafka-1:9092"},
     message=send_msg(), result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, ADDRESS: S("kafka-0.internal"), PORT: I(9094)}, "none"),
     metrics=send_points({**SEND_METRIC_P1, ADDRESS: S("kafka-0.internal"), PORT: I(9094)}),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/client/bootstrap-ipv6",
     "A bracketed IPv6 bootstrap entry: address without brackets, port.",
     "send", client={"client_id": "svc", "bootstrap_servers": "[::1]:9092"},
     message=send_msg(), result=ACKED,
     span=span("send orders", "producer", {**SEND_ACKED, ADDRESS: S("::1"), PORT: I(9092)}, "none"),
     metrics=send_points({**SEND_METRIC_P1, ADDRESS: S("::1"), PORT: I(9092)}),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/client/bootstrap-host-only",
     "A bootstrap entry without a port: server.address only.",
     "send", client={"client_id": "svc", "bootstrap_servers": "kafka"},
     message=send_msg(), result=ACKED,
     span=span("send orders", "producer", without({**SEND_ACKED, ADDRESS: S("kafka")}, PORT), "none"),
     metrics=send_points(without({**SEND_METRIC_P1, ADDRESS: S("kafka")}, PORT)),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/client/none",
     "Nothing configured: no client id, no server attributes.",
     "send", client={}, message=send_msg(), result=ACKED,
     span=span("send orders", "producer", without(SEND_ACKED, CLIENT_ID, ADDRESS, PORT), "none"),
     metrics=send_points(without(SEND_METRIC_P1, ADDRESS, PORT)),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/client/consumer-group-not-on-send",
     "A consumer group configured on the client never appears on a send.",
     "send", client=CONSUMER, message=send_msg(), result=ACKED,
     span=span("send orders", "producer", SEND_ACKED, "none"),
     metrics=send_points(SEND_METRIC_P1),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/filter/excluded",
     "An excluded topic: no span, no metric, the headers stay exactly as given (stale ones too).",
     "send", options={"exclude_topics": ["orders"]}, client=PRODUCER, ambient=AMBIENT_SPAN,
     message=send_msg([h("traceparent", TP), h("x", "1")]), result=ACKED,
     traced=False, span=None, metrics=[],
     headers_out=[h("traceparent", TP), h("x", "1")])

case("send/filter/include-glob-miss",
     "include_topics [\"orders.*\"]: \"orders\" itself does not match (the glob needs the dot).",
     "send", options={"include_topics": ["orders.*"]}, client=PRODUCER,
     message=send_msg(), result=ACKED,
     traced=False, span=None, metrics=[], headers_out=[])

case("send/filter/include-glob-hit",
     "include_topics [\"orders.*\"] matches \"orders.eu\".",
     "send", options={"include_topics": ["orders.*"]}, client=PRODUCER,
     message=send_msg(topic="orders.eu"), result=ACKED,
     span=span("send orders.eu", "producer", {**SEND_ACKED, DEST: S("orders.eu")}, "none"),
     metrics=send_points({**SEND_METRIC_P1, DEST: S("orders.eu")}),
     headers_out=[h("traceparent", W_NEW_01)])

case("send/filter/exclude-wins",
     "exclude_topics wins over include_topics: \"orders.eu.dlq\" matches both.",
     "send", options={"include_topics": ["orders.*"], "exclude_topics": ["*.dlq"]},
     client=PRODUCER, message=send_msg(topic="orders.eu.dlq"), result=ACKED,
     traced=False, span=None, metrics=[], headers_out=[])

# ===========================================================================
# process: parent and link strategies
# ===========================================================================

HB_NONE = []

case("process/parent/remote-sampled",
     "Strategy parent, a sampled remote parent, no current span: the remote context is the parent, "
     "no links; a forward continues the remote trace, sampled.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)]), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01)])

case("process/parent/remote-sampled-ambient-span",
     "Strategy parent with a current span: the remote context is the parent, the current span a link.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN, message=consumed([h("traceparent", TP)]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["ambient"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01)])

case("process/parent/remote-invalid",
     "Strategy parent, an invalid traceparent (upper-case hex), no current span: a new root; the "
     "forward writes that new trace in place of the bad header.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", "00-" + TID.upper() + "-" + PID + "-01")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("process/parent/remote-invalid-ambient-span",
     "Strategy parent, an invalid traceparent, a current span: the current span is the parent.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", "00-" + "0" * 32 + "-" + PID + "-01")]),
     result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/parent/remote-missing",
     "No trace headers, no current span: a new root.",
     "process", client=CONSUMER, message=consumed([h("x-request-id", "r-1")]), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("x-request-id", "r-1"), h("traceparent", W_NEW_01)])

case("process/parent/remote-missing-ambient-span",
     "No trace headers, a current span: the current span is the parent, no links.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN, message=consumed(), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("process/link/remote-sampled",
     "Strategy link, no current span: a new root linked to the remote context; the forward "
     "carries the new trace, not the remote one.",
     "process", options={"strategy": "link"}, client=CONSUMER,
     message=consumed([h("traceparent", TP)]), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none", ["remote"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("process/link/remote-sampled-ambient-span",
     "Strategy link with a current span: the current span is the parent, the remote context a link.",
     "process", options={"strategy": "link"}, client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", TP)]), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient", ["remote"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("process/link/remote-invalid",
     "Strategy link, an invalid traceparent: a new root without links.",
     "process", options={"strategy": "link"}, client=CONSUMER,
     message=consumed([h("traceparent", "00-" + TID + "-" + PID)]), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/link/remote-invalid-ambient-span",
     "Strategy link, an invalid traceparent, a current span: the current span is the parent, no links.",
     "process", options={"strategy": "link"}, client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", "ff-" + TID + "-" + PID + "-01")]), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/link/remote-missing",
     "Strategy link, no trace headers, no current span: a new root without links.",
     "process", options={"strategy": "link"}, client=CONSUMER, message=consumed(),
     result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/link/remote-missing-ambient-span",
     "Strategy link, no trace headers, a current span: the current span is the parent, no links.",
     "process", options={"strategy": "link"}, client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed(), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/link/remote-unsampled",
     "Strategy link with an unsampled remote context: the span is a sampled root (ParentBased on "
     "no parent) linked to the unsampled remote context, so it is exported.",
     "process", options={"strategy": "link"}, client=CONSUMER,
     message=consumed([h("traceparent", TP_00)]), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none", ["remote"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

# ===========================================================================
# process: sampling and W3C Trace Context Level 2
# ===========================================================================

case("process/sampling/unsampled-remote",
     "An unsampled remote parent (-00) with ParentBased: no exported span; a forward carries -00 "
     "with the remote trace id (and its tracestate); metrics are recorded all the same.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP_00), h("tracestate", "rojo=00f067aa0ba902b7")]),
     result=RETURNED, forward=FORWARD,
     span=None, handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_00), h("tracestate", "rojo=00f067aa0ba902b7")])

case("process/sampling/unsampled-remote-ambient-span",
     "An unsampled remote parent with a sampled current span, strategy parent: the remote "
     "decision wins (no exported span); the forward carries -00.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", TP_00)]), result=RETURNED, forward=FORWARD,
     span=None, handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_00)])

case("process/sampling/unsampled-remote-raised",
     "Unsampled and the handler raised: no span, but the metrics carry error.type.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP_00)]),
     result={"kind": "raised", "error_type": "ValueError"},
     span=None, handler_baggage=HB_NONE,
     metrics=process_points(with_error(PROCESS_METRIC, "ValueError")))

case("process/sampling/sampled-remote",
     "A sampled remote parent (-01) with ParentBased: the span records and is exported.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("tracestate", "rojo=00f067aa0ba902b7")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("tracestate", "rojo=00f067aa0ba902b7")])

case("process/level2/random-sampled",
     "Remote flags 03 (random + sampled): the span records and the forward keeps the random flag (-03).",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP_03)]), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03)])

case("process/level2/random-sampled-ambient-span",
     "Remote flags 03 with a current span (linked): the forward still keeps -03.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN, message=consumed([h("traceparent", TP_03)]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["ambient"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03)])

case("process/level2/random-unsampled",
     "Remote flags 02 (random, unsampled): no exported span; the forward carries -02.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP_02)]), result=RETURNED,
     forward=FORWARD,
     span=None, handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_02)])

case("process/level2/unknown-flags",
     "Remote flags ff: sampled, so the span records; a new span keeps only the sampled and random "
     "bits (W3C: unknown flags are set to zero by whoever starts a span), so the forward writes -03.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP_FF)]), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03)])

case("process/level2/tracestate-long-key",
     "A 256-character tracestate key is valid under Level 2: the forward keeps it and the other member.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP_03), h("tracestate", LONG_KEY + "=1,rojo=00f067aa0ba902b7")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03), h("tracestate", LONG_KEY + "=1,rojo=00f067aa0ba902b7")])

case("process/level2/tracestate-multi-tenant",
     "A tenant@system key with a 241-character tenant part is valid: the forward keeps it.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("tracestate", "congo=t61rcWkgMzE," + TENANT_KEY + "=2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("tracestate", "congo=t61rcWkgMzE," + TENANT_KEY + "=2")])

case("process/level2/tracestate-both-long-members",
     "Both Level 2 members together (506 bytes, under the 512-byte limit) with flags 03: kept whole.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", TP_03), h("tracestate", LONG_KEY + "=1," + TENANT_KEY + "=2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["ambient"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03), h("tracestate", LONG_KEY + "=1," + TENANT_KEY + "=2")])

case("process/level2/tracestate-over-512-truncated",
     "A kept tracestate of 528 bytes is read whole but written within 512 bytes: the last member "
     "longer than 128 bytes (the multi-tenant one) is dropped on the forward.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP_03),
                       h("tracestate", LONG_KEY + "=1," + TENANT_KEY + "=2,rojo=00f067aa0ba902b7")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03), h("tracestate", LONG_KEY + "=1,rojo=00f067aa0ba902b7")])

case("process/level2/unsampled-keeps-tracestate",
     "Flags 02 and a Level 2 tracestate: not exported, but the forward keeps -02 and every member.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP_02), h("tracestate", LONG_KEY + "=1")]),
     result=RETURNED, forward=FORWARD,
     span=None, handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_02), h("tracestate", LONG_KEY + "=1")])

case("process/level2/link-strategy-other-trace",
     "Strategy link under a current span: the handler's trace is the current span's, so neither "
     "the remote random flag nor its tracestate leak into the forward (-01, no tracestate).",
     "process", options={"strategy": "link"}, client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", TP_03), h("tracestate", LONG_KEY + "=1")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient", ["remote"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

# ===========================================================================
# process: tracestate and header shapes
# ===========================================================================

case("process/tracestate/normalized",
     "The forward writes the tracestate the core read: OWS removed, a duplicate key's later "
     "occurrence dropped, empty members skipped.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("tracestate", " rojo=1 , ,congo=2,rojo=3 ")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("tracestate", "rojo=1,congo=2")])

case("process/tracestate/several-headers",
     "Two tracestate headers: the last one is read (the latest hop's); the forward writes one "
     "header in place of the first and removes the second.",
     "process", client=CONSUMER,
     message=consumed([h("tracestate", "rojo=1"), h("traceparent", TP), h("Tracestate", "congo=2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("tracestate", "congo=2"), h("traceparent", W_TID_01)])

case("process/tracestate/invalid-discarded",
     "An invalid tracestate member discards the whole tracestate; the parent is kept and the "
     "forward writes no tracestate header.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("tracestate", "rojo=1,Bad=2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01)])

case("process/tracestate/ignored-with-invalid-parent",
     "A tracestate next to an invalid traceparent is ignored: a new root, and the forward drops "
     "the old tracestate header.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", "00-" + TID + "-" + "0" * 16 + "-01"), h("tracestate", "rojo=1")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("process/headers/duplicate-traceparent-different",
     "Two traceparent headers with different values: the last (the latest hop, as Java's "
     "lastHeader reads it) is the parent; the forward rewrites the first and removes the second.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("x", "1"), h("traceparent", TP_OTHER)]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("x", "1")])

case("process/headers/duplicate-traceparent-different-ambient-span",
     "Differing traceparent headers under a current span: the last header is the parent and the "
     "current span a link; the last one's random flag travels on.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", TP), h("TRACEPARENT", TP_03)]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", links=["ambient"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03)])

case("process/headers/duplicate-traceparent-identical",
     "Identical traceparent copies (after OWS trimming, any name case) count once: the remote "
     "parent; the forward leaves one header.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("TRACEPARENT", " " + TP + "\t")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01)])

case("process/headers/mixed-case-name",
     "Header names match in any ASCII case on read; the forward writes the lowercase name in place.",
     "process", client=CONSUMER,
     message=consumed([h("x-a", "1"), h("TraceParent", TP), h("x-b", "2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("x-a", "1"), h("traceparent", W_TID_01), h("x-b", "2")])

case("process/headers/non-utf8-traceparent",
     "A traceparent with a non-UTF-8 byte is invalid: a new root.",
     "process", client=CONSUMER,
     message=consumed([hx("traceparent", hexs("00-" + TID + "-" + PID + "-0") + "ff")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("process/headers/null-traceparent",
     "A traceparent header with a null value is the empty value: invalid, a new root; the "
     "forward writes a value into that header.",
     "process", client=CONSUMER, message=consumed([h("traceparent", None), h("x", "1")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01), h("x", "1")])

case("process/headers/version-ff",
     "Version ff is forbidden: a new root.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", "ff-" + TID + "-" + PID + "-01")]),
     result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/headers/higher-version-accepted",
     "A higher version with extra fields is read like 00 (the remote parent); the forward "
     "writes version 00.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", "01-" + TID + "-" + PID + "-01-future")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01)])

case("process/headers/non-utf8-application-headers-forwarded",
     "The application's non-UTF-8 and null-valued headers keep their bytes and order in a forward.",
     "process", client=CONSUMER,
     message=consumed([hx("x-bin", "c3ff"), h("traceparent", TP), h("x-null", None)]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[hx("x-bin", "c3ff"), h("traceparent", W_TID_01), h("x-null", None)])

# ===========================================================================
# process: baggage inside the handler
# ===========================================================================

case("process/baggage/message-only",
     "The message's baggage is visible in the handler and travels on in a forward.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("baggage", "user=alice,tenant=acme")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=[["tenant", "acme"], ["user", "alice"]],
     metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("baggage", "user=alice,tenant=acme")])

case("process/baggage/ambient-only",
     "The caller's baggage stays visible in the handler (the ambient context is kept).",
     "process", client=CONSUMER, ambient={"span": False, "baggage": [["region", "eu"]]},
     message=consumed([h("traceparent", TP)]), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=[["region", "eu"]], metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("baggage", "region=eu")])

case("process/baggage/merged-message-wins",
     "Message baggage merged over the caller's: a message entry replaces the caller's entry of "
     "the same key, the others stay.",
     "process", client=CONSUMER, ambient={"span": True, "baggage": [["tenant", "acme"], ["region", "eu"]]},
     message=consumed([h("traceparent", TP), h("baggage", "tenant=globex,user=alice")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["ambient"]),
     handler_baggage=[["region", "eu"], ["tenant", "globex"], ["user", "alice"]],
     metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("baggage", "region=eu,tenant=globex,user=alice")])

case("process/baggage/merged-strategy-link",
     "The handler baggage rule does not depend on the strategy.",
     "process", options={"strategy": "link"}, client=CONSUMER,
     ambient={"span": True, "baggage": [["tenant", "acme"]]},
     message=consumed([h("traceparent", TP), h("baggage", "tenant=globex")]),
     result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient", ["remote"]),
     handler_baggage=[["tenant", "globex"]], metrics=process_points(PROCESS_METRIC))

case("process/baggage/kept-with-invalid-parent",
     "Baggage is independent of the trace context: kept for a new root and merged over the caller's.",
     "process", client=CONSUMER, ambient={"span": False, "baggage": [["region", "eu"]]},
     message=consumed([h("traceparent", "garbage"), h("baggage", "user=alice")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "none"),
     handler_baggage=[["region", "eu"], ["user", "alice"]],
     metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01), h("baggage", "user=alice,region=eu")])

case("process/baggage/kept-without-traceparent",
     "A baggage header without any traceparent: a new root, the baggage still reaches the handler.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("baggage", "user=alice")]), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "ambient"),
     handler_baggage=[["user", "alice"]], metrics=process_points(PROCESS_METRIC),
     headers_out=[h("baggage", "user=alice"), h("traceparent", W_NEW_01)])

case("process/baggage/several-headers",
     "Several baggage headers are one list (last duplicate key wins); the forward writes one "
     "header in place of the first.",
     "process", client=CONSUMER,
     message=consumed([h("baggage", "user=alice,k=1"), h("traceparent", TP), h("Baggage", "k=2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=[["k", "2"], ["user", "alice"]], metrics=process_points(PROCESS_METRIC),
     headers_out=[h("baggage", "user=alice,k=2"), h("traceparent", W_TID_01)])

case("process/baggage/non-utf8-member-dropped",
     "A baggage member with a non-UTF-8 key byte is malformed and dropped; the others are kept.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), hx("baggage", hexs("user=alice,") + "ff" + hexs("=1"))]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=[["user", "alice"]], metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("baggage", "user=alice")])

case("process/baggage/percent-decoded",
     "Baggage values are percent-decoded for the handler and encoded again on a forward.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP), h("baggage", "note=a%20b%2Cc")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=[["note", "a b,c"]], metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("baggage", "note=a%20b%2Cc")])

case("process/baggage/unsampled-remote",
     "The handler baggage rule holds when the span is not recorded.",
     "process", client=CONSUMER, ambient={"span": False, "baggage": [["region", "eu"]]},
     message=consumed([h("traceparent", TP_00), h("baggage", "user=alice")]),
     result=RETURNED, forward=FORWARD,
     span=None, handler_baggage=[["region", "eu"], ["user", "alice"]],
     metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_00), h("baggage", "user=alice,region=eu")])

# ===========================================================================
# process: handler outcome, message shapes, client, filters
# ===========================================================================

case("process/result/raised",
     "The handler raised: error status with the class, error.type in the span and every metric point.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)]),
     result={"kind": "raised", "error_type": "ValueError"},
     span=span("process orders", "consumer", with_error(PROCESS_ATTRS, "ValueError"), "remote",
               status=error_status("ValueError")),
     handler_baggage=HB_NONE, metrics=process_points(with_error(PROCESS_METRIC, "ValueError")))

case("process/result/raised-unnamed",
     "A handler error without a name is _OTHER.",
     "process", client=CONSUMER, ambient=AMBIENT_SPAN, message=consumed(),
     result={"kind": "raised", "error_type": ""},
     span=span("process orders", "consumer", with_error(PROCESS_ATTRS, "_OTHER"), "ambient",
               status=error_status("_OTHER")),
     handler_baggage=HB_NONE, metrics=process_points(with_error(PROCESS_METRIC, "_OTHER")))

case("process/message/tombstone",
     "A consumed tombstone: tombstone true.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)], value_len=None),
     result=RETURNED,
     span=span("process orders", "consumer", {**PROCESS_ATTRS, TOMBSTONE: B(True)}, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/message/binary-key",
     "A binary key is not recorded on the consumer either.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)], key=ABSENT, key_hex="00ff10"),
     result=RETURNED,
     span=span("process orders", "consumer", without(PROCESS_ATTRS, KEY), "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/message/no-key",
     "No key: no key attribute.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)], key=ABSENT),
     result=RETURNED,
     span=span("process orders", "consumer", without(PROCESS_ATTRS, KEY), "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/message/record-key-off",
     "record_message_key false on the consumer.",
     "process", options={"record_message_key": False}, client=CONSUMER,
     message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer", without(PROCESS_ATTRS, KEY), "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/message/body-size",
     "record_body_size on the consumer: the value length.",
     "process", options={"record_body_size": True}, client=CONSUMER,
     message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer", {**PROCESS_ATTRS, BODY_SIZE: I(10)}, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/message/no-timestamp",
     "No record timestamp: no e2e attribute and no e2e latency point.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)], timestamp_ms=ABSENT),
     result=RETURNED,
     span=span("process orders", "consumer", without(PROCESS_ATTRS, E2E), "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC, e2e=False))

case("process/message/partition-zero-offset-zero",
     "Partition 0 and offset 0 are real values: \"0\" and 0.",
     "process", client=CONSUMER, message=consumed([h("traceparent", TP)], partition=0, offset=0),
     result=RETURNED,
     span=span("process orders", "consumer", {**PROCESS_ATTRS, PARTITION: S("0"), OFFSET: I(0)}, "remote"),
     handler_baggage=HB_NONE, metrics=process_points({**PROCESS_METRIC, PARTITION: S("0")}))

case("process/message/offsets-never-on-metrics",
     "A large offset and a key: on the span only; the metric attribute set is the bounded one.",
     "process", client=CONSUMER,
     message=consumed([h("traceparent", TP)], offset=4294967297, key="order-77"),
     result=RETURNED,
     span=span("process orders", "consumer",
               {**PROCESS_ATTRS, OFFSET: I(4294967297), KEY: S("order-77")}, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("process/client/no-group",
     "No consumer group configured: no group attribute in span or metrics.",
     "process", client=PRODUCER, message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer", without(PROCESS_ATTRS, GROUP), "remote"),
     handler_baggage=HB_NONE, metrics=process_points(without(PROCESS_METRIC, GROUP)))

case("process/client/none",
     "Nothing configured: no client id, server attributes or group.",
     "process", client={}, message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer", without(PROCESS_ATTRS, CLIENT_ID, ADDRESS, PORT, GROUP), "remote"),
     handler_baggage=HB_NONE, metrics=process_points(without(PROCESS_METRIC, ADDRESS, PORT, GROUP)))

case("process/client/bootstrap-scheme-and-list",
     "server.address/port from the first bootstrap entry of a consumer.",
     "process",
     client={"client_id": "svc", "consumer_group": "billing",
             "bootstrap_servers": "SASL_SSL://kafka-0.internal:9094, kafka-1:9092"},
     message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer",
               {**PROCESS_ATTRS, ADDRESS: S("kafka-0.internal"), PORT: I(9094)}, "remote"),
     handler_baggage=HB_NONE,
     metrics=process_points({**PROCESS_METRIC, ADDRESS: S("kafka-0.internal"), PORT: I(9094)}))

case("process/filter/excluded",
     "An excluded topic: no span, no metric; the handler runs in the caller's context unchanged "
     "(no message baggage is merged).",
     "process", options={"exclude_topics": ["orders"]}, client=CONSUMER,
     ambient={"span": True, "baggage": [["region", "eu"]]},
     message=consumed([h("traceparent", TP), h("baggage", "user=alice")]), result=RETURNED,
     traced=False, span=None, handler_baggage=[["region", "eu"]], metrics=[])

case("process/filter/include-miss",
     "include_topics [\"payments\", \"orders.*\"]: \"orders\" is not traced.",
     "process", options={"include_topics": ["payments", "orders.*"]}, client=CONSUMER,
     message=consumed([h("traceparent", TP)]), result=RETURNED,
     traced=False, span=None, handler_baggage=[], metrics=[])

case("process/filter/include-star-glob",
     "include_topics [\"*ders\"] matches \"orders\": traced.",
     "process", options={"include_topics": ["*ders"]}, client=CONSUMER,
     message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

# ===========================================================================
# batch_process
# ===========================================================================

case("batch_process/parent/remote-sampled",
     "Strategy parent in a batch: the message's own context is the parent, the poll span a link.",
     "batch_process", client=CONSUMER, message=consumed([h("traceparent", TP)]), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["poll"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01)])

case("batch_process/parent/remote-missing",
     "A message without context hangs under the poll span, no links.",
     "batch_process", client=CONSUMER, message=consumed(), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "poll"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("batch_process/parent/remote-invalid",
     "An invalid traceparent in a batch: under the poll span, no links.",
     "batch_process", client=CONSUMER,
     message=consumed([h("traceparent", "00-" + TID + "-" + "0" * 16 + "-01")]), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "poll"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("batch_process/parent/remote-unsampled",
     "Strategy parent with an unsampled message context: not exported; a forward carries -00.",
     "batch_process", client=CONSUMER, message=consumed([h("traceparent", TP_00)]),
     result=RETURNED, forward=FORWARD,
     span=None, handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_00)])

case("batch_process/parent/ambient-span-ignored",
     "A current span when the batch handler is called changes neither parent nor links in a batch.",
     "batch_process", client=CONSUMER, ambient=AMBIENT_SPAN,
     message=consumed([h("traceparent", TP)]), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["poll"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("batch_process/link/remote-sampled",
     "Strategy link in a batch: the poll span is the parent, the message's context a link; the "
     "forward continues the poll span's trace.",
     "batch_process", options={"strategy": "link"}, client=CONSUMER,
     message=consumed([h("traceparent", TP_03)]), result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "poll", ["remote"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_NEW_01)])

case("batch_process/link/remote-missing",
     "Strategy link, no context: under the poll span, no links.",
     "batch_process", options={"strategy": "link"}, client=CONSUMER, message=consumed(),
     result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "poll"),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("batch_process/link/remote-unsampled",
     "Strategy link with an unsampled message context: the sampled poll span is the parent, so "
     "the span is exported, linked to the unsampled context.",
     "batch_process", options={"strategy": "link"}, client=CONSUMER,
     message=consumed([h("traceparent", TP_00)]), result=RETURNED,
     span=span("process orders", "consumer", PROCESS_ATTRS, "poll", ["remote"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC))

case("batch_process/result/raised",
     "A batch handler raised for this message: error status, error.type in span and metrics.",
     "batch_process", client=CONSUMER, message=consumed([h("traceparent", TP)]),
     result={"kind": "raised", "error_type": "TimeoutError"},
     span=span("process orders", "consumer", with_error(PROCESS_ATTRS, "TimeoutError"), "remote",
               ["poll"], status=error_status("TimeoutError")),
     handler_baggage=HB_NONE, metrics=process_points(with_error(PROCESS_METRIC, "TimeoutError")))

case("batch_process/baggage/merged-message-wins",
     "The handler baggage rule in a batch: message entries over the caller's.",
     "batch_process", client=CONSUMER, ambient={"span": False, "baggage": [["tenant", "acme"], ["region", "eu"]]},
     message=consumed([h("traceparent", TP), h("baggage", "tenant=globex")]), result=RETURNED,
     forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["poll"]),
     handler_baggage=[["region", "eu"], ["tenant", "globex"]],
     metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_01), h("baggage", "tenant=globex,region=eu")])

case("batch_process/level2/random-and-tracestate",
     "Level 2 in a batch (strategy parent): the forward keeps -03 and the 256-character key.",
     "batch_process", client=CONSUMER,
     message=consumed([h("traceparent", TP_03), h("tracestate", LONG_KEY + "=1," + TENANT_KEY + "=2")]),
     result=RETURNED, forward=FORWARD,
     span=span("process orders", "consumer", PROCESS_ATTRS, "remote", ["poll"]),
     handler_baggage=HB_NONE, metrics=process_points(PROCESS_METRIC),
     headers_out=[h("traceparent", W_TID_03), h("tracestate", LONG_KEY + "=1," + TENANT_KEY + "=2")])

case("batch_process/message/tombstone-no-timestamp",
     "Message attributes in a batch: tombstone, no timestamp (no e2e), offset and partition.",
     "batch_process", client=CONSUMER,
     message=consumed([h("traceparent", TP)], value_len=None, timestamp_ms=ABSENT, partition=5, offset=7),
     result=RETURNED,
     span=span("process orders", "consumer",
               {**without(PROCESS_ATTRS, E2E), PARTITION: S("5"), OFFSET: I(7), TOMBSTONE: B(True)},
               "remote", ["poll"]),
     handler_baggage=HB_NONE,
     metrics=process_points({**PROCESS_METRIC, PARTITION: S("5")}, e2e=False))

case("batch_process/filter/excluded",
     "An excluded topic in a batch: no span, no metric, the handler sees the caller's baggage only.",
     "batch_process", options={"exclude_topics": ["ord*"]}, client=CONSUMER,
     ambient={"span": False, "baggage": [["region", "eu"]]},
     message=consumed([h("traceparent", TP), h("baggage", "user=alice")]), result=RETURNED,
     traced=False, span=None, handler_baggage=[["region", "eu"]], metrics=[])

# ===========================================================================
# poll
# ===========================================================================

case("poll/topic/one",
     "A receive call that returned 3 messages of one topic: poll orders, CLIENT, type receive; "
     "only the operation duration is recorded (no message count on the metric).",
     "poll", client=CONSUMER, poll={"topics": ["orders"], "message_count": 3}, result=RECEIVED,
     span=span("poll orders", "client", POLL_ATTRS, "none"),
     metrics=poll_points(POLL_METRIC))

case("poll/topic/one-per-message",
     "Topics given once per message, all the same: still poll orders.",
     "poll", client=CONSUMER, poll={"topics": ["orders", "orders", "orders"], "message_count": 3},
     result=RECEIVED,
     span=span("poll orders", "client", POLL_ATTRS, "none"),
     metrics=poll_points(POLL_METRIC))

case("poll/topic/several",
     "Messages of several topics: the name is poll, no destination attribute.",
     "poll", client=CONSUMER, poll={"topics": ["orders", "payments"], "message_count": 5},
     result=RECEIVED,
     span=span("poll", "client", {**without(POLL_ATTRS, DEST), COUNT: I(5)}, "none"),
     metrics=poll_points(without(POLL_METRIC, DEST)))

case("poll/topic/none",
     "A receive call that returned nothing is not traced (an idle consumer polls in a loop): "
     "no span, no metric.",
     "poll", client=CONSUMER, poll={"topics": [], "message_count": 0}, result=RECEIVED,
     traced=False, span=None, metrics=[])

case("poll/topic/none-named",
     "Nothing returned from a known topic: not traced either.",
     "poll", client=CONSUMER, poll={"topics": ["orders"], "message_count": 0}, result=RECEIVED,
     traced=False, span=None, metrics=[])

case("poll/ambient/span",
     "A current span is the poll span's parent.",
     "poll", client=CONSUMER, ambient=AMBIENT_SPAN, poll={"topics": ["orders"], "message_count": 3},
     result=RECEIVED,
     span=span("poll orders", "client", POLL_ATTRS, "ambient"),
     metrics=poll_points(POLL_METRIC))

case("poll/result/failed",
     "A failed receive call: error status, error.type in span and metric.",
     "poll", client=CONSUMER, poll={"topics": ["orders"], "message_count": 0},
     result={"kind": "poll_failed", "error_type": "Timeout"},
     span=span("poll orders", "client", {**POLL_ATTRS, COUNT: I(0), ERROR_TYPE: S("Timeout")}, "none",
               status=error_status("Timeout")),
     metrics=poll_points(with_error(POLL_METRIC, "Timeout")))

case("poll/result/failed-unnamed",
     "A receive error without a name is _OTHER.",
     "poll", client=CONSUMER, poll={"topics": [], "message_count": 0},
     result={"kind": "poll_failed", "error_type": ""},
     span=span("poll", "client",
               {**without(POLL_ATTRS, DEST), COUNT: I(0), ERROR_TYPE: S("_OTHER")}, "none",
               status=error_status("_OTHER")),
     metrics=poll_points(with_error(without(POLL_METRIC, DEST), "_OTHER")))

case("poll/filter/all-excluded",
     "Every topic of the receive call is excluded: no span, no metric.",
     "poll", options={"exclude_topics": ["orders"]}, client=CONSUMER,
     poll={"topics": ["orders"], "message_count": 3}, result=RECEIVED,
     traced=False, span=None, metrics=[])

case("poll/filter/partly-excluded",
     "One of two topics excluded: named after the traced topic; the count stays what the call returned.",
     "poll", options={"exclude_topics": ["audit"]}, client=CONSUMER,
     poll={"topics": ["orders", "audit"], "message_count": 2}, result=RECEIVED,
     span=span("poll orders", "client", {**POLL_ATTRS, COUNT: I(2)}, "none"),
     metrics=poll_points(POLL_METRIC))

case("poll/client/no-group-ipv6",
     "No consumer group, an IPv6 bootstrap entry.",
     "poll", client={"client_id": "svc", "bootstrap_servers": "[2001:db8::1]:9092"},
     poll={"topics": ["orders"], "message_count": 3}, result=RECEIVED,
     span=span("poll orders", "client",
               {**without(POLL_ATTRS, GROUP), ADDRESS: S("2001:db8::1"), PORT: I(9092)}, "none"),
     metrics=poll_points({**without(POLL_METRIC, GROUP), ADDRESS: S("2001:db8::1"), PORT: I(9092)}))

case("poll/client/none",
     "Nothing configured: only system, operation, destination and count.",
     "poll", client={}, poll={"topics": ["orders"], "message_count": 1}, result=RECEIVED,
     span=span("poll orders", "client",
               {SYSTEM: S("kafka"), OP_NAME: S("poll"), OP_TYPE: S("receive"), DEST: S("orders"),
                COUNT: I(1)}, "none"),
     metrics=poll_points({SYSTEM: S("kafka"), OP_NAME: S("poll"), OP_TYPE: S("receive"),
                          DEST: S("orders")}))


# ===========================================================================
# output and structural self-check
# ===========================================================================


def document():
    return {"schema_version": 1, "cases": sorted(CASES, key=lambda c: c["name"])}


def render():
    return json.dumps(document(), indent=1, ensure_ascii=True) + "\n"


HEX = re.compile(r"^[0-9a-f]*$")
NAME = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)+$")
OPERATIONS = {"send", "process", "batch_process", "poll"}
RESULT_KINDS = {"send": {"acked", "send_failed"}, "process": {"returned", "raised"},
                "batch_process": {"returned", "raised"}, "poll": {"received", "poll_failed"}}
OPTION_KEYS = {"strategy", "record_message_key", "record_body_size", "include_topics", "exclude_topics"}
CLIENT_KEYS = {"client_id", "consumer_group", "bootstrap_servers"}
MESSAGE_KEYS = {"topic", "partition", "offset", "key", "key_hex", "value_len", "timestamp_ms", "headers"}
SPAN_KINDS = {"send": "producer", "process": "consumer", "batch_process": "consumer", "poll": "client"}
PARENTS = {"remote", "ambient", "poll", "none"}
VALUE_TYPES = {"string": str, "int": int, "bool": bool, "double": float}
# Never on a metric (one series per message).
NEVER_ON_METRICS = {OFFSET, KEY, E2E, TOMBSTONE, BODY_SIZE, COUNT, CLIENT_ID}


def check():
    problems = []

    def bad(where, msg):
        problems.append(where + ": " + msg)

    def check_headers(where, headers, placeholders):
        if not isinstance(headers, list):
            bad(where, "headers must be a list")
            return
        for i, hdr in enumerate(headers):
            w = where + "[" + str(i) + "]"
            if not isinstance(hdr, dict) or not isinstance(hdr.get("name"), str):
                bad(w, "header must be an object with a string name")
                continue
            keys = set(hdr) - {"name"}
            if keys == {"value"}:
                v = hdr["value"]
                if v is not None and not isinstance(v, str):
                    bad(w, "value must be a string or null")
                elif v is not None and not placeholders and "{" in v:
                    bad(w, "placeholder in an input header")
            elif keys == {"value_hex"}:
                if not isinstance(hdr["value_hex"], str) or not HEX.match(hdr["value_hex"]) \
                        or len(hdr["value_hex"]) % 2:
                    bad(w, "value_hex must be lowercase hex of even length")
            else:
                bad(w, "header needs exactly one of value / value_hex, got " + str(sorted(keys)))

    def check_attributes(where, attrs):
        if not isinstance(attrs, dict):
            bad(where, "attributes must be an object")
            return
        for k, v in attrs.items():
            if not (isinstance(v, dict) and len(v) == 1):
                bad(where + "." + k, "typed value must have one key")
                continue
            (t, x), = v.items()
            if t not in VALUE_TYPES or type(x) is not VALUE_TYPES[t]:
                bad(where + "." + k, "bad typed value " + repr(v))

    doc = json.loads(render())
    if doc.get("schema_version") != 1 or set(doc) != {"schema_version", "cases"}:
        bad("document", "top level must be {schema_version: 1, cases}")
    cases = doc["cases"]
    names = [c.get("name") for c in cases]
    if names != sorted(names):
        bad("document", "cases not sorted by name")
    seen = set()
    for c in cases:
        name = c.get("name")
        w = str(name)
        if not isinstance(name, str) or not NAME.match(name):
            bad(w, "bad name")
        if name in seen:
            bad(w, "duplicate name")
        seen.add(name)
        op = c.get("operation")
        if op not in OPERATIONS:
            bad(w, "unknown operation")
            continue
        if not name.startswith(op + "/"):
            bad(w, "name must start with the operation")
        required = {"name", "description", "operation", "options", "client", "ambient", "result", "expect"}
        allowed = required | {"message", "poll", "forward"}
        if not required <= set(c) or not set(c) <= allowed:
            bad(w, "wrong case keys " + str(sorted(c)))
            continue
        if not isinstance(c["description"], str) or not c["description"].strip():
            bad(w, "empty description")
        if not set(c["options"]) <= OPTION_KEYS:
            bad(w, "unknown option")
        if c["options"].get("strategy", "parent") not in ("parent", "link"):
            bad(w, "bad strategy")
        if not set(c["client"]) <= CLIENT_KEYS:
            bad(w, "unknown client key")
        amb = c["ambient"]
        if set(amb) != {"span", "baggage"} or not isinstance(amb["span"], bool) or not all(
                isinstance(m, list) and len(m) == 2 for m in amb["baggage"]):
            bad(w, "ambient")
        if (op == "poll") != ("poll" in c) or (op == "poll") == ("message" in c):
            bad(w, "poll cases have `poll`, the others `message`")
        if "forward" in c and op not in ("process", "batch_process"):
            bad(w, "forward only for process / batch_process")
        m = c.get("message")
        headers_in = []
        if m is not None:
            if not set(m) <= MESSAGE_KEYS or "topic" not in m or "headers" not in m:
                bad(w, "message keys " + str(sorted(m)))
            if "key" in m and "key_hex" in m:
                bad(w, "key and key_hex")
            if op == "send" and "offset" in m:
                bad(w, "a send has no offset")
            if "timestamp_ms" in m and m["timestamp_ms"] != FAR:
                bad(w, "timestamps are absent or far-future")
            check_headers(w + ".message.headers", m["headers"], False)
            headers_in = m["headers"]
        r = c["result"]
        if r.get("kind") not in RESULT_KINDS[op]:
            bad(w, "result kind")
        e = c["expect"]
        need = {"traced", "span", "metrics"}
        opt = {"headers_out", "handler_baggage"}
        if not need <= set(e) or not set(e) <= need | opt:
            bad(w, "expect keys " + str(sorted(e)))
            continue
        if (op in ("process", "batch_process")) != ("handler_baggage" in e):
            bad(w, "handler_baggage exactly for process / batch_process")
        if op == "send" and "headers_out" not in e:
            bad(w, "a send states headers_out")
        if op in ("process", "batch_process") and ("forward" in c) != ("headers_out" in e):
            bad(w, "headers_out exactly when forward")
        if op == "poll" and "headers_out" in e:
            bad(w, "poll has no headers_out")
        hb = e.get("handler_baggage")
        if hb is not None and (hb != sorted(hb) or len({k for k, _ in hb}) != len(hb)):
            bad(w, "handler_baggage must be sorted by key, unique keys")
        if "headers_out" in e:
            check_headers(w + ".headers_out", e["headers_out"], True)
        if not e["traced"]:
            if e["span"] is not None or e["metrics"]:
                bad(w, "untraced: no span, no metric")
            if op == "send" and e["headers_out"] != headers_in:
                bad(w, "untraced send leaves headers untouched")
            if "forward" in c:
                bad(w, "no forward in untraced cases")
            if hb is not None and hb != sorted(amb["baggage"]):
                bad(w, "untraced handler sees the caller's baggage only")
            continue
        # A traced case.
        sp = e["span"]
        if sp is not None:
            if set(sp) != {"name", "kind", "attributes", "status", "parent", "links", "sampler_keys"}:
                bad(w, "span keys")
                continue
            if sp["kind"] != SPAN_KINDS[op]:
                bad(w, "span kind")
            check_attributes(w + ".span.attributes", sp["attributes"])
            if not all(k in sp["attributes"] and k in SAMPLING_KEYS for k in sp["sampler_keys"]):
                bad(w, "sampler_keys: only sampling keys the span has")
            if sp["parent"] not in PARENTS or not all(link in PARENTS - {"none"} for link in sp["links"]):
                bad(w, "parent / links")
            if sp["parent"] in sp["links"]:
                bad(w, "the parent is never a link")
            if "ambient" in [sp["parent"]] + sp["links"] and not amb["span"]:
                bad(w, "ambient parent/link without an ambient span")
            if "poll" in [sp["parent"]] + sp["links"] and op != "batch_process":
                bad(w, "poll parent/link outside batch_process")
            st = sp["status"]
            if st == UNSET:
                if ERROR_TYPE in sp["attributes"]:
                    bad(w, "error.type with an unset status")
            elif set(st) != {"code", "description"} or st["code"] != "error" or \
                    sp["attributes"].get(ERROR_TYPE) != S(st["description"]):
                bad(w, "error status must match error.type")
            a = sp["attributes"]
            if a.get(SYSTEM) != S("kafka"):
                bad(w, "messaging.system")
            if m is not None:
                if a.get(DEST) != S(m["topic"]) or sp["name"] != a[OP_NAME]["string"] + " " + m["topic"]:
                    bad(w, "span name / destination")
        # Metrics: bounded keys, one point per instrument, and (when the span is exported) a
        # subset of the span's attributes.
        points = e["metrics"]
        inst = [p["name"] for p in points]
        if len(inst) != len(set(inst)):
            bad(w, "one point per instrument")
        expected_instruments = {"send": {OP_DURATION, SENT}, "poll": {OP_DURATION},
                                "process": {CONSUMED, PROCESS_DURATION},
                                "batch_process": {CONSUMED, PROCESS_DURATION}}[op]
        if op in ("process", "batch_process") and "timestamp_ms" in m:
            expected_instruments = expected_instruments | {E2E_LATENCY}
        if set(inst) != expected_instruments:
            bad(w, "instruments " + str(sorted(inst)))
        first = None
        for p in points:
            if set(p) != {"name", "kind", "attributes", "count"} or p["count"] != 1 \
                    or p["kind"] != INSTRUMENT_KINDS.get(p["name"]):
                bad(w, "metric point shape " + str(p.get("name")))
                continue
            check_attributes(w + ".metrics." + p["name"], p["attributes"])
            if not set(p["attributes"]) <= METRIC_KEYS or set(p["attributes"]) & NEVER_ON_METRICS:
                bad(w, "unbounded metric attribute on " + p["name"])
            if first is None:
                first = p["attributes"]
            elif p["attributes"] != first:
                bad(w, "every point of an operation has the same attribute set")
            if sp is not None:
                for k, v in p["attributes"].items():
                    if sp["attributes"].get(k) != v:
                        bad(w, "metric attribute " + k + " differs from the span")
                for k in METRIC_KEYS:
                    if k in sp["attributes"] and k not in p["attributes"]:
                        bad(w, "metric lacks span attribute " + k)
        if e.get("headers_out") is not None:
            tps = [x for x in e["headers_out"] if x["name"] == "traceparent"]
            if len(tps) != 1 or "{span}" not in tps[0]["value"]:
                bad(w, "headers_out needs exactly one traceparent with {span}")
            elif sp is None and "{trace}" in tps[0]["value"]:
                bad(w, "an unexported span continues the remote trace")
            lowered = [x["name"].lower() for x in e["headers_out"]]
            for ours in ("traceparent", "tracestate", "baggage"):
                if lowered.count(ours) > 1 or (ours in lowered and ours not in [x["name"] for x in e["headers_out"]]):
                    bad(w, "headers_out has one lowercase " + ours + " at most")

    counts = {}
    for c in cases:
        counts[c["operation"]] = counts.get(c["operation"], 0) + 1
    if len(cases) < 60:
        bad("document", "fewer than 60 cases: " + str(len(cases)))
    for op in OPERATIONS:
        if counts.get(op, 0) < 5:
            bad("document", "fewer than 5 " + op + " cases")

    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "span_model_vectors.json")
    if os.path.exists(path):
        with open(path, "r", encoding="ascii") as f:
            if f.read() != render():
                bad(path, "is stale or edited: regenerate it")
    else:
        bad(path, "missing")

    for op in sorted(counts):
        print("%-14s %4d" % (op, counts[op]), file=sys.stderr)
    print("cases: %d" % len(cases), file=sys.stderr)
    for p in problems:
        print("PROBLEM " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    elif sys.argv[1:]:
        sys.exit("usage: generate_span_model_vectors.py [--check]")
    sys.stdout.write(render())
