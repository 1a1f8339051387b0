#!/usr/bin/env python3
"""Runs core/testdata/trace_context_vectors.json, unchanged, through the C API.

Usage: vectors.py DRIVER [WRAPPER ...]   e.g. vectors.py ./vectors_driver valgrind --error-exitcode=1
The C program `vectors_driver` does the extracting and injecting (through kt_context_extract,
the tracestate/baggage getters, kt_context_inject_headers and kt_context_inject); this script only
translates the JSON to its line protocol and compares what it prints with the expectations.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VECTORS = os.path.join(ROOT, "core", "testdata", "trace_context_vectors.json")

# Stable codes: kt_result values 1..16 are the core's ErrorCode values (testdata/README.md).
CODES = {
    "missing": 1, "traceparent_length": 2, "traceparent_version": 3, "traceparent_delimiter": 4,
    "traceparent_trace_id": 5, "traceparent_zero_trace_id": 6, "traceparent_span_id": 7,
    "traceparent_zero_span_id": 8, "traceparent_flags": 9, "traceparent_duplicate": 10,
    "tracestate_too_many_members": 11, "tracestate_member": 12, "tracestate_key": 13,
    "tracestate_value": 14, "baggage_member": 15, "buffer_too_small": 16,
}
OURS = ["traceparent", "tracestate", "baggage"]


def value_bytes(h):
    if isinstance(h.get("value"), str):
        return h["value"].encode()
    if isinstance(h.get("value_hex"), str):
        return bytes.fromhex(h["value_hex"])
    return None


def hx(b):
    if b is None:
        return "-"
    return b.hex() if b else "."


def unhx(tok):
    if tok == "-":
        return None
    return b"" if tok == "." else bytes.fromhex(tok)


def main():
    driver = sys.argv[1:]
    if not driver:
        sys.exit(__doc__)
    wrapper, binary = driver[1:], driver[0]
    doc = json.load(open(VECTORS, encoding="utf-8"))
    assert doc["schema_version"] == 1
    cases = doc["cases"]
    lines = []
    for i, case in enumerate(cases):
        lines.append(f"case {i}")
        for h in case["headers"]:
            lines.append(f"h {hx(h['name'].encode())} {hx(value_bytes(h))}")
        inj = case.get("inject")
        if inj:
            extra = ""
            if "tracestate_set" in inj:
                s = inj["tracestate_set"]
                extra = f" {hx(s['key'].encode())} {hx(s['value'].encode())}"
            lines.append(f"inject {inj['span_id']} {inj['new_root_trace_id']}{extra}")
        lines.append("run")
    proc = subprocess.run(wrapper + [binary], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit(f"vectors: driver exited with {proc.returncode}")

    results, current = {}, None
    for line in proc.stdout.splitlines():
        parts = line.split(" ")
        if parts[0] == "case":
            current = {"ts": [], "bg": [], "out": [], "cb": [], "inject": None}
            results[int(parts[1])] = current
        elif parts[0] == "parent":
            current["parent"] = parts[1:]
        elif parts[0] == "tsstatus":
            current["tsstatus"] = int(parts[1])
        elif parts[0] == "ts":
            current["ts"].append([unhx(parts[1]).decode(), unhx(parts[2]).decode()])
        elif parts[0] == "bg":
            props = [unhx(p).decode() for p in parts[4:]]
            assert int(parts[3]) == len(props)
            current["bg"].append({"key": unhx(parts[1]).decode(), "value": unhx(parts[2]).decode(), "properties": props})
        elif parts[0] == "inject":
            current["inject"] = parts[1:]
        elif parts[0] in ("out", "cb"):
            current[parts[0]].append((unhx(parts[1]).decode(errors="surrogateescape"), unhx(parts[2])))

    failures = []
    for i, case in enumerate(cases):
        got, exp, problems = results.get(i), case["expect"], []
        if got is None:
            failures.append(f"{case['name']}: no output")
            continue
        if exp["traceparent"] is None:
            want = ["err", str(CODES[exp["error"]])]
        else:
            t = exp["traceparent"]
            want = ["ok", t["version"], t["trace_id"], t["span_id"], t["flags"]]
        if got["parent"] != want:
            problems.append(f"parent: got {got['parent']}, want {want}")
        want_ts = CODES[exp["tracestate_error"]] if "tracestate_error" in exp else 0
        if got["tsstatus"] != want_ts:
            problems.append(f"tracestate status: got {got['tsstatus']}, want {want_ts}")
        if got["ts"] != exp["tracestate"]:
            problems.append(f"tracestate: got {got['ts']}, want {exp['tracestate']}")
        if got["bg"] != exp["baggage"]:
            problems.append(f"baggage: got {got['bg']}, want {exp['baggage']}")
        inj = case.get("inject")
        if inj:
            want_list = [(h["name"], value_bytes(h)) for h in inj["expect_headers"]]
            if got["inject"] != ["ok"]:
                problems.append(f"inject: {got['inject']}")
            elif got["out"] != want_list:
                problems.append(f"inject_headers: got {got['out']}, want {want_list}")
            # the callback variant must set exactly our headers of the expected list, remove the rest
            want_cb = []
            for name in OURS:
                values = [v for n, v in want_list if n == name]
                want_cb.append((name, values[0] if values else None))
            if got["cb"] != want_cb:
                problems.append(f"inject callback: got {got['cb']}, want {want_cb}")
        if problems:
            failures.append(f"{case['name']}:\n  " + "\n  ".join(problems))
    if failures:
        print("\n".join(failures))
        sys.exit(f"vectors: FAIL: {len(failures)} of {len(cases)} cases")
    n_inject = sum(1 for c in cases if c.get("inject"))
    print(f"vectors: PASS: {len(cases)} cases ({n_inject} with inject, buffer and callback variants)")


if __name__ == "__main__":
    main()
