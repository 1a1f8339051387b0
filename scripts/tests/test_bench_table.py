"""Tests of scripts/bench_table.py (the table of scripts/bench-all.sh) on a fixture log.

    python3 -m unittest discover -s scripts/tests -p 'test_bench_table.py'
"""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import bench_table  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


class BenchTable(unittest.TestCase):
    maxDiff = None

    def test_fixture_log_gives_the_expected_markdown_exactly(self):
        log = bench_table.parse(fixture("bench-all.log").splitlines())
        self.assertEqual(bench_table.render(log), fixture("bench-all.md"))

    def test_ratio_and_percent_directions(self):
        lines = [
            'BENCH_CMD_BEGIN {"id": 1, "command": "x", "groups": ["g"], "sampling": null, "load_before": "0 0 0"}',
            'BENCH_ROW {"group": "g", "row": "op", "mode": "kafka-trace", "sampling": "full", "value": 100, "unit": "ns/op", "cpu_us_per_msg": null}',
            'BENCH_ROW {"group": "g", "row": "op", "mode": "peer", "sampling": "full", "value": 400, "unit": "ns/op", "cpu_us_per_msg": null}',
            'BENCH_ROW {"group": "g", "row": "op", "mode": "bare", "sampling": "full", "value": 80, "unit": "ns/op", "cpu_us_per_msg": null}',
            'BENCH_ROW {"group": "g", "row": "tp", "mode": "kafka-trace", "sampling": "full", "value": 500, "unit": "msg/s", "cpu_us_per_msg": 2}',
            'BENCH_ROW {"group": "g", "row": "tp", "mode": "peer", "sampling": "full", "value": 1000, "unit": "msg/s", "cpu_us_per_msg": 1}',
            'BENCH_CMD_END {"id": 1, "status": 0, "seconds": 1, "load_after": "0 0 0"}',
        ]
        table = bench_table.render(bench_table.parse(lines))
        # a quarter of the peer's time is 4x faster; 80 ns bare against our 100 ns is 80 % of bare
        self.assertIn("| op | 100 ns | 400 ns | – | 80.0 ns (bare) | 4.00× | 80% of bare | – | [1] |", table)
        # half the peer's msg/s is slower: bold
        self.assertIn("| tp, full sampling | 500 msg/s | 1.0k msg/s | – | – | **0.50×** | – | kt 2.0 · peer 1.0 | [1] |", table)
        self.assertNotIn("Warnings", table)

    def test_write_docs_replaces_only_the_marked_block(self):
        doc = "# Benchmarks\n\nintro\n<!-- bench-all:begin -->\nold table\n<!-- bench-all:end -->\n\nrest\n"
        self.assertEqual(bench_table.replace_block(doc, "| new |\n"),
                         "# Benchmarks\n\nintro\n<!-- bench-all:begin -->\n| new |\n<!-- bench-all:end -->\n\nrest\n")
        with self.assertRaises(ValueError):
            bench_table.replace_block("no markers\n", "x")

    def test_main_writes_out_file_and_docs(self):
        with tempfile.TemporaryDirectory() as d:
            log, out, docs = (os.path.join(d, n) for n in ("log.txt", "out.md", "BENCHMARKS.md"))
            with open(log, "w", encoding="utf-8") as f:
                f.write(fixture("bench-all.log"))
            with open(docs, "w", encoding="utf-8") as f:
                f.write("top\n<!-- bench-all:begin -->\n<!-- bench-all:end -->\nbottom\n")
            with open(os.devnull, "w") as null:
                stdout, sys.stdout = sys.stdout, null
                try:
                    self.assertEqual(bench_table.main([log, "--out", out, "--write-docs", docs]), 0)
                finally:
                    sys.stdout = stdout
            expected = fixture("bench-all.md")
            with open(out, encoding="utf-8") as f:
                self.assertEqual(f.read(), expected)
            with open(docs, encoding="utf-8") as f:
                self.assertEqual(f.read(), "top\n<!-- bench-all:begin -->\n" + expected + "<!-- bench-all:end -->\nbottom\n")


if __name__ == "__main__":
    unittest.main()
