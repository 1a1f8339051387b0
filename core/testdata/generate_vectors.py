#!/usr/bin/env python3
"""Write the shared trace-context test vectors (see README.md in this folder).

    python3 core/testdata/generate_vectors.py > core/testdata/trace_context_vectors.json
    python3 core/testdata/generate_vectors.py --check   # structural self-check only

Every expected value below is spelled out by hand (or built with plain string
operations such as "x" * 256 or a list comprehension over member numbers).
Nothing here parses or formats trace context: the vectors are an independent
statement of the rules in README.md, not a recording of an implementation.
Helper functions only build header dicts and strings.

Python 3.11, standard library only.
"""

import json
import os
import re
import sys

# ---------------------------------------------------------------------------
# Fixed identifiers
# ---------------------------------------------------------------------------

TID = "4bf92f3577b34da6a3ce929d0e0e4736"  # parent trace id (W3C example)
PID = "00f067aa0ba902b7"  # parent span id (W3C example)
CHILD = "b7ad6b7169203331"  # span id of the injected child span
ROOT = "0af7651916cd43dd8448eb211c80319c"  # trace id used for a new root

TP = "00-" + TID + "-" + PID + "-01"  # a valid sampled parent
TP_CHILD = "00-" + TID + "-" + CHILD + "-01"  # what inject writes for TP
TP_ROOT = "00-" + ROOT + "-" + CHILD + "-01"  # what inject writes for a new root

ERROR_CODES = {
    "missing": 1,
    "traceparent_length": 2,
    "traceparent_version": 3,
    "traceparent_delimiter": 4,
    "traceparent_trace_id": 5,
    "traceparent_zero_trace_id": 6,
    "traceparent_span_id": 7,
    "traceparent_zero_span_id": 8,
    "traceparent_flags": 9,
    "traceparent_duplicate": 10,  # only under W3C's HTTP rule; Kafka carriers read the last header
    "tracestate_too_many_members": 11,
    "tracestate_member": 12,
    "tracestate_key": 13,
    "tracestate_value": 14,
    "baggage_member": 15,
    "buffer_too_small": 16,
}


# ---------------------------------------------------------------------------
# Builders (headers and strings only)
# ---------------------------------------------------------------------------


def h(name, value):
    """A header with a UTF-8 text value (or None for a Kafka null value)."""
    return {"name": name, "value": value}


def hx(name, hex_bytes):
    """A header with raw bytes, given as lowercase hex."""
    return {"name": name, "value_hex": hex_bytes}


def hexs(text):
    """Lowercase hex of the UTF-8 bytes of text."""
    return text.encode("utf-8").hex()


def ctx(trace_id=TID, span_id=PID, flags="01", version="00"):
    """An expected parent context."""
    return {"version": version, "trace_id": trace_id, "span_id": span_id, "flags": flags}


def bm(key, value, *properties):
    """An expected baggage member."""
    return {"key": key, "value": value, "properties": list(properties)}


def fill(key, total, ch):
    """A tracestate member `key=ccc...` that is exactly `total` bytes long."""
    return key + "=" + ch * (total - len(key) - 1)


P = ctx()  # the parent context of TP

CASES = []


def case(name, description, headers, *, parent, error=None, tracestate=(),
         tracestate_error=None, baggage=(), inject=None, tracestate_set=None):
    expect = {"traceparent": parent}
    if error is not None:
        expect["error"] = error
    expect["tracestate"] = [list(m) for m in tracestate]
    if tracestate_error is not None:
        expect["tracestate_error"] = tracestate_error
    expect["baggage"] = list(baggage)
    c = {"name": name, "description": description, "headers": headers, "expect": expect}
    if inject is not None:
        inj = {"span_id": CHILD, "new_root_trace_id": ROOT}
        if tracestate_set is not None:
            inj["tracestate_set"] = {"key": tracestate_set[0], "value": tracestate_set[1]}
        inj["expect_headers"] = inject
        c["inject"] = inj
    else:
        assert tracestate_set is None, name
    CASES.append(c)


# ===========================================================================
# traceparent: valid
# ===========================================================================

