"""Benchmark of the demo data generator: rows per second at a few scales, and how time grows with size.

Usage: ``python bench/demo_data.py [--quick] [--format parquet|csv] [--seed S]``

Prints one line per scale, then one JSON line with ``scales``, ``seconds``, ``rows``, ``growth_exponent`` (slope
of log seconds over log rows: 1 is linear) and ``ratio`` (rows/s at the largest scale over rows/s at the
smallest). Each scale is written to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

# bench/data_engine.py would shadow the data_engine package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from data_engine.demo_data import generate  # noqa: E402

QUICK_SCALES = (0.1, 0.2, 0.4)
FULL_SCALES = (1.0, 2.0, 4.0)


def growth_exponent(rows: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) over log(rows)."""
    xs = [math.log(r) for r in rows]
    ys = [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def run(scales: tuple[float, ...], fmt: str, seed: int) -> dict:
    """Generate every scale once (after one small warm-up run) and return the summary."""
    seconds: list[float] = []
    rows: list[int] = []
    with tempfile.TemporaryDirectory(prefix="pq-demo-bench-") as tmp:
        generate(str(Path(tmp) / "warm-up"), scale=0.02, seed=seed, fmt=fmt)  # imports, caches
        for scale in scales:
            out = Path(tmp) / f"scale-{scale:g}"
            started = time.perf_counter()
            report = generate(str(out), scale=scale, seed=seed, fmt=fmt)
            elapsed = time.perf_counter() - started
            seconds.append(round(elapsed, 4))
            rows.append(report.total_rows)
            print(f"scale {scale:g}: {report.total_rows:,} rows ({report.rows['orders']:,} orders) in "
                  f"{elapsed:.2f} s = {report.total_rows / elapsed:,.0f} rows/s", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    rate_first, rate_last = rows[0] / seconds[0], rows[-1] / seconds[-1]
    return {"scales": list(scales), "seconds": seconds, "rows": rows,
            "growth_exponent": round(growth_exponent(rows, seconds), 4), "ratio": round(rate_last / rate_first, 4),
            "format": fmt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"scales {QUICK_SCALES} instead of {FULL_SCALES}")
    parser.add_argument("--format", default="parquet", choices=("parquet", "csv"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summary = run(QUICK_SCALES if args.quick else FULL_SCALES, args.format, args.seed)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
