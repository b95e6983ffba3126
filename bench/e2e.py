"""The main job end to end, timed per stage: stack up, demo data, register, train both queries, predict.

Runs what ``make main`` runs, on a fresh home with free ports, and stops the stack afterwards. The goal
(issue 7) is the whole job under 10 minutes on a 2-core machine at demo scale 1; the JSON reports each
stage's seconds, the total and its ratio to that goal, and the holdout metrics beside the baselines.

    python bench/e2e.py [--quick] [--scale S] [--keep HOME]

``--quick`` uses demo scale 0.1. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/data_engine.py would shadow the data_engine package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

GOAL_S = 600.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pq(*args: str, env: dict[str, str]) -> None:
    pq = Path(sys.executable).with_name("pq")
    subprocess.run([str(pq), *args], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo scale 0.1")
    parser.add_argument("--scale", type=float, default=None, help="demo scale (default 1, or 0.1 with --quick)")
    parser.add_argument("--keep", type=Path, default=None, help="use (and keep) this home instead of a temp one")
    args = parser.parse_args()
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)

    from control_plane.auth import create_project_key
    from control_plane.client import PQClient
    from control_plane.quickstart import PROJECT, run_quickstart
    from platform_core.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="pq-e2e-") as tmp:
        home = args.keep or Path(tmp) / "home"
        temporal_port = _free_port()
        env = {**os.environ, "PQ_HOME": str(home), "PQ_API_PORT": str(_free_port()),
               "PQ_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "PQ_TEMPORAL_UI_PORT": str(_free_port())}
        seconds: dict[str, float] = {}
        start = time.monotonic()
        _pq("up", env=env)
        seconds["up"] = time.monotonic() - start
        try:
            mark = time.monotonic()
            _pq("demo-data", "--scale", str(scale), "--format", "csv", "--out", str(home / "demo"), env=env)
            seconds["demo_data"] = time.monotonic() - mark
            os.environ.update({k: v for k, v in env.items() if k.startswith("PQ_")})
            settings = load_settings()
            _, _, key = create_project_key(settings, PROJECT, name="bench e2e")
            with PQClient(settings.api_url, key, timeout=120) as api:
                report = run_quickstart(api, home / "demo", on_event=lambda line: print(line, flush=True))
            seconds.update(report.seconds)
            seconds.pop("total")
            seconds["total"] = time.monotonic() - start
        finally:
            _pq("down", env=env)
    metrics = {o.name: {row["metric"]: {"gnn": row.get("model"), "baseline": row.get("baseline")}
                        for row in o.comparison} for o in report.queries}
    print(json.dumps({"bench": "e2e", "scale": scale, "seconds": {k: round(v, 1) for k, v in seconds.items()},
                      "goal_s": GOAL_S, "total_to_goal": round(seconds["total"] / GOAL_S, 3),
                      "metrics": metrics, "predicted_rows": {o.name: o.predicted_rows for o in report.queries}}))


if __name__ == "__main__":
    main()
