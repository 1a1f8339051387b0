"""The stubs are checked: stubtest against the built native module, mypy --strict on a typed
usage file, and mypy must reject a wrong use (so the check can fail)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=HERE, timeout=300)


def test_stubtest_native_module() -> None:
    r = run("mypy.stubtest", "kafka_trace._native")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_on_typed_usage() -> None:
    r = run("mypy", "--strict", "--no-incremental", "--ignore-missing-imports", "typed_usage.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_rejects_wrong_use(tmp_path: Path) -> None:
    bad = tmp_path / "bad_usage.py"
    bad.write_text(
        "import kafka_trace\n"
        "x: int = kafka_trace.extract_parts([]).traceparent.trace_id\n"
        "kafka_trace.KafkaTracing(strategy=1)\n"
    )
    r = run("mypy", "--strict", "--no-incremental", "--ignore-missing-imports", str(bad))
    assert r.returncode != 0
    assert "TraceParentInfo | None" in r.stdout and '"strategy"' in r.stdout, r.stdout
