"""The one SparkSession of a process, built from the settings.

``PQ_SPARK_MASTER`` picks the backend:

- ``local[*]`` (the embedded default): Spark runs inside this process's JVM with the UI off, few shuffle
  partitions (the data of one platform run is small next to what Spark's defaults assume), adaptive query
  execution on and quiet logs;
- ``spark://...``, ``yarn``, ``k8s://...``: a cluster master; the same configuration is sent along;
- ``sc://host:port``: a Spark Connect server (``SparkSession.builder.remote``), which needs PySpark's
  ``connect`` extra (grpcio, googleapis-common-protos, zstandard) in the client's environment.

Every session computes in UTC and writes Parquet timestamps as UTC microseconds. Starting a JVM takes about
ten seconds, so the session is created once per process (:func:`get_spark`) and shared by every job.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import TYPE_CHECKING

from platform_core.errors import UserFacingError

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession

    from platform_core.settings import Settings

APP_NAME = "predictive-query"

_lock = threading.Lock()
_session: "SparkSession | None" = None
_session_master: str | None = None


class SparkUnavailableError(UserFacingError, RuntimeError):
    """Spark cannot start or the configured master cannot be reached."""


def spark_conf(settings: "Settings") -> dict[str, str]:
    """The Spark configuration every session of the platform gets.

    Args:
        settings: the platform settings (``spark_master``, ``spark_driver_memory``).

    Returns:
        Configuration keys and values; local masters get small-data tuning on top.
    """
    conf = {
        "spark.app.name": APP_NAME,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        # Readers downstream (pyarrow, the graph engine) expect int64 microseconds, not legacy INT96.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
        # Nanosecond timestamps (pandas' default) are otherwise unreadable; ingestion converts them.
        "spark.sql.legacy.parquet.nanosAsLong": "true",
        # Artifacts list their own files; Spark's marker files would only be clutter.
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.hadoop.parquet.summary.metadata.level": "NONE",
        "spark.ui.showConsoleProgress": "false",
    }
    if settings.spark_master.startswith("local"):
        conf.update({
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": str(max(4, 2 * (os.cpu_count() or 1))),
            "spark.default.parallelism": str(max(2, os.cpu_count() or 1)),
            "spark.driver.memory": settings.spark_driver_memory,
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
        })
    return conf


def get_spark(settings: "Settings | None" = None) -> "SparkSession":
    """The SparkSession of this process, started on first use with the settings' master.

    Args:
        settings: the platform settings; :func:`platform_core.settings.load_settings` when omitted.

    Returns:
        The shared session. Later calls return the same session whatever settings they pass, unless
        :func:`stop_spark` was called in between.

    Raises:
        SparkUnavailableError: Spark cannot start (no Java) or a Spark Connect client is not installed.
    """
    global _session, _session_master
    with _lock:
        if _session is not None and not _is_stopped(_session):
            return _session
        if settings is None:
            from platform_core.settings import load_settings

            settings = load_settings()
        _session = _build(settings)
        _session_master = settings.spark_master
        return _session


def active_master() -> str | None:
    """The master of the running shared session, or None when none is running."""
    return _session_master if _session is not None else None


def stop_spark() -> None:
    """Stop the shared session (tests, process shutdown); the next :func:`get_spark` starts a new one."""
    global _session, _session_master
    with _lock:
        if _session is not None:
            _session.stop()
        _session = None
        _session_master = None


def _is_stopped(session: "SparkSession") -> bool:
    try:
        jsc = getattr(session, "_jsc", None)
        return jsc is not None and jsc.sc().isStopped()
    except Exception:  # a dead JVM gateway counts as stopped
        return True


def _build(settings: "Settings") -> "SparkSession":
    # PySpark 4 warns about pandas 3 on import although the platform never converts through pandas there.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    master = settings.spark_master
    conf = spark_conf(settings)
    if master.startswith("sc://"):
        try:
            import grpc  # noqa: F401  (Spark Connect's transport)
        except ImportError:
            raise SparkUnavailableError(
                f"PQ_SPARK_MASTER={master} is a Spark Connect URL, but the Spark Connect client is not "
                "installed (pip install 'pyspark[connect]')"
            ) from None
        builder = SparkSession.builder.remote(master)
        # Static and JVM options belong to the server; only SQL options travel with a Connect session.
        conf = {k: v for k, v in conf.items() if k.startswith("spark.sql.")}
    else:
        # Executors run this interpreter too, so Python UDFs (if any job ever needs one) find the platform.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if master.startswith("local"):
            # Binds the embedded driver to loopback (and spares the "hostname resolves to" warning).
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing, port trouble, unreachable master: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailableError(f"Spark ({master}) could not start: {first}") from exc
    if not master.startswith("sc://"):
        session.sparkContext.setLogLevel("ERROR")
    return session


def col(name: str) -> "Column":
    """A column reference that survives dots, spaces and backticks in the name."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")
