"""Activity names, timeouts and retry policies of the job workflows, and content-addressed artifact keys.

Workflows refer to activities by name (so the workflow sandbox never imports the engines); the
implementations in :mod:`control_plane.activities` register under the same names.

Retries back off exponentially; an activity raises ``ApplicationError(non_retryable=True)`` for a user's
mistake, which stops retrying at once. Long activities heartbeat every few seconds, so a worker that dies is
noticed within :data:`HEARTBEAT_TIMEOUT` and the activity is retried elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# ---- activity names ------------------------------------------------------------------------------------
COMPILE_QUERY = "pq.control.compile_query"
RECORD_JOB = "pq.control.record_job"
RECORD_TRIAL = "pq.control.record_trial"
AWAIT_WORKFLOW = "pq.control.await_workflow"
INGEST_TABLE = "pq.data.ingest_table"
MATERIALIZE_GRAPH = "pq.data.materialize_graph"
BUILD_TRAINING_TABLE = "pq.data.build_training_table"
BUILD_PREDICTION_TABLE = "pq.data.build_prediction_table"
START_STORES = "pq.graph.start_stores"
RELEASE_STORES = "pq.graph.release_stores"
RUN_TRIAL = "pq.compute.run_trial"
ASK_TRIALS = "pq.compute.ask_trials"
TELL_TRIALS = "pq.compute.tell_trials"
SELECT_MODEL = "pq.compute.select_model"
RUN_PREDICT = "pq.compute.run_predict"

# ---- timeouts and retries ------------------------------------------------------------------------------
#: A long activity that has not heartbeated for this long is considered lost and retried.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
#: How often long activities heartbeat (also how soon they notice a cancellation).
HEARTBEAT_EVERY_S = 1.0
#: The longest a data or graph step may run (Spark on a big table).
DATA_STEP_TIMEOUT = timedelta(hours=6)
#: The longest one trainer job may run.
TRIAL_TIMEOUT = timedelta(hours=24)
#: Bookkeeping (compile, metadata DB writes).
QUICK_TIMEOUT = timedelta(minutes=2)

#: Engine steps: a transient failure (a lost worker, an unreachable store) is retried with backoff.
ENGINE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=2), maximum_attempts=5)
#: Bookkeeping: quick and cheap, retried a little longer.
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                          maximum_interval=timedelta(seconds=30), maximum_attempts=10)
#: Trainer jobs: a crashed trainer gets one more try (a trial is expensive).
TRIAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                          maximum_interval=timedelta(minutes=1), maximum_attempts=2)


def content_key(*parts: Any, length: int = 24) -> str:
    """A short hash of JSON-able values: the content address of an artifact made from them."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def ingest_key(source: Any) -> str:
    """The key of a table's ingestion: its name, source and options."""
    return content_key("ingest", source.name, source.source_uri, source.options)


def graph_key(schema: dict[str, Any], table_hashes: dict[str, str]) -> str:
    """The key of a materialized graph: its schema and the content hashes of its tables."""
    return content_key("graph", schema, table_hashes)
