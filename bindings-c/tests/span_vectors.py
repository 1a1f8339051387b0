#!/usr/bin/env python3
"""Runs core/testdata/span_model_vectors.json, unchanged, through the C API (capture mode).

Usage: span_vectors.py DRIVER [WRAPPER ...]   e.g. span_vectors.py ./span_vectors_driver valgrind -q
The C program `span_vectors_driver` executes each case through the C ABI (kt_tracer_config_set,
kt_tracer_start_send/process/batch_process/poll, kt_span_end*, kt_span_context,
kt_context_inject_headers, kt_tracer_captured_json); this script only translates the JSON to its
line protocol and compares what it prints with the expectations: the operation's span (name,
kind, attributes, status, parent and links by source), the handler's baggage, the exact set of
metric points and the header list written. Set SPAN_VECTORS=path to run another file (a tampered
copy must fail).
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VECTORS = os.environ.get("SPAN_VECTORS", os.path.join(ROOT, "core", "testdata", "span_model_vectors.json"))


def hx(b):
    if b is None:
        return "-"
    return b.hex() if b else "."


def unhx(tok):
    if tok == "-":
        return None
    return b"" if tok == "." else bytes.fromhex(tok)


def header_value(h):
    if isinstance(h.get("value"), str):
        return h["value"].encode()
    if isinstance(h.get("value_hex"), str):
        return bytes.fromhex(h["value_hex"])
    return None


def option_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def case_lines(i, case):
    lines = [f"case {i}", f"op {case['operation']}"]
    for name, value in list(case.get("options", {}).items()) + list(case.get("client", {}).items()):
        lines.append(f"opt {hx(name.encode())} {hx(option_text(value).encode())}")
    ambient = case.get("ambient", {})
    lines.append(f"amb_span {1 if ambient.get('span') else 0}")
    for k, v in ambient.get("baggage", []):
        lines.append(f"amb_bg {hx(k.encode())} {hx(v.encode())}")
    m = case.get("message")
    if m:
        lines.append(f"m_topic {hx(m['topic'].encode())}")
        if m.get("partition") is not None:
            lines.append(f"m_partition {m['partition']}")
        if m.get("offset") is not None:
            lines.append(f"m_offset {m['offset']}")
        if "key" in m:
            lines.append(f"m_key {hx(m['key'].encode())}")
        elif "key_hex" in m:
            lines.append(f"m_key {hx(bytes.fromhex(m['key_hex']))}")
        lines.append(f"m_value {'-' if m.get('value_len') is None else m['value_len']}")
        if m.get("timestamp_ms") is not None:
            lines.append(f"m_ts {m['timestamp_ms']}")
        for h in m.get("headers", []):
            lines.append(f"h {hx(h['name'].encode())} {hx(header_value(h))}")
    p = case.get("poll")
    if p:
        for t in p["topics"]:
            lines.append(f"p_topic {hx(t.encode())}")
        lines.append(f"p_count {p['message_count']}")
    r = case["result"]
    if r["kind"] == "acked":
        lines.append(f"result acked {r['partition']} {r['offset']}")
    elif r["kind"] in ("send_failed", "raised", "poll_failed"):
        lines.append(f"result {r['kind']} {hx(r['error_type'].encode())}")
    else:
        lines.append(f"result {r['kind']}")
    if case.get("forward"):
        lines.append(f"fwd {hx(case['forward']['topic'].encode())}")
    lines.append("run")
    return lines


def parse_output(text):
    results, current = {}, None
    for line in text.splitlines():
        parts = line.split(" ", 1)
        tag, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if tag == "case":
            current = {"hb": [], "out": [], "ids": {}}
            results[int(rest)] = current
        elif tag in ("ambient", "poll", "send"):
            current["ids"][tag] = tuple(rest.split(" "))
        elif tag == "traced":
            current["traced"] = rest == "1"
        elif tag == "hb":
            k, v = rest.split(" ")
            current["hb"].append([unhx(k).decode(), unhx(v).decode()])
        elif tag == "out":
            n, v = rest.split(" ")
            current["out"].append((unhx(n), unhx(v)))
        elif tag == "json":
            current["json"] = json.loads(rest)
        elif tag == "fail":
            current["fail"] = rest
    return results


def remote_ids(case):
    """The message's traceparent as the core reads it: on a Kafka message the last traceparent
    header wins (core/testdata/README.md); None when it is not a usable parent."""
    last = [h for h in case.get("message", {}).get("headers", []) if h["name"].lower() == "traceparent"]
    if last and isinstance(last[-1].get("value"), str):
        parts = last[-1]["value"].strip().split("-")
        if len(parts) >= 4 and re.fullmatch(r"[0-9a-f]{32}", parts[1]) and re.fullmatch(r"[0-9a-f]{16}", parts[2]):
            return (parts[1], parts[2])
    return None


def check_case(case, got):
    exp, problems = case["expect"], []
    if "fail" in got:
        return [f"driver: {got['fail']}"]
    if got.get("traced") != exp["traced"]:
        problems.append(f"traced: got {got.get('traced')}, want {exp['traced']}")
    fwd = case.get("forward", {}).get("topic")
    spans = [s for s in got["json"]["spans"] if not (fwd and s["name"] == f"send {fwd}")]
    want_span = exp.get("span")
    ids = dict(got["ids"])
    remote = remote_ids(case)
    if remote:
        ids["remote"] = remote
    if want_span is None:
        if spans:
            problems.append(f"spans: got {[s['name'] for s in spans]}, want none")
    elif len(spans) != 1:
        problems.append(f"spans: got {[s['name'] for s in spans]}, want exactly one")
    else:
        s = spans[0]
        for field in ("name", "kind", "attributes", "status"):
            if s[field] != want_span[field]:
                problems.append(f"span {field}: got {s[field]}, want {want_span[field]}")
        parent = want_span["parent"]
        if parent == "none":
            others = {v[0] for k, v in ids.items() if k in ("remote", "ambient", "poll")}
            if s["parent_span_id"] is not None or s["trace_id"] in others:
                problems.append(f"parent: want a new root, got parent {s['parent_span_id']} trace {s['trace_id']}")
        else:
            want = ids.get(parent)
            if want is None or (s["trace_id"], s["parent_span_id"]) != want:
                problems.append(f"parent: got {(s['trace_id'], s['parent_span_id'])}, want {parent} {want}")
        got_links = [(l["trace_id"], l["span_id"]) for l in s["links"]]
        want_links = [ids.get(name) for name in want_span["links"]]
        if got_links != want_links:
            problems.append(f"links: got {got_links}, want {want_span['links']} = {want_links}")
    if "handler_baggage" in exp:
        if sorted(got["hb"]) != sorted(exp["handler_baggage"]):
            problems.append(f"handler baggage: got {sorted(got['hb'])}, want {exp['handler_baggage']}")
    points = [
        (m["name"], m["kind"], json.dumps(m["attributes"], sort_keys=True), m["count"])
        for m in got["json"]["metrics"]
        if not (fwd and m["attributes"].get("messaging.destination.name") == {"string": fwd})
    ]
    want_points = [(m["name"], m["kind"], json.dumps(m["attributes"], sort_keys=True), m["count"]) for m in exp["metrics"]]
    if sorted(points) != sorted(want_points):
        problems.append(f"metrics:\n    got  {sorted(points)}\n    want {sorted(want_points)}")
    for m in got["json"]["metrics"]:
        if m["kind"] == "counter" and m["sum"] != m["count"]:
            problems.append(f"counter {m['name']}: sum {m['sum']} != count {m['count']}")
    if "headers_out" in exp:
        send = got["ids"].get("send")
        want = []
        for h in exp["headers_out"]:
            v = header_value(h)
            if v is not None and send:
                v = v.replace(b"{span}", send[1].encode()).replace(b"{trace}", send[0].encode())
            want.append((h["name"].encode(), v))

        def norm(lst):
            return [(n, frozenset(v.split(b",")) if n.lower() == b"baggage" and v is not None else v) for n, v in lst]

        if norm(got["out"]) != norm(want):
            problems.append(f"headers_out:\n    got  {got['out']}\n    want {want}")
        if send and any(b"{span}" in (header_value(h) or b"") for h in exp["headers_out"]):
            inputs = {(header_value(h) or b"").decode(errors="replace") for h in case["message"].get("headers", [])}
            if send[1] == "0" * 16 or any(send[1] in v for v in inputs):
                problems.append(f"send span id {send[1]} is zero or reused from the input")
    return problems


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary, wrapper = sys.argv[1], sys.argv[2:]
    doc = json.load(open(VECTORS, encoding="utf-8"))
    assert doc["schema_version"] == 1
    cases = doc["cases"]
    lines = []
    for i, case in enumerate(cases):
        lines.extend(case_lines(i, case))
    proc = subprocess.run(wrapper + [binary], input="\n".join(lines) + "\n", capture_output=True, text=True)
    results = parse_output(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        last = max(results) if results else None
        sys.exit(f"span vectors: driver exited with {proc.returncode} (last case {last}: {results.get(last, {}).get('fail')})")
    failures = []
    for i, case in enumerate(cases):
        got = results.get(i)
        problems = ["no output"] if got is None or "json" not in got and "fail" not in got else check_case(case, got)
        if problems:
            failures.append(f"{case['name']}:\n  " + "\n  ".join(problems))
    if failures:
        print("\n".join(failures))
        sys.exit(f"span vectors: FAIL: {len(failures)} of {len(cases)} cases")
    print(f"span vectors: PASS: {len(cases)} cases (spans, parents, links, handler baggage, metric points, headers written)")


if __name__ == "__main__":
    main()
