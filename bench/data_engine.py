"""Benchmark of the data engine's Spark jobs: rows per second per job at three demo scales, how time grows with
size, the driver's peak memory per scale, and an incremental update against a full rebuild.

Usage: ``python bench/data_engine.py [--quick] [--format parquet|csv] [--scales S ...] [--jobs JOB ...]``

Scales 1, 4 and 16 (``--quick``: 0.05, 0.2 and 0.8, the same ratios). The scales run one after the other in
this process, with one local Spark (``local[*]``), after an untimed warm-up run at scale 0.01 (Spark compiles
its generated code once per process; timing that would make the small scales look slow); ``--isolated`` runs
each scale in a fresh process instead, warm-up included. Per scale the demo data set is generated (by
``pq demo-data``, in its own process, so that the generator's memory is not the driver's), then timed one
after the other:

- ``ingest``: every table (CSV or Parquet source) into a typed table artifact, without the profile;
- ``statistics``: the profile of every table (column statistics, semantic types, key and time proposals);
- ``materialize``: node indexes, the graph and the features of the whole schema;
- ``training_table``: the training table of a churn query (``COUNT(orders.*, 0, 30, days) = 0`` per customer);
- ``append_ingest`` / ``append_materialize``: about 1 % more orders (a new source file) ingested with
  ``previous=`` and materialized from the previous result; the ``materialize`` job above is the full build to
  compare with (of the tables before the append: 1 % fewer orders).

``driver_peak_mb`` is the peak resident memory of the Python driver process during the scale's jobs (sampled
every 0.1 s; ``ru_maxrss`` of the process with ``--isolated``); the driver never collects a table, so it should
stay flat as data grows. ``jvm_peak_mb`` is the sampled peak of Spark's JVM (local mode: driver and executors in
one JVM, bounded by its heap setting). ``growth_exponent`` is the slope of
log seconds over log rows per job (1 is linear; the goal is <= 1.1). Rows per second count the rows of the
tables each job reads (the training table: customers and orders). ``--jobs`` times only some jobs (``ingest``
always runs, the others read its tables; ``append`` needs ``materialize``); the JSON then lists only those.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the path and its name would hide the data_engine package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

QUICK_SCALES = (0.05, 0.2, 0.8)
FULL_SCALES = (1.0, 4.0, 16.0)
APPEND_FRACTION = 0.01
WARM_UP_SCALE = 0.01
NEW_ID_OFFSET = 10 ** 12  # past every demo order id, so the appended orders are new nodes
JOBS = ("ingest", "statistics", "materialize", "training_table")
CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id"


def growth_exponent(rows: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) over log(rows)."""
    xs = [math.log(r) for r in rows]
    ys = [math.log(max(s, 1e-6)) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


class _Peaks:
    """Samples the resident memory of this process and of its children (Spark's JVM) in a thread."""

    def __init__(self, every_s: float = 0.1) -> None:
        import psutil

        self._me, self._every = psutil.Process(), every_s
        self.driver = self.jvm = 0
        self.job = ""  # the job running now; its driver peak goes to by_job
        self.by_job: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for child in self._me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.jvm = max(self.jvm, total)
            rss = self._me.memory_info().rss
            self.driver = max(self.driver, rss)
            if self.job:
                self.by_job[self.job] = max(self.by_job.get(self.job, 0), rss)
            self._stop.wait(self._every)

    def stop(self) -> tuple[int, int]:
        self._stop.set()
        self._thread.join()
        return self.driver, self.jvm


def _one_scale(scale: float, fmt: str, work: Path, jobs: tuple[str, ...] = (*JOBS, "append")) -> dict:
    """Run the jobs (``ingest`` always) at one scale in this process; the measurements as a dict."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    import pql
    from data_engine.ingest import ingest_table, profile_table
    from data_engine.materialize import materialize_graph
    from data_engine.spark_session import get_spark
    from data_engine.training_table import build_training_table
    from platform_core.object_store import ObjectStore
    from platform_core.settings import load_settings

    settings = load_settings(home=work / "home", spark_master="local[*]")
    store = ObjectStore.from_settings(settings)
    raw = work / "raw"
    subprocess.run([str(Path(sys.executable).with_name("pq")), "demo-data", "--scale", str(scale), "--format", fmt,
                    "--out", str(raw), "--seed", "0"], check=True, capture_output=True)
    schema = json.loads((raw / "schema.json").read_text())
    tables = list(schema["tables"])
    # One folder per table, so that an appended file is a new file of the same source.
    sources = {}
    for name in tables:
        sources[name] = work / "sources" / name
        sources[name].mkdir(parents=True)
        (raw / f"{name}.{fmt}").rename(sources[name] / f"part-1.{fmt}")
    rows = {name: pq.ParquetFile(sources[name] / f"part-1.{fmt}").metadata.num_rows if fmt == "parquet"
            else sum(b.num_rows for b in pcsv.open_csv(sources[name] / f"part-1.{fmt}")) for name in tables}
    spark = get_spark(settings)
    spark.range(1).count()  # the JVM's start-up is not any job's time
    peaks = _Peaks()
    seconds: dict[str, float] = {}

    def timed(job: str, fn):
        peaks.job = job
        started = time.perf_counter()
        out = fn()
        seconds[job] = round(time.perf_counter() - started, 3)
        peaks.job = ""
        return out

    ingested = timed("ingest", lambda: {n: ingest_table(str(sources[n]), n, settings=settings, store=store,
                                                        spark=spark, profile=False) for n in tables})
    uris = {n: r.uri for n, r in ingested.items()}
    if "statistics" in jobs:
        timed("statistics", lambda: [profile_table(uris[n], output=store.uri("profiles", n), settings=settings,
                                                   store=store, spark=spark) for n in tables])
    if "materialize" in jobs:
        first = timed("materialize", lambda: materialize_graph(schema, uris, "graphs/v1", settings=settings,
                                                               store=store, spark=spark))
    training = None
    if "training_table" in jobs:
        plan = pql.compile(CHURN, pql.GraphSchema.from_dict(schema), seed=0).plan
        training = timed("training_table", lambda: build_training_table(plan, uris, store.uri("training", "churn"),
                                                                        settings=settings, store=store, spark=spark))
    total = sum(rows.values())
    job_rows = {"ingest": total, "statistics": total, "materialize": total,
                "training_table": rows["customers"] + rows["orders"]}
    run = {"scale": scale, "rows": rows, "total_rows": total, "seconds": seconds, "job_rows": job_rows,
           "training_examples": getattr(training, "rows", None), "append": None}
    if "append" in jobs and "materialize" in jobs:
        run["append"] = _append(schema, fmt, rows, sources, uris, first, timed, settings, store, spark)
    driver_peak, jvm_peak = peaks.stop()
    run.update({
        "driver_peak_mb": round(driver_peak / 2 ** 20, 1),
        "driver_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "jvm_peak_mb": round(jvm_peak / 2 ** 20, 1),
        "driver_peak_mb_by_job": {job: round(v / 2 ** 20, 1) for job, v in peaks.by_job.items()},
    })
    return run


def _append(schema, fmt, rows, sources, uris, first, timed, settings, store, spark) -> dict:
    """Append about 1 % more orders, ingest them with ``previous=`` and materialize from ``first``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from data_engine.ingest import ingest_table
    from data_engine.materialize import materialize_graph

    # The first orders again under new ids, read batch by batch (the bench's driver holds no whole table either).
    wanted = max(1, int(rows["orders"] * APPEND_FRACTION))
    first_file = sources["orders"] / f"part-1.{fmt}"
    batches = (pq.ParquetFile(first_file).iter_batches(batch_size=wanted) if fmt == "parquet"
               else pcsv.open_csv(first_file))
    extra = pa.Table.from_batches([next(iter(batches))]).slice(0, wanted)
    extra = extra.set_column(extra.schema.get_field_index("order_id"), "order_id",
                             pc.add(extra["order_id"], NEW_ID_OFFSET))
    if fmt == "parquet":
        pq.write_table(extra, sources["orders"] / "part-2.parquet")
    else:
        pcsv.write_csv(extra, sources["orders"] / "part-2.csv")
    appended = timed("append_ingest", lambda: ingest_table(str(sources["orders"]), "orders", settings=settings,
                                                           store=store, spark=spark, profile=False,
                                                           previous=uris["orders"]))
    later = {**uris, "orders": appended.uri}
    update = timed("append_materialize", lambda: materialize_graph(schema, later, "graphs/v2", settings=settings,
                                                                   store=store, spark=spark, previous=first))
    return {"rows": extra.num_rows, "mode": update.mode, "fallback": update.fallback,
            "appended_to": appended.appended_to, "work": update.work, "full_work": first.work}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"scales {QUICK_SCALES} instead of {FULL_SCALES}")
    parser.add_argument("--format", default="parquet", choices=("parquet", "csv"), help="source file format")
    parser.add_argument("--scales", type=float, nargs="+", default=None, help="demo scales to run instead")
    parser.add_argument("--isolated", action="store_true", help="each scale in a fresh process (with its warm-up)")
    parser.add_argument("--jobs", nargs="+", default=[*JOBS[1:], "append"], choices=[*JOBS, "append"],
                        help="jobs to time (ingest always runs; append needs materialize); default: all")
    parser.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)  # a child run: one scale
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    jobs = tuple(dict.fromkeys(["ingest", *args.jobs]))
    if args.one is not None:
        _one_scale(WARM_UP_SCALE, args.format, args.work / "warm-up", jobs)
        run = _one_scale(args.one, args.format, args.work / "timed", jobs)
        run["driver_peak_mb"] = run["driver_maxrss_mb"]
        print(json.dumps(run))
        return
    scales = tuple(args.scales or (QUICK_SCALES if args.quick else FULL_SCALES))
    timed_jobs = tuple(j for j in JOBS if j in jobs)
    runs = []
    with tempfile.TemporaryDirectory(prefix="pq-data-engine-bench-") as tmp:
        if not args.isolated:
            _one_scale(WARM_UP_SCALE, args.format, Path(tmp) / "warm-up", jobs)
        for scale in scales:
            work = Path(tmp) / f"scale-{scale:g}"
            work.mkdir()
            if args.isolated:
                done = subprocess.run([sys.executable, __file__, "--one", str(scale), "--format", args.format,
                                       "--work", str(work), "--jobs", *jobs], check=True, capture_output=True,
                                      text=True,
                                      env={**os.environ, "PYSPARK_PYTHON": sys.executable})
                run = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                run = _one_scale(scale, args.format, work, jobs)
            runs.append(run)
            rates = ", ".join(f"{job} {run['job_rows'][job] / run['seconds'][job]:,.0f}" for job in timed_jobs)
            append = (f"; append of {run['append']['rows']} orders {run['seconds']['append_materialize']:.1f} s vs "
                      f"full build {run['seconds']['materialize']:.1f} s" if run["append"] else "")
            print(f"scale {scale:g}: {run['total_rows']:,} rows; rows/s {rates}{append}; "
                  f"driver {run['driver_peak_mb']} MB", flush=True)
    every = (*timed_jobs, *(("append_ingest", "append_materialize") if runs[0]["append"] else ()))
    seconds = {job: [r["seconds"][job] for r in runs] for job in every}
    exponents = {job: round(growth_exponent([r["job_rows"][job] for r in runs], seconds[job]), 3)
                 for job in timed_jobs}
    exponents["all_jobs"] = round(growth_exponent([r["total_rows"] for r in runs],
                                                  [sum(r["seconds"][j] for j in timed_jobs) for r in runs]), 3)
    summary = {
        "bench": "data_engine", "format": args.format, "scales": list(scales), "jobs": list(every),
        "rows": [r["total_rows"] for r in runs],
        "seconds": seconds,
        "rows_per_second": {job: [round(r["job_rows"][job] / max(r["seconds"][job], 1e-6)) for r in runs]
                            for job in timed_jobs},
        "growth_exponent": exponents,
        "driver_peak_mb": [r["driver_peak_mb"] for r in runs],
        "jvm_peak_mb": [r["jvm_peak_mb"] for r in runs],
        "driver_peak_mb_by_job": {job: [r["driver_peak_mb_by_job"].get(job) for r in runs]
                                  for job in every},
    }
    if runs[0]["append"]:
        summary["incremental"] = {
            "appended_rows": [r["append"]["rows"] for r in runs],
            "mode": [r["append"]["mode"] for r in runs],
            "append_ingest_s": seconds["append_ingest"],
            "append_materialize_s": seconds["append_materialize"],
            "full_build_s": seconds["materialize"],
            "speedup": [round(f / max(a, 1e-6), 2) for f, a in zip(seconds["materialize"], seconds["append_materialize"])],
            "rows_read": [r["append"]["work"]["rows_read"] for r in runs],
            "full_build_rows_read": [r["append"]["full_work"]["rows_read"] for r in runs],
            "edges_built": [r["append"]["work"]["edges_built"] for r in runs],
            "full_build_edges_built": [r["append"]["full_work"]["edges_built"] for r in runs],
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
