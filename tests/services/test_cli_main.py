"""The `pq` entry point's exit: status codes and output survive skipping teardown after a Temporal client ran."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCHEMA = str(Path(__file__).parents[1] / "pql" / "schemas" / "ecommerce.json")
CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"
BAD = "PREDICT SUM(orders.pric, 0, 30) FOR EACH customers.customer_id"

# Starts the Temporal SDK's real native runtime (what connecting a client does), then runs `pq` as its
# console script does.
RUN_PQ = """
import sys
import temporalio.runtime
{start}
sys.argv = ["pq", *sys.argv[1:]]
from services.cli.main import main, _temporal_runtime_started
assert _temporal_runtime_started() == {started}
main()
"""


@pytest.mark.parametrize("started", [True, False])
def test_exit_status_and_output_with_and_without_the_temporal_runtime(started):
    code = RUN_PQ.format(start="temporalio.runtime.Runtime.default()" if started else "", started=started)
    root = str(Path(__file__).parents[2])
    ok = subprocess.run([sys.executable, "-c", code, "pql", "check", "--schema", SCHEMA, "--json", CHURN],
                        capture_output=True, text=True, timeout=120, cwd=root)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["task_type"] == "binary_classification"
    bad = subprocess.run([sys.executable, "-c", code, "pql", "check", "--schema", SCHEMA, "--json", BAD],
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"]["column"] == 13
    missing = subprocess.run([sys.executable, "-c", code, "pql", "check", "--schema", SCHEMA + ".missing", CHURN],
                             capture_output=True, text=True, timeout=120, cwd=root)
    assert missing.returncode != 0 and "missing" in (missing.stdout + missing.stderr)
