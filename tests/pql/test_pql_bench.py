"""Smoke test of bench/pql_compile.py: it runs and ends with its one-line JSON summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pql_compile.py"


def test_bench_quick_prints_json_last():
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--runs", "2"], capture_output=True, text=True,
                         check=True, timeout=120)
    last = out.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert {"median_ms", "p99_ms", "queries", "runs", "ratio"} <= set(result)
    assert result["runs"] == 2 and result["queries"] >= 5
    assert result["median_ms"] > 0 and result["ratio"] > 0