case("traceparent/valid/basic",
     "The W3C example traceparent, sampled; inject keeps trace id and flags and writes the child span id.",
     [h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/unsampled",
     "Flags 00 (not sampled) are kept and written unchanged.",
     [h("traceparent", "00-" + TID + "-" + PID + "-00")],
     parent=ctx(flags="00"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-00")])

case("traceparent/valid/flags-02-random",
     "Flags 02 (Level 2 random trace id, not sampled) are kept whole.",
     [h("traceparent", "00-" + TID + "-" + PID + "-02")],
     parent=ctx(flags="02"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-02")])

case("traceparent/valid/flags-03-random-sampled",
     "Flags 03 (random + sampled) are kept whole.",
     [h("traceparent", "00-" + TID + "-" + PID + "-03")],
     parent=ctx(flags="03"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-03")])

case("traceparent/valid/flags-ff-all-bits",
     "All 8 flag bits are read and kept; a child writes only sampled and random (W3C: reserved bits are zeroed).",
     [h("traceparent", "00-" + TID + "-" + PID + "-ff")],
     parent=ctx(flags="ff"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-03")])

case("traceparent/valid/flags-80-unknown-bit",
     "An unknown high flag bit alone is read and kept, and not written by a child.",
     [h("traceparent", "00-" + TID + "-" + PID + "-80")],
     parent=ctx(flags="80"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-00")])

case("traceparent/valid/ows-leading-spaces",
     "Leading spaces are optional white space and are trimmed.",
     [h("traceparent", "   " + TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/ows-trailing-spaces",
     "Trailing spaces are optional white space and are trimmed.",
     [h("traceparent", TP + "  ")],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/ows-leading-tab",
     "A leading tab is optional white space and is trimmed.",
     [h("traceparent", "\t" + TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/ows-trailing-tab",
     "A trailing tab is optional white space and is trimmed.",
     [h("traceparent", TP + "\t")],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/ows-both-ends-mixed",
     "Mixed spaces and tabs at both ends are trimmed.",
     [h("traceparent", " \t \t" + TP + "\t \t ")],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/max-values",
     "All-f trace id, span id and flags are valid (only all-zero ids are rejected).",
     [h("traceparent", "00-" + "f" * 32 + "-" + "f" * 16 + "-ff")],
     parent=ctx("f" * 32, "f" * 16, "ff"),
     inject=[h("traceparent", "00-" + "f" * 32 + "-" + CHILD + "-03")])

case("traceparent/valid/min-nonzero-ids",
     "Ids with a single non-zero digit are not all zero and are valid.",
     [h("traceparent", "00-" + "0" * 31 + "1-" + "0" * 15 + "1-01")],
     parent=ctx("0" * 31 + "1", "0" * 15 + "1", "01"),
     inject=[h("traceparent", "00-" + "0" * 31 + "1-" + CHILD + "-01")])

case("traceparent/valid/version-01",
     "A higher version of exactly 55 bytes is parsed like 00; inject writes version 00.",
     [h("traceparent", "01-" + TID + "-" + PID + "-01")],
     parent=ctx(version="01"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/version-0a",
     "Version 0a (lowercase hex letter) is a valid higher version.",
     [h("traceparent", "0a-" + TID + "-" + PID + "-01")],
     parent=ctx(version="0a"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/version-7f",
     "Version 7f is a valid higher version.",
     [h("traceparent", "7f-" + TID + "-" + PID + "-00")],
     parent=ctx(flags="00", version="7f"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-00")])

case("traceparent/valid/version-cc-exactly-55",
     "Version cc with exactly 55 bytes is valid; inject writes version 00.",
     [h("traceparent", "cc-" + TID + "-" + PID + "-01")],
     parent=ctx(version="cc"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/version-cc-future-data",
     "Version cc longer than 55 bytes with '-' at byte 55: the rest is ignored.",
     [h("traceparent", "cc-" + TID + "-" + PID + "-01-future-data")],
     parent=ctx(version="cc"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/version-cc-dash-only",
     "Version cc of 56 bytes ending in '-' at byte 55 with nothing after it is valid.",
     [h("traceparent", "cc-" + TID + "-" + PID + "-01-")],
     parent=ctx(version="cc"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/version-cc-future-garbage",
     "Whatever follows the '-' at byte 55 of a higher version is ignored, even non-hex text.",
     [h("traceparent", "cc-" + TID + "-" + PID + "-03-XYZ not/hex at all!")],
     parent=ctx(flags="03", version="cc"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-03")])

case("traceparent/valid/version-cc-future-data-ows",
     "OWS is trimmed before the higher-version length check.",
     [h("traceparent", "\t cc-" + TID + "-" + PID + "-01-abc \t")],
     parent=ctx(version="cc"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/valid/version-fe-future-data",
     "Version fe (the highest allowed) with future data is valid.",
     [h("traceparent", "fe-" + TID + "-" + PID + "-ff-" + "x" * 100)],
     parent=ctx(flags="ff", version="fe"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-03")])

case("traceparent/valid/version-fe-exactly-55",
     "Version fe with exactly 55 bytes is valid.",
     [h("traceparent", "fe-" + TID + "-" + PID + "-00")],
     parent=ctx(flags="00", version="fe"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-00")])

# ===========================================================================
# traceparent: invalid (one case per error code and position)
# ===========================================================================


def invalid(name, description, value, error, header=None):
    """An invalid traceparent alone: new root, nothing else."""
    hdr = header if header is not None else h("traceparent", value)
    case("traceparent/invalid/" + name, description, [hdr],
         parent=None, error=error,
         inject=[h("traceparent", TP_ROOT)])


# version
invalid("version-ff", "Version ff is forbidden.",
        "ff-" + TID + "-" + PID + "-01", "traceparent_version")
invalid("version-ff-short", "Version is checked before length: 'ff' alone is a version error.",
        "ff", "traceparent_version")
invalid("version-ff-long", "Version ff with future data is still a version error.",
        "ff-" + TID + "-" + PID + "-01-extra", "traceparent_version")
invalid("version-uppercase-hex-letter", "Version must be lowercase hex: 0A is rejected.",
        "0A-" + TID + "-" + PID + "-01", "traceparent_version")
invalid("version-uppercase-cc", "Version must be lowercase hex: CC is rejected.",
        "CC-" + TID + "-" + PID + "-01", "traceparent_version")
invalid("version-non-hex", "Version 0g is not hex.",
        "0g-" + TID + "-" + PID + "-01", "traceparent_version")
invalid("version-uppercase-short", "Version is checked before length: '0A' alone is a version error.",
        "0A", "traceparent_version")
invalid("version-leading-newline",
        "A leading newline is not OWS, so it is not trimmed and the version bytes are '\\n0'.",
        "\n" + TP, "traceparent_version")
invalid("version-leading-vertical-tab",
        "A leading vertical tab (0x0b) is not OWS.",
        "\x0b" + TP, "traceparent_version")
invalid("version-leading-nbsp",
        "A leading U+00A0 no-break space (bytes c2 a0) is not OWS.",
        "\u00a0" + TP, "traceparent_version")
invalid("version-non-utf8",
        "A non-UTF-8 byte (0xc3) as the first version byte.",
        None, "traceparent_version",
        header=hx("traceparent", "c3" + hexs(TP[1:])))

# length
invalid("length-0-empty", "An empty value is shorter than 2 bytes.",
        "", "traceparent_length")
invalid("length-1", "A single byte is shorter than 2 bytes.",
        "0", "traceparent_length")
invalid("length-1-after-trim", "OWS is trimmed first: ' 0 ' is one byte long.",
        " 0 ", "traceparent_length")
invalid("length-2-version-only", "Version 00 alone: valid version, wrong length.",
        "00", "traceparent_length")
invalid("length-3", "Version and first delimiter only.",
        "00-", "traceparent_length")
invalid("length-54", "Version 00 with 54 bytes (last flag digit missing).",
        TP[:-1], "traceparent_length")
invalid("length-56", "Version 00 with 56 bytes (extra flag digit).",
        TP + "1", "traceparent_length")
invalid("length-00-trailing-extra", "Version 00 must be exactly 55 bytes: no future data allowed.",
        TP + "-extra", "traceparent_length")
invalid("length-00-trailing-dash", "Version 00 followed by a lone '-' is 56 bytes.",
        TP + "-", "traceparent_length")
invalid("length-00-trailing-newline", "A trailing newline is not OWS: 56 bytes.",
        TP + "\n", "traceparent_length")
invalid("length-ows-trim-then-54", "Trailing OWS is trimmed inside the flags: '...-0 ' becomes 54 bytes.",
        TP[:-1] + " ", "traceparent_length")
invalid("length-higher-version-54", "A higher version must be at least 55 bytes.",
        "cc-" + TID + "-" + PID + "-0", "traceparent_length")
invalid("length-higher-version-2", "A higher version alone is too short.",
        "cc", "traceparent_length")
invalid("length-whitespace-only", "Only OWS: trimmed to empty.",
        "  \t \t ", "traceparent_length")
invalid("length-null-value", "A null traceparent value counts as the empty value.",
        None, "traceparent_length")
invalid("length-large-100kib",
        "A 100 KiB (102400-byte) version 00 value is rejected by length without trouble.",
        TP + "-" + "0" * (102400 - 56), "traceparent_length")
invalid("order-length-before-delimiter",
        "Length is checked before delimiters: 56 bytes with all delimiters wrong.",
        "00_" + TID + "_" + PID + "_01x", "traceparent_length")

# delimiters
invalid("delimiter-underscore-at-2", "'_' instead of '-' after the version.",
        "00_" + TID + "-" + PID + "-01", "traceparent_delimiter")
invalid("delimiter-underscore-at-35", "'_' instead of '-' after the trace id.",
        "00-" + TID + "_" + PID + "-01", "traceparent_delimiter")
invalid("delimiter-underscore-at-52", "'_' instead of '-' after the span id.",
        "00-" + TID + "-" + PID + "_01", "traceparent_delimiter")
invalid("delimiter-space-at-35", "An internal space in place of the delimiter after the trace id.",
        "00-" + TID + " " + PID + "-01", "traceparent_delimiter")
invalid("delimiter-missing-at-2-is-length",
        "A missing delimiter makes version 00 54 bytes long; length is checked first.",
        "00" + TID + "-" + PID + "-01", "traceparent_length")
invalid("delimiter-missing-at-35-is-length",
        "A missing delimiter makes version 00 54 bytes long; length is checked first.",
        "00-" + TID + PID + "-01", "traceparent_length")
invalid("delimiter-missing-at-52-is-length",
        "A missing delimiter makes version 00 54 bytes long; length is checked first.",
        "00-" + TID + "-" + PID + "01", "traceparent_length")
invalid("delimiter-missing-at-2-padded",
        "Delimiter after the version missing, padded back to 55 bytes: byte 2 is '4'.",
        "00" + TID + "-" + PID + "-01" + "0", "traceparent_delimiter")
invalid("delimiter-missing-at-35-padded",
        "Delimiter after the trace id missing, padded back to 55 bytes: byte 35 is '0'.",
        "00-" + TID + PID + "-01" + "0", "traceparent_delimiter")
invalid("delimiter-missing-at-52-padded",
        "Delimiter after the span id missing, padded back to 55 bytes: byte 52 is '0'.",
        "00-" + TID + "-" + PID + "01" + "0", "traceparent_delimiter")
invalid("delimiter-higher-version-no-dash-at-55",
        "A higher version longer than 55 bytes needs '-' at byte 55.",
        "cc-" + TID + "-" + PID + "-01" + "x", "traceparent_delimiter")
invalid("delimiter-higher-version-future-without-dash",
        "A higher version with trailing data not introduced by '-'.",
        "cc-" + TID + "-" + PID + "-01" + "future-data", "traceparent_delimiter")
invalid("delimiter-higher-version-underscore-at-2",
        "Delimiters of a higher version are checked like version 00.",
        "cc_" + TID + "-" + PID + "-01-future", "traceparent_delimiter")
invalid("delimiter-higher-version-missing-at-35",
        "Higher version with the delimiter after the trace id missing: byte 55 is 'x', not '-'.",
        "cc-" + TID + PID + "-01-xx", "traceparent_delimiter")
invalid("order-delimiter-before-trace-id",
        "Delimiters are checked before the trace id.",
        "00_" + TID.upper() + "-" + PID + "-01", "traceparent_delimiter")

# trace id
invalid("trace-id-uppercase", "Trace id must be lowercase hex.",
        "00-" + TID.upper() + "-" + PID + "-01", "traceparent_trace_id")
invalid("trace-id-one-uppercase", "A single uppercase digit in the trace id.",
        "00-4B" + TID[2:] + "-" + PID + "-01", "traceparent_trace_id")
invalid("trace-id-non-hex", "A 'g' in the trace id.",
        "00-" + TID[:31] + "g-" + PID + "-01", "traceparent_trace_id")
invalid("trace-id-internal-space", "A space inside the trace id (same length).",
        "00-" + TID[:16] + " " + TID[17:] + "-" + PID + "-01", "traceparent_trace_id")
invalid("trace-id-non-utf8",
        "A raw 0xff byte inside the trace id (value given as bytes, still 55 bytes).",
        None, "traceparent_trace_id",
        header=hx("traceparent", hexs("00-" + TID[:10]) + "ff" + hexs(TID[11:] + "-" + PID + "-01")))
invalid("trace-id-zero", "An all-zero trace id is invalid.",
        "00-" + "0" * 32 + "-" + PID + "-01", "traceparent_zero_trace_id")
invalid("order-zero-trace-id-before-span-id",
        "The zero trace id check (step 6) runs before the span id check (step 7).",
        "00-" + "0" * 32 + "-" + "zzzzzzzzzzzzzzzz" + "-01", "traceparent_zero_trace_id")
invalid("order-trace-id-before-zero-span-id",
        "An invalid trace id is reported before an all-zero span id.",
        "00-" + TID.upper() + "-" + "0" * 16 + "-01", "traceparent_trace_id")
invalid("higher-version-zero-trace-id",
        "Higher versions still validate the trace id.",
        "cc-" + "0" * 32 + "-" + PID + "-01-future", "traceparent_zero_trace_id")

# span id
invalid("span-id-uppercase", "Span id must be lowercase hex.",
        "00-" + TID + "-" + PID.upper() + "-01", "traceparent_span_id")
invalid("span-id-non-hex", "A 'z' in the span id.",
        "00-" + TID + "-" + PID[:15] + "z-01", "traceparent_span_id")
invalid("span-id-zero", "An all-zero span id is invalid.",
        "00-" + TID + "-" + "0" * 16 + "-01", "traceparent_zero_span_id")
invalid("order-zero-span-id-before-flags",
        "The zero span id check runs before the flags check.",
        "00-" + TID + "-" + "0" * 16 + "-zz", "traceparent_zero_span_id")

# flags
invalid("flags-uppercase", "Flags must be lowercase hex: FF is rejected.",
        "00-" + TID + "-" + PID + "-FF", "traceparent_flags")
invalid("flags-uppercase-hex-letter", "Flags must be lowercase hex: 0A is rejected.",
        "00-" + TID + "-" + PID + "-0A", "traceparent_flags")
invalid("flags-non-hex", "Flags 0x are not hex.",
        "00-" + TID + "-" + PID + "-0x", "traceparent_flags")
invalid("higher-version-bad-flags",
        "Higher versions still validate the flags.",
        "cc-" + TID + "-" + PID + "-0g-future", "traceparent_flags")

# ===========================================================================
# traceparent: several headers (Kafka: the last one wins, as Java's lastHeader)
# ===========================================================================

TP_OTHER_SPAN = "00-" + TID + "-" + CHILD + "-01"  # the same trace, another hop's span

case("traceparent/duplicate/identical-copies",
     "Identical copies: the last is the same context; inject keeps one traceparent at the first position.",
     [h("traceparent", TP), h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/identical-three-copies-with-others-between",
     "Three identical copies separated by other headers; the later copies are removed on inject.",
     [h("traceparent", TP), h("x", "1"), h("traceparent", TP), h("y", "2"), h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD), h("x", "1"), h("y", "2")])

case("traceparent/duplicate/identical-after-ows-trim",
     "The last copy is read after OWS trimming.",
     [h("traceparent", TP), h("traceparent", " \t" + TP + "  ")],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/last-is-a-higher-version",
     "The last value wins even when it is a later version: 'cc-...-01-x' is read by its first 55 chars.",
     [h("traceparent", TP), h("traceparent", "cc-" + TID + "-" + PID + "-01-x")],
     parent=ctx(version="cc"),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/text-and-same-bytes",
     "A text value and a bytes value with the same bytes: the last (text) is read.",
     [hx("traceparent", hexs(TP)), h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/differing-values",
     "A peer-instrumented forwarder appended its own traceparent: the last (the latest hop) is the parent.",
     [h("traceparent", TP), h("traceparent", TP_OTHER_SPAN)],
     parent=ctx(span_id=CHILD),
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/differing-flags-only",
     "Copies that differ only in flags: the last one's flags are kept.",
     [h("traceparent", TP), h("traceparent", "00-" + TID + "-" + PID + "-00")],
     parent=ctx(flags="00"),
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-00")])

case("traceparent/duplicate/name-case-same-value",
     "Names compare case-insensitively; same value under 'TraceParent' and 'TRACEPARENT'.",
     [h("TraceParent", TP), h("TRACEPARENT", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/name-case-different-values",
     "The last header under any name case wins.",
     [h("traceparent", TP), h("TraceParent", "00-" + "a" * 32 + "-" + PID + "-01")],
     parent=ctx(trace_id="a" * 32),
     inject=[h("traceparent", "00-" + "a" * 32 + "-" + CHILD + "-01")])

case("traceparent/duplicate/valid-then-invalid",
     "The last value is invalid: a new root with that value's error (an earlier valid copy is not used).",
     [h("traceparent", TP), h("traceparent", "00-bogus")],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT)])

case("traceparent/duplicate/invalid-then-valid",
     "An invalid first copy and a valid last copy: the last is the parent.",
     [h("traceparent", "garbage"), h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/null-then-value",
     "A null first value and a real last value: the last is the parent.",
     [h("traceparent", None), h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/value-then-null",
     "A null last value counts as empty: a new root (traceparent_length).",
     [h("traceparent", TP), h("traceparent", None)],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT)])

case("traceparent/duplicate/null-and-null",
     "Two null values: the last is empty and fails the length check.",
     [h("traceparent", None), h("traceparent", None)],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT)])

case("traceparent/duplicate/null-and-empty",
     "An empty value then a null value: the last is empty.",
     [h("traceparent", ""), h("traceparent", None)],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT)])

case("traceparent/duplicate/empty-and-whitespace",
     "An OWS-only last value is empty after trimming.",
     [h("traceparent", ""), h("traceparent", " \t ")],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT)])

case("traceparent/duplicate/identical-invalid-copies",
     "Identical invalid copies: the last one's own error is reported.",
     [h("traceparent", "00-bogus"), h("Traceparent", "00-bogus")],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT)])

case("traceparent/duplicate/middle-copy-differs",
     "Three copies where only the middle one differs: the last is read.",
     [h("traceparent", TP), h("traceparent", "00-" + TID + "-" + PID + "-03"), h("traceparent", TP)],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("traceparent/duplicate/keeps-tracestate",
     "A forwarder appended a traceparent after the tracestate: the last traceparent and the (only) tracestate are read.",
     [h("traceparent", TP), h("tracestate", "rojo=00f067aa0ba902b7"), h("traceparent", TP_OTHER_SPAN)],
     parent=ctx(span_id=CHILD), tracestate=[["rojo", "00f067aa0ba902b7"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=00f067aa0ba902b7")])

case("traceparent/duplicate/keeps-baggage",
     "Baggage is joined as always; the last traceparent (flags 00) is the parent.",
     [h("baggage", "userId=alice"), h("traceparent", TP), h("traceparent", "00-" + TID + "-" + PID + "-00")],
     parent=ctx(flags="00"),
     baggage=[bm("userId", "alice")],
     inject=[h("baggage", "userId=alice"), h("traceparent", "00-" + TID + "-" + CHILD + "-00")])

# ===========================================================================
# tracestate
# ===========================================================================


def with_tp(*tracestate_values):
    """The valid TP followed by tracestate headers with the given values."""
    return [h("traceparent", TP)] + [h("tracestate", v) for v in tracestate_values]


# --- basic and OWS ----------------------------------------------------------

case("tracestate/valid/one-member",
     "A single member is read and written back.",
     with_tp("rojo=00f067aa0ba902b7"),
     parent=P, tracestate=[["rojo", "00f067aa0ba902b7"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=00f067aa0ba902b7")])

case("tracestate/valid/three-members",
     "Three members keep their order.",
     with_tp("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,kt=1"),
     parent=P, tracestate=[["rojo", "00f067aa0ba902b7"], ["congo", "t61rcWkgMzE"], ["kt", "1"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,kt=1")])

case("tracestate/valid/ows-around-members",
     "Spaces around members are trimmed; inject writes no white space.",
     with_tp("  rojo=1 , congo=2 ,kt=3  "),
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"], ["kt", "3"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1,congo=2,kt=3")])

case("tracestate/valid/tabs-around-members",
     "Tabs around members are OWS and are trimmed.",
     with_tp("\trojo=1\t,\tcongo=2\t"),
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1,congo=2")])

case("tracestate/valid/empty-members-inside",
     "Empty members (',,' and ', ,') are skipped.",
     with_tp("rojo=1,,congo=2, ,\t,kt=3"),
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"], ["kt", "3"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1,congo=2,kt=3")])

case("tracestate/valid/leading-and-trailing-commas",
     "Leading and trailing commas make empty members, which are skipped.",
     with_tp(",,rojo=1,congo=2,"),
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1,congo=2")])

case("tracestate/valid/only-commas-and-ows",
     "A tracestate of empty members only is an empty list (no error); inject removes the header.",
     with_tp(" , ,\t,,"),
     parent=P, tracestate=[],
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/valid/empty-header",
     "An empty tracestate header gives an empty list and no error; inject writes no tracestate header.",
     with_tp(""),
     parent=P, tracestate=[],
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/valid/whitespace-header",
     "An OWS-only tracestate header gives an empty list; inject writes no tracestate header.",
     with_tp(" \t  "),
     parent=P, tracestate=[],
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/valid/64kib-of-empty-members",
     "A 65536-byte tracestate made mostly of empty members (', ') holds two members; no input size limit applies.",
     with_tp("rojo=1" + ", " * 32761 + ",congo=2"),
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1,congo=2")])

# --- member count -------------------------------------------------------------

case("tracestate/count/32-members",
     "32 members is the maximum and all are kept.",
     with_tp(",".join("k" + str(i) + "=v" + str(i) for i in range(32))),
     parent=P, tracestate=[["k" + str(i), "v" + str(i)] for i in range(32)],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", ",".join("k" + str(i) + "=v" + str(i) for i in range(32)))])

case("tracestate/count/33-members",
     "The 33rd member discards the whole tracestate; inject removes the header.",
     with_tp(",".join("k" + str(i) + "=v" + str(i) for i in range(33))),
     parent=P, tracestate=[], tracestate_error="tracestate_too_many_members",
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/count/32-members-with-empty-members",
     "Empty members do not count: 32 members plus many empty ones are kept.",
     with_tp(", ,," + ",,\t,".join("k" + str(i) + "=v" + str(i) for i in range(32)) + ", ,"),
     parent=P, tracestate=[["k" + str(i), "v" + str(i)] for i in range(32)],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", ",".join("k" + str(i) + "=v" + str(i) for i in range(32)))])

case("tracestate/count/32-members-including-duplicate",
     "31 distinct keys plus one duplicate are 32 members: accepted, the duplicate dropped.",
     with_tp(",".join("k" + str(i) + "=v" + str(i) for i in range(31)) + ",k0=dup"),
     parent=P, tracestate=[["k" + str(i), "v" + str(i)] for i in range(31)],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", ",".join("k" + str(i) + "=v" + str(i) for i in range(31)))])

case("tracestate/count/33-members-including-duplicate",
     "Duplicates count toward the limit: 32 distinct keys plus one duplicate are 33 members.",
     with_tp(",".join("k" + str(i) + "=v" + str(i) for i in range(32)) + ",k0=dup"),
     parent=P, tracestate=[], tracestate_error="tracestate_too_many_members",
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/count/33rd-member-malformed",
     "The count check comes first for a member: a malformed 33rd member reports too_many_members.",
     with_tp(",".join("k" + str(i) + "=v" + str(i) for i in range(32)) + ",Bad"),
     parent=P, tracestate=[], tracestate_error="tracestate_too_many_members",
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/count/33-members-malformed-fifth",
     "Scanning is left to right: a malformed 5th member is found before the 33rd.",
     with_tp(",".join("k" + str(i) + "=v" + str(i) for i in range(4)) + ",bad,"
             + ",".join("k" + str(i) + "=v" + str(i) for i in range(5, 33))),
     parent=P, tracestate=[], tracestate_error="tracestate_member",
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/count/last-header-counted-alone",
     "Only the last tracestate header is read: 16 members then 17 members gives the 17 (not 33).",
     with_tp(",".join("a" + str(i) + "=1" for i in range(16)),
             ",".join("b" + str(i) + "=2" for i in range(17))),
     parent=P, tracestate=[["b" + str(i), "2"] for i in range(17)],
     inject=[h("traceparent", TP_CHILD), h("tracestate", ",".join("b" + str(i) + "=2" for i in range(17)))])

# --- duplicates -------------------------------------------------------------

case("tracestate/duplicate/keep-first",
     "For a duplicate key the first occurrence is kept and later ones dropped.",
     with_tp("a=1,b=2,a=3"),
     parent=P, tracestate=[["a", "1"], ["b", "2"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "a=1,b=2")])

case("tracestate/duplicate/across-headers",
     "Only the last header is read, so a key repeated from an earlier header is not a duplicate.",
     with_tp("rojo=1", "congo=2,rojo=3"),
     parent=P, tracestate=[["congo", "2"], ["rojo", "3"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "congo=2,rojo=3")])

case("tracestate/duplicate/then-invalid",
     "Dropping a duplicate does not stop the scan: a later invalid key discards everything.",
     with_tp("a=1,a=2,B=3"),
     parent=P, tracestate=[], tracestate_error="tracestate_key",
     inject=[h("traceparent", TP_CHILD)])

# --- key grammar --------------------------------------------------------------


def ts_key_ok(name, description, member, key, value):
    case("tracestate/key/" + name, description, with_tp(member),
         parent=P, tracestate=[[key, value]],
         inject=[h("traceparent", TP_CHILD), h("tracestate", member)])


def ts_bad(group, name, description, headers, error):
    case("tracestate/" + group + "/" + name, description, headers,
         parent=P, tracestate=[], tracestate_error=error,
         inject=[h("traceparent", TP_CHILD)])


ts_key_ok("single-char", "A one-character key.", "a=1", "a", "1")
ts_key_ok("digit-first", "A key may start with a digit.", "0vendor=1", "0vendor", "1")
ts_key_ok("all-digits", "A key of digits only.", "123=1", "123", "1")
ts_key_ok("tenant-at-system", "Multi-tenant key tenant@system.", "tenant@system=1", "tenant@system", "1")
ts_key_ok("multiple-at", "The README grammar allows '@' anywhere after the first character, several times.",
          "a@b@c=1", "a@b@c", "1")
ts_key_ok("star", "'*' is allowed after the first character.", "vendor*x=1", "vendor*x", "1")
ts_key_ok("slash", "'/' is allowed after the first character.", "a/b=1", "a/b", "1")
ts_key_ok("underscore", "'_' is allowed after the first character.", "a_b=1", "a_b", "1")
ts_key_ok("dash", "'-' is allowed after the first character.", "a-b=1", "a-b", "1")
ts_key_ok("all-allowed-chars", "Every allowed character class in one key.", "z0_-*/@9=1", "z0_-*/@9", "1")
ts_key_ok("length-256", "A key of 256 characters is the maximum.",
          "k" + "x" * 255 + "=1", "k" + "x" * 255, "1")

ts_bad("key", "uppercase", "Uppercase letters are not allowed in keys.",
       with_tp("Rojo=1"), "tracestate_key")
ts_bad("key", "uppercase-later-member", "An invalid key in the 2nd member discards the whole list.",
       with_tp("rojo=1,conGo=2"), "tracestate_key")
ts_bad("key", "starts-with-underscore", "A key must start with [a-z0-9].",
       with_tp("_rojo=1"), "tracestate_key")
ts_bad("key", "starts-with-at", "A key must start with [a-z0-9].",
       with_tp("@system=1"), "tracestate_key")
ts_bad("key", "starts-with-dash", "A key must start with [a-z0-9].",
       with_tp("-rojo=1"), "tracestate_key")
ts_bad("key", "dot", "'.' is not allowed in keys.",
       with_tp("ro.jo=1"), "tracestate_key")
ts_bad("key", "internal-space", "A space inside a key.",
       with_tp("ro jo=1"), "tracestate_key")
ts_bad("key", "space-before-equals", "OWS is only trimmed around members: 'rojo =1' has key 'rojo '.",
       with_tp("rojo =1"), "tracestate_key")
ts_bad("key", "length-257", "A key of 257 characters is too long.",
       with_tp("k" + "x" * 256 + "=1"), "tracestate_key")
ts_bad("key", "empty", "An empty key ('=v').",
       with_tp("rojo=1,=v"), "tracestate_key")
ts_bad("key", "non-utf8", "A raw 0xff byte inside a key.",
       [h("traceparent", TP), hx("tracestate", hexs("ro") + "ff" + hexs("jo=1"))], "tracestate_key")
ts_bad("key", "checked-before-value", "Key and value both invalid: the key is checked first.",
       with_tp("A="), "tracestate_key")

# --- value grammar ------------------------------------------------------------


def ts_value_ok(name, description, value_in, key, value, written):
    case("tracestate/value/" + name, description, with_tp(value_in),
         parent=P, tracestate=[[key, value]],
         inject=[h("traceparent", TP_CHILD), h("tracestate", written)])


ts_value_ok("length-256", "A value of 256 bytes is the maximum.",
            "k=" + "v" * 256, "k", "v" * 256, "k=" + "v" * 256)
ts_value_ok("trailing-space-trimmed", "A trailing space is OWS around the member and is trimmed.",
            "k=v ", "k", "v", "k=v")
ts_value_ok("trailing-space-before-comma-trimmed", "Trailing OWS before a comma is trimmed.",
            "k=v \t,", "k", "v", "k=v")
ts_value_ok("leading-space-kept", "A space after '=' is part of the value and is written back as-is.",
            "k= v", "k", " v", "k= v")
ts_value_ok("internal-space", "A space inside a value is allowed.",
            "k=a b", "k", "a b", "k=a b")
ts_value_ok("all-printable",
            "Every byte 0x20..0x7e except ',' and '=' is allowed (value starts with a space, ends with '~').",
            "k=" + "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",="),
            "k", "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",="),
            "k=" + "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",="))

ts_bad("value", "length-257", "A value of 257 bytes is too long.",
       with_tp("k=" + "v" * 257), "tracestate_value")
ts_bad("value", "contains-equals", "'=' is not allowed in a value ('k=v=w' has value 'v=w').",
       with_tp("k=v=w"), "tracestate_value")
ts_bad("value", "double-equals", "'k==v' has value '=v'.",
       with_tp("k==v"), "tracestate_value")
ts_bad("value", "empty", "An empty value ('k=').",
       with_tp("rojo=1,k="), "tracestate_value")
ts_bad("value", "only-spaces", "'k=   ' is trimmed to 'k=', an empty value.",
       with_tp("k=   ,rojo=1"), "tracestate_value")
ts_bad("value", "internal-tab", "A tab inside a value is not 0x20..0x7e.",
       with_tp("k=a\tb"), "tracestate_value")
ts_bad("value", "leading-tab", "A tab right after '=' is part of the value, not OWS.",
       with_tp("k=\tb"), "tracestate_value")
ts_bad("value", "del-0x7f", "DEL (0x7f) is not printable.",
       with_tp("k=a\x7fb"), "tracestate_value")
ts_bad("value", "control-0x01", "A control byte.",
       with_tp("k=a\x01b"), "tracestate_value")
ts_bad("value", "non-utf8", "A raw 0xff byte inside a value.",
       [h("traceparent", TP), hx("tracestate", hexs("rojo=ab") + "ff" + hexs("cd"))], "tracestate_value")
ts_bad("value", "non-ascii-utf8", "A UTF-8 'é' (c3 a9) is outside 0x20..0x7e.",
       with_tp("k=caf\u00e9"), "tracestate_value")

ts_bad("member", "no-equals", "A member without '='.",
       with_tp("rojo=1,congo"), "tracestate_member")
ts_bad("member", "value-comma-splits-member",
       "A ',' cannot be inside a value: 'a=b,c' is split into 'a=b' and 'c', which has no '='.",
       with_tp("a=b,c"), "tracestate_member")
ts_bad("member", "first-failure-wins", "The first failing member gives the code (key error in 2nd, value error in 3rd).",
       with_tp("a=1,B=2,c="), "tracestate_key")

# --- several headers ------------------------------------------------------------

case("tracestate/headers/last-of-two-wins",
     "Two tracestate headers: the last (the latest hop's) is read; inject rewrites the first and removes the second.",
     with_tp("rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"),
     parent=P, tracestate=[["congo", "t61rcWkgMzE"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "congo=t61rcWkgMzE")])

case("tracestate/headers/split-with-others-between",
     "Other headers between tracestate headers keep their place.",
     [h("tracestate", "a=1"), h("x", "1"), h("traceparent", TP), h("tracestate", "b=2"), h("y", "2")],
     parent=P, tracestate=[["b", "2"]],
     inject=[h("tracestate", "b=2"), h("x", "1"), h("traceparent", TP_CHILD), h("y", "2")])

case("tracestate/headers/mixed-case-names",
     "tracestate headers are found under any name case; inject writes the lowercase name at the first one.",
     [h("traceparent", TP), h("TraceState", "a=1"), h("TRACESTATE", "b=2")],
     parent=P, tracestate=[["b", "2"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "b=2")])

case("tracestate/headers/not-concatenated",
     "Header values are never concatenated: 'rojo=00f0' then '67aa' reads only '67aa' (no '=').",
     with_tp("rojo=00f0", "67aa"),
     parent=P, tracestate=[], tracestate_error="tracestate_member",
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/headers/null-then-value",
     "A null first tracestate value and a real last one: the last is read; inject rewrites the first header.",
     with_tp(None, "rojo=1"),
     parent=P, tracestate=[["rojo", "1"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1")])

case("tracestate/headers/empty-then-value",
     "An empty first header and a real last one: the last is read.",
     with_tp("", "rojo=1"),
     parent=P, tracestate=[["rojo", "1"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1")])

case("tracestate/headers/invalid-last-header",
     "An invalid member in the last header discards it; the first header is not read at all.",
     with_tp("rojo=1", "congo"),
     parent=P, tracestate=[], tracestate_error="tracestate_member",
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/headers/as-bytes",
     "A tracestate value given as ASCII bytes is read like text.",
     [h("traceparent", TP), hx("tracestate", hexs("rojo=1,congo=2"))],
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"]],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "rojo=1,congo=2")])

# --- ignored without a valid traceparent --------------------------------------

case("tracestate/ignored/invalid-traceparent",
     "tracestate is only read with a valid traceparent: an invalid one gives [] and no tracestate_error.",
     [h("traceparent", TP.upper()), h("tracestate", "Bad Key=1")],
     parent=None, error="traceparent_trace_id",
     inject=[h("traceparent", TP_ROOT)])

case("tracestate/ignored/invalid-traceparent-valid-tracestate",
     "A valid tracestate is ignored under an invalid traceparent and removed on inject.",
     [h("traceparent", "00-" + "0" * 32 + "-" + PID + "-01"), h("tracestate", "rojo=1")],
     parent=None, error="traceparent_zero_trace_id",
     inject=[h("traceparent", TP_ROOT)])

case("tracestate/ignored/missing-traceparent",
     "tracestate without traceparent is ignored; inject removes it and appends the new root traceparent.",
     [h("tracestate", "rojo=1"), h("x", "1")],
     parent=None, error="missing",
     inject=[h("x", "1"), h("traceparent", TP_ROOT)])

case("tracestate/ignored/missing-traceparent-invalid-tracestate",
     "An invalid tracestate without traceparent gives no tracestate_error.",
     [h("tracestate", "=")],
     parent=None, error="missing",
     inject=[h("traceparent", TP_ROOT)])

# --- discarded, inject -------------------------------------------------------

case("tracestate/discarded/header-removed-on-inject",
     "A discarded tracestate is removed on inject; other headers keep their place.",
     [h("traceparent", TP), h("tracestate", "rojo=1,Bad=2"), h("x", "1")],
     parent=P, tracestate=[], tracestate_error="tracestate_key",
     inject=[h("traceparent", TP_CHILD), h("x", "1")])

# --- inject: tracestate_set -------------------------------------------------------

case("tracestate/set/new-key-first",
     "tracestate_set adds our member in front of the existing ones.",
     with_tp("rojo=00f067aa0ba902b7"),
     parent=P, tracestate=[["rojo", "00f067aa0ba902b7"]],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1,rojo=00f067aa0ba902b7")])

case("tracestate/set/existing-key-moves-to-front",
     "tracestate_set removes the existing member of that key and puts the new value first.",
     with_tp("rojo=1,kt=old,congo=2"),
     parent=P, tracestate=[["rojo", "1"], ["kt", "old"], ["congo", "2"]],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1,rojo=1,congo=2")])

case("tracestate/set/existing-key-already-first",
     "tracestate_set of the first key replaces its value.",
     with_tp("kt=old,rojo=1"),
     parent=P, tracestate=[["kt", "old"], ["rojo", "1"]],
     tracestate_set=("kt", "new"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=new,rojo=1")])

case("tracestate/set/existing-key-last",
     "tracestate_set of the last key moves it to the front.",
     with_tp("rojo=1,congo=2,kt=old"),
     parent=P, tracestate=[["rojo", "1"], ["congo", "2"], ["kt", "old"]],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1,rojo=1,congo=2")])

case("tracestate/set/input-duplicate-key",
     "The input duplicate is already dropped on read; tracestate_set then replaces the kept one.",
     with_tp("kt=a,rojo=1,kt=b"),
     parent=P, tracestate=[["kt", "a"], ["rojo", "1"]],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1,rojo=1")])

case("tracestate/set/no-tracestate-header",
     "Without a tracestate header, our member is appended after the other headers.",
     [h("x", "1"), h("traceparent", TP), h("y", "2")],
     parent=P, tracestate=[],
     tracestate_set=("kt", "1"),
     inject=[h("x", "1"), h("traceparent", TP_CHILD), h("y", "2"), h("tracestate", "kt=1")])

case("tracestate/set/after-discarded",
     "A discarded tracestate gives an empty list; tracestate_set then writes only our member in place.",
     [h("traceparent", TP), h("tracestate", "Bad=1"), h("x", "1")],
     parent=P, tracestate=[], tracestate_error="tracestate_key",
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1"), h("x", "1")])

case("tracestate/set/empty-header",
     "An empty tracestate header is rewritten in place with our member.",
     [h("traceparent", TP), h("tracestate", ""), h("x", "1")],
     parent=P, tracestate=[],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1"), h("x", "1")])

case("tracestate/set/null-header",
     "A null tracestate header is the first tracestate header and is rewritten with our member.",
     [h("traceparent", TP), h("TraceState", None)],
     parent=P, tracestate=[],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1")])

case("tracestate/set/split-headers",
     "Two tracestate headers: the last is read; the first is rewritten with our member first, the second removed.",
     with_tp("rojo=1", "kt=old,congo=2"),
     parent=P, tracestate=[["kt", "old"], ["congo", "2"]],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD), h("tracestate", "kt=1,congo=2")])

# --- inject: truncation to 512 bytes -----------------------------------------

case("tracestate/truncate/exactly-512",
     "Members 128+128+128+125 bytes plus 3 commas are exactly 512 bytes: nothing is dropped.",
     with_tp(",".join([fill("a", 128, "1"), fill("b", 128, "2"), fill("c", 128, "3"), fill("d", 125, "4")])),
     parent=P,
     tracestate=[["a", "1" * 126], ["b", "2" * 126], ["c", "3" * 126], ["d", "4" * 123]],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "a=" + "1" * 126 + ",b=" + "2" * 126 + ",c=" + "3" * 126 + ",d=" + "4" * 123)])

case("tracestate/truncate/513-without-long-members",
     "513 bytes and no member longer than 128: the last member is dropped.",
     with_tp(",".join([fill("a", 128, "1"), fill("b", 128, "2"), fill("c", 128, "3"), fill("d", 126, "4")])),
     parent=P,
     tracestate=[["a", "1" * 126], ["b", "2" * 126], ["c", "3" * 126], ["d", "4" * 124]],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "a=" + "1" * 126 + ",b=" + "2" * 126 + ",c=" + "3" * 126)])

case("tracestate/truncate/drop-last-long-member-first",
     "513 bytes: the last member longer than 128 bytes (l2) is dropped, short members after it stay.",
     with_tp(",".join(["a=1", fill("l1", 250, "x"), "b=2", fill("l2", 250, "y"), "c=3"])),
     parent=P,
     tracestate=[["a", "1"], ["l1", "x" * 247], ["b", "2"], ["l2", "y" * 247], ["c", "3"]],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "a=1,l1=" + "x" * 247 + ",b=2,c=3")])

case("tracestate/truncate/drop-several-long-members",
     "Three 255-byte members and 's=1' (771 bytes): l3 (515 left) then l2 are dropped, leaving 259 bytes.",
     with_tp(",".join([fill("l1", 255, "x"), fill("l2", 255, "y"), fill("l3", 255, "z"), "s=1"])),
     parent=P,
     tracestate=[["l1", "x" * 252], ["l2", "y" * 252], ["l3", "z" * 252], ["s", "1"]],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "l1=" + "x" * 252 + ",s=1")])

case("tracestate/truncate/long-first-then-from-end",
     "A 129-byte member then 31 members of 20 bytes (780 bytes): the long one goes first (650), "
     "then members from the end until 24 remain (503 bytes).",
     with_tp(",".join([fill("long", 129, "x")] + ["k" + str(i).zfill(2) + "=" + "v" * 16 for i in range(31)])),
     parent=P,
     tracestate=[["long", "x" * 124]] + [["k" + str(i).zfill(2), "v" * 16] for i in range(31)],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", ",".join("k" + str(i).zfill(2) + "=" + "v" * 16 for i in range(24)))])

case("tracestate/truncate/128-bytes-is-not-long",
     "Four 128-byte members and 'z=1' (519 bytes): none is longer than 128, so 'z=1' and then 'd' are dropped.",
     with_tp(",".join([fill("a", 128, "1"), fill("b", 128, "2"), fill("c", 128, "3"), fill("d", 128, "4"), "z=1"])),
     parent=P,
     tracestate=[["a", "1" * 126], ["b", "2" * 126], ["c", "3" * 126], ["d", "4" * 126], ["z", "1"]],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "a=" + "1" * 126 + ",b=" + "2" * 126 + ",c=" + "3" * 126)])

case("tracestate/truncate/129-bytes-is-long",
     "A 129-byte first member, three 128-byte members and 'z=1' (520 bytes): only the 129-byte member is dropped.",
     with_tp(",".join([fill("l", 129, "x"), fill("a", 128, "1"), fill("b", 128, "2"), fill("c", 128, "3"), "z=1"])),
     parent=P,
     tracestate=[["l", "x" * 127], ["a", "1" * 126], ["b", "2" * 126], ["c", "3" * 126], ["z", "1"]],
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "a=" + "1" * 126 + ",b=" + "2" * 126 + ",c=" + "3" * 126 + ",z=1")])

case("tracestate/truncate/single-member-over-512",
     "One valid 513-byte member (256-byte key, 256-byte value) is dropped; no tracestate header is written.",
     with_tp("k" + "x" * 255 + "=" + "v" * 256),
     parent=P,
     tracestate=[["k" + "x" * 255, "v" * 256]],
     inject=[h("traceparent", TP_CHILD)])

case("tracestate/truncate/with-tracestate-set",
     "Input of 511 bytes fits, but with 'kt=1' in front it is 516: the last member (not long) is dropped.",
     with_tp(",".join([fill("a", 128, "1"), fill("b", 128, "2"), fill("c", 128, "3"), fill("d", 124, "4")])),
     parent=P,
     tracestate=[["a", "1" * 126], ["b", "2" * 126], ["c", "3" * 126], ["d", "4" * 122]],
     tracestate_set=("kt", "1"),
     inject=[h("traceparent", TP_CHILD),
             h("tracestate", "kt=1,a=" + "1" * 126 + ",b=" + "2" * 126 + ",c=" + "3" * 126)])

# ===========================================================================
# baggage
# ===========================================================================


def bag(name, description, values, members, written):
    """Baggage headers after the valid TP; written=None: no baggage header after inject."""
    headers = [h("traceparent", TP)] + [h("baggage", v) for v in values]
    inject = [h("traceparent", TP_CHILD)]
    if written is not None:
        inject.append(h("baggage", written))
    case("baggage/" + name, description, headers,
         parent=P, baggage=members, inject=inject)


bag("basic/simple", "One member.",
    ["userId=alice"], [bm("userId", "alice")], "userId=alice")
bag("basic/multiple", "Several members keep their order; %20 decodes to a space.",
    ["userId=alice,serverNode=DF%2028,isProduction=false"],
    [bm("userId", "alice"), bm("serverNode", "DF 28"), bm("isProduction", "false")],
    "userId=alice,serverNode=DF%2028,isProduction=false")
bag("basic/ows-everywhere", "OWS around members, around '=' and around ';' is removed.",
    ["  userId = alice ;\tp1 ; p2 = v ,\tk2\t=\tv2\t"],
    [bm("userId", "alice", "p1", "p2=v"), bm("k2", "v2")],
    "userId=alice;p1;p2=v,k2=v2")
bag("basic/empty-value", "value is *baggage-octet, so 'k=' is a member with an empty value.",
    ["k=,a=1"], [bm("k", ""), bm("a", "1")], "k=,a=1")
bag("basic/empty-value-with-property", "An empty value followed by a property.",
    ["k=;p"], [bm("k", "", "p")], "k=;p")
bag("basic/value-contains-equals", "'=' (0x3d) is a baggage-octet: 'k=a=b' has value 'a=b', written unencoded.",
    ["k=a=b"], [bm("k", "a=b")], "k=a=b")
bag("basic/key-token-special-chars", "Keys are RFC 7230 tokens: all tchar symbols are allowed.",
    ["a!#$%&'*+-.^_`|~Z9=1"], [bm("a!#$%&'*+-.^_`|~Z9", "1")], "a!#$%&'*+-.^_`|~Z9=1")
bag("basic/key-percent-not-decoded", "Only values are percent-decoded; a key with '%' is taken as written.",
    ["k%20=v"], [bm("k%20", "v")], "k%20=v")
bag("basic/keys-case-sensitive", "Keys differing in case are different keys.",
    ["k=1,K=2"], [bm("k", "1"), bm("K", "2")], "k=1,K=2")
bag("basic/all-baggage-octets",
    "A value of every baggage-octet except '%' is written back unencoded.",
    ["k=" + "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\",;\\%")],
    [bm("k", "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\",;\\%"))],
    "k=" + "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\",;\\%"))

# --- percent-encoding ---------------------------------------------------------

bag("percent/space", "%20 decodes to a space and is re-encoded as %20.",
    ["k=hello%20world"], [bm("k", "hello world")], "k=hello%20world")
bag("percent/utf8-two-bytes", "%C3%A9 decodes to U+00E9.",
    ["k=caf%C3%A9"], [bm("k", "caf\u00e9")], "k=caf%C3%A9")
bag("percent/lowercase-hex-input", "Lowercase hex digits decode too; inject writes uppercase hex.",
    ["k=caf%c3%a9"], [bm("k", "caf\u00e9")], "k=caf%C3%A9")
bag("percent/utf8-four-bytes", "A 4-byte UTF-8 sequence (U+1F600).",
    ["k=%F0%9F%98%80"], [bm("k", "\U0001F600")], "k=%F0%9F%98%80")
bag("percent/decoded-octet-not-reencoded", "%41 decodes to 'A', a baggage-octet, written unencoded.",
    ["k=%41%42c"], [bm("k", "ABc")], "k=ABc")
bag("percent/decoded-delimiters-reencoded", "Decoded ',', ';', '\"', '\\\\' are not baggage-octets and are re-encoded.",
    ["k=a%2Cb%3bc%22d%5Ce"], [bm("k", "a,b;c\"d\\e")], "k=a%2Cb%3Bc%22d%5Ce")
bag("percent/encoded-percent", "%25 decodes to '%', which is always re-encoded as %25.",
    ["k=100%25"], [bm("k", "100%")], "k=100%25")
bag("percent/single-pass", "Decoding is one pass: %2541 is '%41', not 'A'.",
    ["k=%2541"], [bm("k", "%41")], "k=%2541")
bag("percent/literal-at-end", "A '%' at the end of the value stays literal and is written as %25.",
    ["k=100%"], [bm("k", "100%")], "k=100%25")
bag("percent/literal-non-hex", "'%zz' is not an escape: kept literally, written as %25zz.",
    ["k=%zz"], [bm("k", "%zz")], "k=%25zz")
bag("percent/literal-one-hex-digit", "'%2' at the end has only one hex digit: kept literally.",
    ["k=a%2"], [bm("k", "a%2")], "k=a%252")
bag("percent/literal-then-escape", "'%%41': the first '%' is literal, then %41 decodes to 'A'.",
    ["k=%%41"], [bm("k", "%A")], "k=%25A")
bag("percent/invalid-utf8-ff", "A decoded 0xff byte is not UTF-8: U+FFFD, re-encoded as %EF%BF%BD.",
    ["k=a%FFb"], [bm("k", "a\ufffdb")], "k=a%EF%BF%BDb")
bag("percent/invalid-utf8-truncated-sequence",
    "A truncated 3-byte sequence (E2 82) is one maximal invalid subpart: one U+FFFD.",
    ["k=a%E2%82b"], [bm("k", "a\ufffdb")], "k=a%EF%BF%BDb")
bag("percent/invalid-utf8-bad-continuation",
    "C3 followed by '(' (0x28): C3 becomes U+FFFD and '(' is kept.",
    ["k=%C3%28"], [bm("k", "\ufffd(")], "k=%EF%BF%BD(")
bag("percent/property-not-decoded", "Properties are kept as written: '%20' in a property value stays.",
    ["k=v;p=%20x"], [bm("k", "v", "p=%20x")], "k=v;p=%20x")

# --- properties -------------------------------------------------------------

bag("property/key-only-and-key-value", "A key-only property and a key=value property.",
    ["k=v;p1;p2=v2"], [bm("k", "v", "p1", "p2=v2")], "k=v;p1;p2=v2")
bag("property/with-ows", "OWS around ';' and around the property '=' is removed.",
    ["k=v ; p1 ;\tp2 = v2\t;p3"], [bm("k", "v", "p1", "p2=v2", "p3")], "k=v;p1;p2=v2;p3")
bag("property/several-members", "Properties belong to their own member.",
    ["a=1;x,b=2,c=3;y=z"], [bm("a", "1", "x"), bm("b", "2"), bm("c", "3", "y=z")], "a=1;x,b=2,c=3;y=z")
bag("property/empty-value", "A property with an empty value ('p=').",
    ["k=v;p="], [bm("k", "v", "p=")], "k=v;p=")

# --- malformed members --------------------------------------------------------

bag("malformed/no-equals", "A member without '=' is dropped; the others are kept.",
    ["a=1,bad,b=2"], [bm("a", "1"), bm("b", "2")], "a=1,b=2")
bag("malformed/bad-key-char", "'(' is not a token character: that member is dropped.",
    ["a=1,b(x=2,c=3"], [bm("a", "1"), bm("c", "3")], "a=1,c=3")
bag("malformed/key-with-at", "'@' is not a token character.",
    ["a=1,user@x=2"], [bm("a", "1")], "a=1")
bag("malformed/key-internal-space", "A space inside a key.",
    ["my key=1,a=2"], [bm("a", "2")], "a=2")
bag("malformed/empty-key", "'=v' has an empty key.",
    ["=v,a=1"], [bm("a", "1")], "a=1")
bag("malformed/space-inside-value", "A space inside a value is not a baggage-octet (nor OWS before ';').",
    ["a=1,b=x y,c=3"], [bm("a", "1"), bm("c", "3")], "a=1,c=3")
bag("malformed/tab-inside-value", "A tab inside a value.",
    ["a=1,b=x\ty"], [bm("a", "1")], "a=1")
bag("malformed/dquote-in-value", "'\"' (0x22) is not a baggage-octet.",
    ["a=1,b=\"x\",c=3"], [bm("a", "1"), bm("c", "3")], "a=1,c=3")
bag("malformed/backslash-in-value", "'\\\\' (0x5c) is not a baggage-octet.",
    ["a=1,b=x\\y"], [bm("a", "1")], "a=1")
bag("malformed/raw-utf8-in-value", "Raw non-ASCII UTF-8 ('é') must be percent-encoded; raw it is malformed.",
    ["a=1,b=caf\u00e9"], [bm("a", "1")], "a=1")
bag("malformed/all-members", "Every member malformed: empty baggage, the header is removed on inject.",
    ["bad,worse=a b"], [], None)

case("baggage/malformed/raw-non-utf8-byte",
     "A raw 0xff byte in one value drops that member; the others are kept.",
     [h("traceparent", TP), hx("baggage", hexs("a=1,b=x") + "ff" + hexs(",c=3"))],
     parent=P, baggage=[bm("a", "1"), bm("c", "3")],
     inject=[h("traceparent", TP_CHILD), h("baggage", "a=1,c=3")])

# --- duplicates and empty members -------------------------------------------

bag("duplicate/last-wins", "The last occurrence of a key wins and stays at its own position.",
    ["a=1,b=2,a=3"], [bm("b", "2"), bm("a", "3")], "b=2,a=3")
bag("duplicate/last-wins-with-properties", "The winner keeps its own properties.",
    ["a=1;p,b=2,a=3;q=r"], [bm("b", "2"), bm("a", "3", "q=r")], "b=2,a=3;q=r")
bag("duplicate/across-headers", "Duplicates across two baggage headers: the later header wins.",
    ["a=1,b=2", "a=3"], [bm("b", "2"), bm("a", "3")], "b=2,a=3")
bag("empty/members", "Empty members and OWS-only members are skipped.",
    [",a=1,, ,\t,b=2,"], [bm("a", "1"), bm("b", "2")], "a=1,b=2")
bag("empty/only-empty-members", "Nothing but empty members: no baggage, header removed on inject.",
    [" , ,"], [], None)
bag("empty/empty-header", "An empty baggage header: no baggage, header removed on inject.",
    [""], [], None)

# --- limits -------------------------------------------------------------------

bag("limit/64-members", "64 members is the maximum.",
    [",".join("k" + str(i) + "=v" + str(i) for i in range(64))],
    [bm("k" + str(i), "v" + str(i)) for i in range(64)],
    ",".join("k" + str(i) + "=v" + str(i) for i in range(64)))
bag("limit/65-members", "65 members: the last one is dropped.",
    [",".join("k" + str(i) + "=v" + str(i) for i in range(65))],
    [bm("k" + str(i), "v" + str(i)) for i in range(64)],
    ",".join("k" + str(i) + "=v" + str(i) for i in range(64)))
bag("limit/70-members-across-headers", "Two headers of 35 members each: members 65..70 are dropped.",
    [",".join("a" + str(i) + "=1" for i in range(35)), ",".join("b" + str(i) + "=2" for i in range(35))],
    [bm("a" + str(i), "1") for i in range(35)] + [bm("b" + str(i), "2") for i in range(29)],
    ",".join("a" + str(i) + "=1" for i in range(35)) + "," + ",".join("b" + str(i) + "=2" for i in range(29)))
bag("limit/bytes-exactly-8192", "4096 + 1 + 4095 = 8192 bytes formatted: kept.",
    ["a=" + "x" * 4094 + ",b=" + "y" * 4093],
    [bm("a", "x" * 4094), bm("b", "y" * 4093)],
    "a=" + "x" * 4094 + ",b=" + "y" * 4093)
bag("limit/bytes-8193", "4096 + 1 + 4096 = 8193 bytes: the last member is dropped.",
    ["a=" + "x" * 4094 + ",b=" + "y" * 4094],
    [bm("a", "x" * 4094)],
    "a=" + "x" * 4094)
bag("limit/bytes-drop-from-end-not-skip",
    "5000 + 4000 + 3 bytes: 'c' then 'b' are dropped from the end, even though 'a' and 'c' would fit.",
    ["a=" + "x" * 4998 + ",b=" + "y" * 3998 + ",c=1"],
    [bm("a", "x" * 4998)],
    "a=" + "x" * 4998)
bag("limit/bytes-counted-as-formatted-ows",
    "The limit counts formatted bytes: input OWS does not count (8192 formatted, more in the input).",
    ["a = " + "x" * 4094 + " , b = " + "y" * 4093],
    [bm("a", "x" * 4094), bm("b", "y" * 4093)],
    "a=" + "x" * 4094 + ",b=" + "y" * 4093)
bag("limit/bytes-counted-as-formatted-percent",
    "1364 spaces encode as %20: 4094 + 1 + 4097 = 8192 formatted bytes: kept.",
    ["a=" + "%20" * 1364 + ",b=" + "y" * 4095],
    [bm("a", " " * 1364), bm("b", "y" * 4095)],
    "a=" + "%20" * 1364 + ",b=" + "y" * 4095)
bag("limit/bytes-counted-after-reencoding",
    "2000 literal '%' re-encode as %25: 6002 + 1 + 2502 = 8505 formatted bytes (input only 4505): 'b' is dropped.",
    ["a=" + "%" * 2000 + ",b=" + "y" * 2500],
    [bm("a", "%" * 2000)],
    "a=" + "%25" * 2000)
bag("limit/bytes-single-member-too-long",
    "A single 8193-byte member is dropped: no baggage, header removed on inject.",
    ["a=" + "x" * 8191], [], None)
bag("limit/bytes-first-member-too-long-drops-all",
    "8193 + 1 + 3 bytes: dropping from the end removes 'b' and then 'a' (the limit is only met when empty).",
    ["a=" + "x" * 8191 + ",b=1"], [], None)

# --- headers ------------------------------------------------------------------

bag("headers/two-headers-joined", "Two baggage headers form one list; inject rewrites the first, removes the second.",
    ["a=1", "b=2"], [bm("a", "1"), bm("b", "2")], "a=1,b=2")
bag("headers/empty-first-header", "An empty first baggage header joins as an empty member.",
    ["", "b=2"], [bm("b", "2")], "b=2")

case("baggage/headers/mixed-case-name",
     "'Baggage' is found case-insensitively and rewritten as 'baggage' in place.",
     [h("Baggage", "userId=alice"), h("traceparent", TP)],
     parent=P, baggage=[bm("userId", "alice")],
     inject=[h("baggage", "userId=alice"), h("traceparent", TP_CHILD)])

case("baggage/headers/null-value-skipped",
     "A null baggage value is skipped on read; the first baggage header (the null one) is rewritten.",
     [h("traceparent", TP), h("BAGGAGE", None), h("x", "1"), h("baggage", "a=1")],
     parent=P, baggage=[bm("a", "1")],
     inject=[h("traceparent", TP_CHILD), h("baggage", "a=1"), h("x", "1")])

case("baggage/headers/as-bytes",
     "A baggage value given as bytes with a valid UTF-8 percent-free value.",
     [h("traceparent", TP), hx("baggage", hexs("a=1;p"))],
     parent=P, baggage=[bm("a", "1", "p")],
     inject=[h("traceparent", TP_CHILD), h("baggage", "a=1;p")])

case("baggage/new-root/missing-traceparent",
     "Baggage is independent of trace context: extracted without traceparent and re-injected on the new root.",
     [h("baggage", "userId=alice,id=%C3%A9")],
     parent=None, error="missing",
     baggage=[bm("userId", "alice"), bm("id", "\u00e9")],
     inject=[h("baggage", "userId=alice,id=%C3%A9"), h("traceparent", TP_ROOT)])

case("baggage/new-root/invalid-traceparent",
     "Baggage is extracted and re-injected when the traceparent is invalid.",
     [h("traceparent", "00-" + TID + "-" + "0" * 16 + "-01"), h("baggage", " a = 1 ;p")],
     parent=None, error="traceparent_zero_span_id",
     baggage=[bm("a", "1", "p")],
     inject=[h("traceparent", TP_ROOT), h("baggage", "a=1;p")])

case("baggage/new-root/invalid-traceparent-with-tracestate",
     "New root: tracestate removed, baggage kept in place.",
     [h("traceparent", "garbage"), h("tracestate", "rojo=1"), h("baggage", "a=1")],
     parent=None, error="traceparent_version",
     baggage=[bm("a", "1")],
     inject=[h("traceparent", TP_ROOT), h("baggage", "a=1")])

# ===========================================================================
# header policy
# ===========================================================================

case("headers/read/empty-list",
     "No headers at all: missing; inject appends a new root traceparent.",
     [],
     parent=None, error="missing",
     inject=[h("traceparent", TP_ROOT)])

case("headers/read/only-other-headers",
     "Only unrelated headers: missing; they are kept and the traceparent is appended at the end.",
     [h("x", "1"), hx("bin", "00ff"), h("n", None)],
     parent=None, error="missing",
     inject=[h("x", "1"), hx("bin", "00ff"), h("n", None), h("traceparent", TP_ROOT)])

case("headers/read/similar-names-are-not-ours",
     "'traceparent-x', ' traceparent' and 'trace_parent' are other headers.",
     [h("traceparent-x", TP), h(" traceparent", TP), h("trace_parent", TP)],
     parent=None, error="missing",
     inject=[h("traceparent-x", TP), h(" traceparent", TP), h("trace_parent", TP), h("traceparent", TP_ROOT)])

case("headers/read/uppercase-name",
     "'TRACEPARENT' is read; inject writes the lowercase name at its position.",
     [h("x", "1"), h("TRACEPARENT", TP)],
     parent=P,
     inject=[h("x", "1"), h("traceparent", TP_CHILD)])

case("headers/read/traceparent-as-bytes",
     "A traceparent given as bytes is read like text; inject writes a text value.",
     [hx("traceparent", hexs(TP))],
     parent=P,
     inject=[h("traceparent", TP_CHILD)])

case("headers/inject/others-kept-in-order",
     "Other headers keep their order and bytes (text, non-UTF-8 bytes, null, repeated names).",
     [h("x-a", "1"), h("traceparent", TP), hx("x-bin", "ff00fe"), h("x-null", None), h("x-a", "2"),
      hx("x-bad-utf8", "c328")],
     parent=P,
     inject=[h("x-a", "1"), h("traceparent", TP_CHILD), hx("x-bin", "ff00fe"), h("x-null", None), h("x-a", "2"),
             hx("x-bad-utf8", "c328")])

case("headers/inject/forward-replaces-in-place",
     "Forwarding a message with all three headers: each is replaced at its own position.",
     [h("x", "1"), h("traceparent", TP), h("tracestate", "rojo=00f067aa0ba902b7"),
      h("baggage", "userId=alice"), h("y", "2")],
     parent=P, tracestate=[["rojo", "00f067aa0ba902b7"]], baggage=[bm("userId", "alice")],
     inject=[h("x", "1"), h("traceparent", TP_CHILD), h("tracestate", "rojo=00f067aa0ba902b7"),
             h("baggage", "userId=alice"), h("y", "2")])

case("headers/inject/forward-reverse-order",
     "Our headers in reverse order stay in that order (replaced in place, not re-appended).",
     [h("baggage", "a=1"), h("tracestate", "rojo=1"), h("traceparent", TP)],
     parent=P, tracestate=[["rojo", "1"]], baggage=[bm("a", "1")],
     tracestate_set=("kt", "1"),
     inject=[h("baggage", "a=1"), h("tracestate", "kt=1,rojo=1"), h("traceparent", TP_CHILD)])

case("headers/inject/mixed-case-names-rewritten-lowercase",
     "Mixed-case names are rewritten with the lowercase name at the first position.",
     [h("TRACEPARENT", TP), h("x", "1"), h("TraceState", "rojo=1"), h("BaGgAgE", "a=1")],
     parent=P, tracestate=[["rojo", "1"]], baggage=[bm("a", "1")],
     inject=[h("traceparent", TP_CHILD), h("x", "1"), h("tracestate", "rojo=1"), h("baggage", "a=1")])

case("headers/inject/duplicates-removed",
     "Later headers of our names (any case) are removed; the last tracestate is read, baggage joined.",
     [h("traceparent", TP), h("tracestate", "a=1"), h("x", "1"), h("Tracestate", "b=2"),
      h("baggage", "k=1"), h("TRACEPARENT", TP), h("BAGGAGE", "m=2"), h("y", "2")],
     parent=P, tracestate=[["b", "2"]], baggage=[bm("k", "1"), bm("m", "2")],
     inject=[h("traceparent", TP_CHILD), h("tracestate", "b=2"), h("x", "1"),
             h("baggage", "k=1,m=2"), h("y", "2")])

case("headers/inject/stale-tracestate-removed-on-new-root",
     "A new root has no tracestate: every tracestate header is removed.",
     [h("traceparent", "00-bad"), h("tracestate", "rojo=1"), h("x", "1"), h("TRACESTATE", "congo=2")],
     parent=None, error="traceparent_length",
     inject=[h("traceparent", TP_ROOT), h("x", "1")])

case("headers/inject/stale-tracestate-removed-on-missing",
     "Missing traceparent: tracestate removed, baggage rewritten in place, traceparent appended last.",
     [h("tracestate", "rojo=1"), h("baggage", "a=1"), h("x", "1")],
     parent=None, error="missing",
     baggage=[bm("a", "1")],
     inject=[h("baggage", "a=1"), h("x", "1"), h("traceparent", TP_ROOT)])

case("headers/inject/stale-baggage-removed",
     "When nothing is left to write for baggage, every baggage header is removed.",
     [h("baggage", "bad"), h("traceparent", TP), h("Baggage", None), h("x", "1")],
     parent=P,
     inject=[h("traceparent", TP_CHILD), h("x", "1")])

case("headers/inject/null-tracestate-removed",
     "A null tracestate header with nothing to write is removed.",
     [h("traceparent", TP), h("tracestate", None), h("x", "1")],
     parent=P,
     inject=[h("traceparent", TP_CHILD), h("x", "1")])

case("headers/inject/null-traceparent-rewritten",
     "A null traceparent is rewritten in place with the new root.",
     [h("x", "1"), h("TraceParent", None), h("y", "2")],
     parent=None, error="traceparent_length",
     inject=[h("x", "1"), h("traceparent", TP_ROOT), h("y", "2")])

case("headers/inject/baggage-normalized",
     "Baggage is always rewritten in normalized form (OWS removed, escapes upper-case).",
     [h("traceparent", TP), h("baggage", " a = x%2cy ; p = 1 "), h("x", "1")],
     parent=P, baggage=[bm("a", "x,y", "p=1")],
     inject=[h("traceparent", TP_CHILD), h("baggage", "a=x%2Cy;p=1"), h("x", "1")])

case("headers/inject/tracestate-appended-after-others",
     "A tracestate that was not present is appended at the end.",
     [h("baggage", "a=1"), h("x", "1"), h("traceparent", TP), h("y", "2")],
     parent=P, baggage=[bm("a", "1")],
     tracestate_set=("kt", "1"),
     inject=[h("baggage", "a=1"), h("x", "1"), h("traceparent", TP_CHILD), h("y", "2"), h("tracestate", "kt=1")])

case("headers/inject/traceparent-appended-after-others",
     "Missing traceparent with baggage present: baggage in place, traceparent appended.",
     [h("baggage", "a=1"), hx("x", "ff")],
     parent=None, error="missing",
     baggage=[bm("a", "1")],
     inject=[h("baggage", "a=1"), hx("x", "ff"), h("traceparent", TP_ROOT)])

case("headers/inject/duplicate-traceparent-removed-with-others-between",
     "Identical copies: the first is rewritten, later ones removed, others untouched.",
     [h("a", "1"), h("traceparent", TP), h("tracestate", "rojo=1"), h("b", None), h("TRACEPARENT", " " + TP)],
     parent=P, tracestate=[["rojo", "1"]],
     inject=[h("a", "1"), h("traceparent", TP_CHILD), h("tracestate", "rojo=1"), h("b", None)])

case("headers/inject/higher-version-forwarded",
     "Forwarding a higher-version traceparent with future data: version 00 is written, flags kept.",
     [h("traceparent", "cc-" + TID + "-" + PID + "-03-what-ever"), h("tracestate", "rojo=1")],
     parent=ctx(flags="03", version="cc"), tracestate=[["rojo", "1"]],
     inject=[h("traceparent", "00-" + TID + "-" + CHILD + "-03"), h("tracestate", "rojo=1")])


# ===========================================================================
# output and structural self-check
# ===========================================================================


def document():
    return {"schema_version": 1, "cases": sorted(CASES, key=lambda c: c["name"])}


def render():
    return json.dumps(document(), indent=1, ensure_ascii=True) + "\n"


HEX = re.compile(r"^[0-9a-f]*$")
NAME = re.compile(r"^[a-z0-9-]+(/[a-z0-9-]+)+$")


def check():
    problems = []

    def bad(where, msg):
        problems.append(where + ": " + msg)

    def is_hex(s, n=None):
        return isinstance(s, str) and HEX.match(s) is not None and (n is None or len(s) == n)

    def check_headers(where, headers):
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
                if hdr["value"] is not None and not isinstance(hdr["value"], str):
                    bad(w, "value must be a string or null")
            elif keys == {"value_hex"}:
                if not is_hex(hdr["value_hex"]) or len(hdr["value_hex"]) % 2:
                    bad(w, "value_hex must be lowercase hex of even length")
            else:
                bad(w, "header needs exactly one of value / value_hex, got " + str(sorted(keys)))

    doc = json.loads(render())
    if doc.get("schema_version") != 1 or set(doc) != {"schema_version", "cases"}:
        bad("document", "top level must be {schema_version: 1, cases}")
    cases = doc["cases"]
    names = [c.get("name") for c in cases]
    if names != sorted(names):
        bad("document", "cases not sorted by name")
    seen = set()
    tracestate_codes = {"tracestate_too_many_members", "tracestate_member", "tracestate_key", "tracestate_value"}
    n_inject = 0
    for c in cases:
        name = c.get("name")
        w = str(name)
        if not isinstance(name, str) or not NAME.match(name):
            bad(w, "bad name")
        if name in seen:
            bad(w, "duplicate name")
        seen.add(name)
        allowed = {"name", "description", "headers", "expect", "inject"}
        if not {"name", "description", "headers", "expect"} <= set(c) or not set(c) <= allowed:
            bad(w, "wrong case keys " + str(sorted(c)))
            continue
        if not isinstance(c["description"], str) or not c["description"].strip():
            bad(w, "empty description")
        check_headers(w + ".headers", c["headers"])
        e = c["expect"]
        need = {"traceparent", "tracestate", "baggage"}
        if not need <= set(e) or not set(e) <= need | {"error", "tracestate_error"}:
            bad(w, "wrong expect keys " + str(sorted(e)))
            continue
        t = e["traceparent"]
        if t is None:
            if e.get("error") not in ERROR_CODES or e.get("error", "").startswith("tracestate"):
                bad(w, "null traceparent needs a traceparent error code")
        else:
            if "error" in e:
                bad(w, "error present although traceparent is set")
            if set(t) != {"version", "trace_id", "span_id", "flags"}:
                bad(w, "traceparent keys")
            elif not (is_hex(t["version"], 2) and is_hex(t["trace_id"], 32)
                      and is_hex(t["span_id"], 16) and is_hex(t["flags"], 2)):
                bad(w, "traceparent field formats")
        if not isinstance(e["tracestate"], list) or not all(
                isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m) for m in e["tracestate"]):
            bad(w, "tracestate must be a list of [key, value]")
        if "tracestate_error" in e:
            if e["tracestate_error"] not in tracestate_codes:
                bad(w, "unknown tracestate_error")
            if e["tracestate"]:
                bad(w, "tracestate must be [] when discarded")
        if not isinstance(e["baggage"], list) or not all(
                isinstance(m, dict) and set(m) == {"key", "value", "properties"}
                and isinstance(m["key"], str) and isinstance(m["value"], str)
                and isinstance(m["properties"], list) and all(isinstance(p, str) for p in m["properties"])
                for m in e["baggage"]):
            bad(w, "baggage must be a list of {key, value, properties}")
        if "inject" in c:
            n_inject += 1
            i = c["inject"]
            if not {"span_id", "new_root_trace_id", "expect_headers"} <= set(i) or not set(i) <= {
                    "span_id", "new_root_trace_id", "tracestate_set", "expect_headers"}:
                bad(w, "wrong inject keys " + str(sorted(i)))
                continue
            if not is_hex(i["span_id"], 16):
                bad(w, "inject.span_id")
            if not is_hex(i["new_root_trace_id"], 32):
                bad(w, "inject.new_root_trace_id")
            if "tracestate_set" in i:
                ts = i["tracestate_set"]
                if not (isinstance(ts, dict) and set(ts) == {"key", "value"}
                        and all(isinstance(x, str) for x in ts.values())):
                    bad(w, "inject.tracestate_set")
            check_headers(w + ".inject.expect_headers", i["expect_headers"])
    if len(cases) < 170:
        bad("document", "fewer than 170 cases: " + str(len(cases)))
    if n_inject < 120:
        bad("document", "fewer than 120 cases with inject: " + str(n_inject))

    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "trace_context_vectors.json")
    if os.path.exists(path):
        with open(path, "r", encoding="ascii") as f:
            if f.read() != render():
                bad(path, "is stale: regenerate it")
    else:
        bad(path, "missing")

    groups = {}
    for c in cases:
        g = "/".join(c["name"].split("/")[:2])
        groups[g] = groups.get(g, 0) + 1
    for g in sorted(groups):
        print("%-28s %4d" % (g, groups[g]), file=sys.stderr)
    print("cases: %d, with inject: %d" % (len(cases), n_inject), file=sys.stderr)
    for p in problems:
        print("PROBLEM " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    elif sys.argv[1:]:
        sys.exit("usage: generate_vectors.py [--check]")
    sys.stdout.write(render())
