#!/usr/bin/env python3
"""The one benchmark table of scripts/bench-all.sh, made from its log.

The log (target/bench-all/log.txt) holds, for each command bench-all.sh ran:

    BENCH_CMD_BEGIN {"id": 3, "command": "...", "groups": ["c-librdkafka"], "sampling": "1.0",
                     "load_before": "0.52 0.40 0.33"}
    BENCH_ROW {...}            the rows the command printed (contract in BENCHMARKS.md / issue 12)
    BENCH_CMD_END {"id": 3, "status": 0, "seconds": 41, "load_after": "1.20 0.60 0.40"}

one `BENCH_MACHINE {"nproc": 2, "cpu": "...", "date": "...", "commit": "...", "invocation": "..."}`
and `BENCH_NOTE "text"` lines (e.g. a build that failed), shown as warnings.

    python3 scripts/bench_table.py LOG [--out FILE] [--write-docs BENCHMARKS.md]

prints the markdown (machine line, the table, the commands with their load averages, warnings),
writes it to FILE, and with --write-docs replaces the block between `<!-- bench-all:begin -->` and
`<!-- bench-all:end -->` in the given file with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Optional, Tuple

BEGIN_MARK = "<!-- bench-all:begin -->"
END_MARK = "<!-- bench-all:end -->"

GROUP_ORDER = [
    "rust-codec", "c-abi", "node-codec", "python-codec",
    "rust-rdkafka", "c-librdkafka", "node-path", "node-kafkajs", "node-confluent", "python-confluent",
]
MODES = ["kafka-trace", "peer", "sdk-floor", "none", "bare"]
SHORT = {"kafka-trace": "kt", "peer": "peer", "sdk-floor": "floor", "none": "none", "bare": "bare"}
HEADER = ("| what | kafka-trace | peer | sdk floor | none/bare | ratio vs peer | % of sdk floor or of none "
          "| CPU µs/msg | command |")
ALIGN = "|---|---:|---:|---:|---:|---:|---:|---|---|"


class Log:
    def __init__(self) -> None:
        self.machine: Dict = {}
        self.commands: List[Dict] = []  # BEGIN merged with END
        self.rows: List[Tuple[int, Dict]] = []  # (command id, row)
        self.warnings: List[str] = []


def parse(lines) -> Log:
    log = Log()
    current: Optional[Dict] = None
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        tag, _, rest = line.partition(" ")
        if tag not in ("BENCH_MACHINE", "BENCH_CMD_BEGIN", "BENCH_CMD_END", "BENCH_ROW", "BENCH_NOTE"):
            continue
        try:
            obj = json.loads(rest)
        except json.JSONDecodeError as e:
            log.warnings.append(f"log line {n}: unreadable {tag} ({e.msg})")
            continue
        if tag == "BENCH_NOTE":
            log.warnings.append(str(obj))
        elif tag == "BENCH_MACHINE":
            log.machine = obj
        elif tag == "BENCH_CMD_BEGIN":
            current = dict(obj)
            log.commands.append(current)
        elif tag == "BENCH_CMD_END":
            if current is not None and current.get("id") == obj.get("id"):
                current.update(obj)
            current = None
        else:
            missing = [k for k in ("group", "row", "mode", "sampling", "value", "unit") if k not in obj]
            if missing or obj["mode"] not in MODES:
                why = f"missing {', '.join(missing)}" if missing else f"unknown mode {obj['mode']!r}"
                log.warnings.append(f"log line {n}: BENCH_ROW ignored: {why}")
                continue
            log.rows.append((current["id"] if current else 0, obj))
    return log


def sampling_label(env: Optional[str]) -> Optional[str]:
    """KT_BENCH_SAMPLING as the label rows use: 1.0 -> full, 0.01 -> 1%."""
    if env is None:
        return None
    r = float(env)
    return "full" if r >= 1.0 else f"{r * 100:g}%"


def fmt_value(v: float, unit: str) -> str:
    if unit == "msg/s":
        return f"{v / 1000:,.1f}k msg/s" if v >= 1000 else f"{v:,.0f} msg/s"
    if unit == "ns/op":
        return f"{v:,.1f} ns" if v < 100 else f"{v:,.0f} ns"
    return f"{v:,.4g} {unit}"


def speed(v: float, unit: str) -> float:
    """Higher is better: msg/s as is, a time per operation inverted."""
    return 1.0 / v if unit == "ns/op" else v


def fmt_cpu(v) -> str:
    return "–" if v is None else f"{v:,.1f}"


def render(log: Log) -> str:
    out: List[str] = []
    warnings = list(log.warnings)
    m = log.machine
    if m:
        out.append(f"_{m.get('nproc', '?')} CPUs ({m.get('cpu', '?')}), {m.get('date', '?')}, "
                   f"commit {m.get('commit', '?')}; `{m.get('invocation', 'bash scripts/bench-all.sh')}`_")
        out.append("")

    by_id = {c["id"]: c for c in log.commands}
    # (group, row, sampling) -> {"unit", "modes": {mode: row}, "commands": [ids]}
    table: Dict[Tuple[str, str, str], Dict] = {}
    printed = set()  # (command id, group) that printed at least one row
    for cid, r in log.rows:
        printed.add((cid, r["group"]))
        want = sampling_label(by_id.get(cid, {}).get("sampling"))
        if want is not None and r["sampling"] != want:
            warnings.append(f"command [{cid}] ran with KT_BENCH_SAMPLING={by_id[cid]['sampling']} but its row "
                            f"{r['group']} / {r['row']} / {r['mode']} says sampling {r['sampling']!r}: ignored")
            continue
        key = (r["group"], r["row"], r["sampling"])
        cell = table.setdefault(key, {"unit": r["unit"], "modes": {}, "commands": []})
        if r["mode"] in cell["modes"]:
            warnings.append(f"{r['group']} / {r['row']} / {r['sampling']} / {r['mode']}: printed twice "
                            f"(command [{cid}] repeats it); the first is shown")
            continue
        if r["unit"] != cell["unit"]:
            warnings.append(f"{r['group']} / {r['row']}: units differ ({cell['unit']} and {r['unit']})")
            continue
        cell["modes"][r["mode"]] = r
        if cid not in cell["commands"]:
            cell["commands"].append(cid)

    groups: List[str] = [g for g in GROUP_ORDER]
    for c in log.commands:
        for g in c.get("groups", []):
            if g not in groups:
                groups.append(g)
    for g, _, _ in table:
        if g not in groups:
            groups.append(g)

    out.append(HEADER)
    out.append(ALIGN)
    for g in groups:
        keys = [k for k in table if k[0] == g]
        expected = [c for c in log.commands if g in c.get("groups", [])]
        if not keys and not expected:
            continue
        out.append(f"| **{g}** | | | | | | | | |")
        for k in keys:
            out.append(render_row(k, table[k]))
        # commands meant to print this group (at some sampling) that printed nothing for it
        for c in expected:
            if (c["id"], g) not in printed:
                status = c.get("status")
                why = "did not finish" if status is None else f"exit {status}"
                out.append(f"| _no BENCH_ROW output ({why})_ | | | | | | | | [{c['id']}] |")
                warnings.append(f"{g}: command [{c['id']}] printed no BENCH_ROW for it ({why})")

    if log.commands:
        out.append("")
        out.append("Commands (load average 1/5/15 min before → after):")
        out.append("")
        for c in log.commands:
            env = f"KT_BENCH_SAMPLING={c['sampling']} " if c.get("sampling") is not None else ""
            secs = f"{c['seconds']} s" if "seconds" in c else "?"
            status = f"exit {c['status']}" if "status" in c else "did not finish"
            out.append(f"- [{c['id']}] `{env}{c['command']}`: load {c.get('load_before', '?')} → "
                       f"{c.get('load_after', '?')}; {secs}; {status}")
    if warnings:
        out.append("")
        out.append("Warnings:")
        out.append("")
        for w in warnings:
            out.append(f"- {w}")
    return "\n".join(out) + "\n"


def render_row(key: Tuple[str, str, str], cell: Dict) -> str:
    _, row, sampling = key
    unit, modes = cell["unit"], cell["modes"]
    what = row if unit == "ns/op" and sampling == "full" else f"{row}, {sampling} sampling"

    def val(mode: str) -> Optional[float]:
        r = modes.get(mode)
        return None if r is None else float(r["value"])

    def cellv(mode: str) -> str:
        v = val(mode)
        return "–" if v is None else fmt_value(v, unit)

    kt, peer = val("kafka-trace"), val("peer")
    if "none" in modes and "bare" in modes:
        none_bare = f"{cellv('none')} (bare {cellv('bare')})"
    elif "bare" in modes:
        none_bare = f"{cellv('bare')} (bare)"
    else:
        none_bare = cellv("none")
    ratio = "–"
    if kt is not None and peer is not None:
        x = speed(kt, unit) / speed(peer, unit)
        ratio = f"{x:.2f}×" if x >= 1 else f"**{x:.2f}×**"
    pct = "–"
    for ref, label in (("sdk-floor", "sdk floor"), ("none", "none"), ("bare", "bare")):
        rv = val(ref)
        if kt is not None and rv is not None:
            pct = f"{100 * speed(kt, unit) / speed(rv, unit):.0f}% of {label}"
            break
    cpus = [f"{SHORT[mo]} {fmt_cpu(modes[mo].get('cpu_us_per_msg'))}" for mo in MODES
            if mo in modes and modes[mo].get("cpu_us_per_msg") is not None]
    cmds = ", ".join(f"[{c}]" for c in cell["commands"])
    return (f"| {what} | {cellv('kafka-trace')} | {cellv('peer')} | {cellv('sdk-floor')} | "
            f"{none_bare} | {ratio} | {pct} | {' · '.join(cpus) or '–'} | {cmds} |")


def replace_block(doc: str, block: str) -> str:
    """`doc` with the text between the bench-all markers replaced by `block`."""
    start, end = doc.find(BEGIN_MARK), doc.find(END_MARK)
    if start < 0 or end < start:
        raise ValueError(f"no {BEGIN_MARK} … {END_MARK} block")
    return doc[: start + len(BEGIN_MARK)] + "\n" + block.rstrip("\n") + "\n" + doc[end:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("--out", help="also write the markdown here")
    ap.add_argument("--write-docs", metavar="FILE", help="replace the bench-all block of FILE (BENCHMARKS.md)")
    args = ap.parse_args(argv)
    with open(args.log, encoding="utf-8") as f:
        text = render(parse(f))
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    if args.write_docs:
        with open(args.write_docs, encoding="utf-8") as f:
            doc = f.read()
        with open(args.write_docs, "w", encoding="utf-8") as f:
            f.write(replace_block(doc, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
