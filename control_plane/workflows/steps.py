"""Steps that several job workflows share: ingest every table, materialize the graph, bring the stores up
and release them. Workflow code: each step is an activity or a shared-artifact child workflow, and reports
its state to the job's :class:`~control_plane.workflows.progress.Progress`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

from control_plane.workflows.artifacts import build_shared
from control_plane.workflows.errors import failure_message, failure_type, is_cancellation
from control_plane.workflows.messages import (
    CANCELLED,
    FAILED,
    ArtifactRequest,
    IngestOutcome,
    IngestRequest,
    MaterializeOutcome,
    MaterializeRequest,
    StoresOutcome,
    StoresRequest,
    TableSource,
)
from control_plane.workflows.policies import (
    DATA_STEP_TIMEOUT,
    ENGINE_RETRY,
    HEARTBEAT_TIMEOUT,
    QUICK_RETRY,
    QUICK_TIMEOUT,
    RELEASE_STORES,
    START_STORES,
    graph_key,
    ingest_key,
)
from control_plane.workflows.progress import Progress
from control_plane.workflows.task_queues import GRAPH

MATERIALIZE_STEP = "materialize_links"
STORES_STEP = "stores"


def ingest_step(table: str) -> str:
    """The progress step of a table's ingestion (as the plan names it)."""
    return f"ingest:{table}"


def check_tables(schema: dict[str, Any], tables: list[TableSource]) -> None:
    """Every schema table has exactly one source.

    Raises:
        ValueError: a schema table without a source, a source for no schema table, or one given twice.
    """
    names = [t.name for t in tables]
    expected = list(schema.get("tables", {}))
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    twice = sorted({n for n in names if names.count(n) > 1})
    if missing or extra or twice:
        parts = ([f"no source for table(s) {', '.join(missing)}"] if missing else []) + \
                ([f"source(s) for unknown table(s) {', '.join(extra)}"] if extra else []) + \
                ([f"table(s) {', '.join(twice)} given twice"] if twice else [])
        raise ValueError("; ".join(parts))


async def ingest_tables(progress: Progress, tables: list[TableSource]) -> dict[str, IngestOutcome]:
    """Ingest every table at once, each through its shared-artifact build.

    Returns:
        table -> its table artifact.
    """
    async def one(source: TableSource) -> IngestOutcome:
        step = ingest_step(source.name)
        await progress.start(step)
        result, elsewhere = await build_shared(ArtifactRequest(key=ingest_key(source),
                                                               ingest=IngestRequest(table=source)))
        outcome = result.ingest
        assert outcome is not None
        reused = outcome.reused or elsewhere
        outcome.reused = reused
        detail = (f"{outcome.rows} rows, {outcome.rejected_rows} rejected"
                  + (f"; {outcome.appended_rows} new rows appended" if outcome.appended_rows is not None else "")
                  + ("; built by another job" if elsewhere else "; artifact found" if reused else ""))
        await progress.finish(step, reused=reused, detail=detail)
        return outcome

    outcomes = {o.table: o for o in await gather_or_cancel([one(source) for source in tables])}
    await progress.record(tables={name: o.uri for name, o in outcomes.items()})
    return outcomes


async def gather_or_cancel(calls: list) -> list:
    """Await every call at once; when one fails, cancel the others (and wait for them) before raising."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def materialize(progress: Progress, schema: dict[str, Any], ingested: dict[str, IngestOutcome]
                      ) -> MaterializeOutcome:
    """Materialize the graph and features of ``schema`` (shared by every job on the same tables)."""
    await progress.start(MATERIALIZE_STEP)
    key = graph_key(schema, {name: o.content_hash for name, o in sorted(ingested.items())})
    request = MaterializeRequest(schema=schema, table_uris={n: o.uri for n, o in ingested.items()},
                                 output_uri=f"graphs/{key}")
    result, elsewhere = await build_shared(ArtifactRequest(key=f"graph-{key}", materialize=request))
    outcome = result.materialize
    assert outcome is not None
    outcome.reused = outcome.reused or elsewhere
    nodes = sum(outcome.num_nodes.values())
    edges = sum(outcome.num_edges.values())
    await progress.finish(MATERIALIZE_STEP, reused=outcome.reused,
                          detail=f"{nodes} nodes, {edges} edges"
                          + (f"; updated incrementally ({outcome.work.get('nodes_encoded', 0)} nodes encoded)"
                             if outcome.mode == "incremental" and not outcome.reused else "")
                          + ("; built by another job" if elsewhere else "; artifact found" if outcome.reused else ""))
    return outcome


async def start_stores(progress: Progress, graph: MaterializeOutcome, holder: str) -> StoresOutcome:
    """Bring up the graph and feature stores of ``graph`` for ``holder`` (kept running while anyone holds them)."""
    await progress.start(STORES_STEP)
    outcome = await workflow.execute_activity(
        START_STORES, StoresRequest(graph=graph, holder=holder), task_queue=GRAPH, result_type=StoresOutcome,
        start_to_close_timeout=DATA_STEP_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=ENGINE_RETRY,
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
    await progress.finish(STORES_STEP, reused=outcome.reused,
                          detail=f"graph store {outcome.graph_store_address}, "
                                 f"feature store {outcome.feature_store_address}")
    return outcome


async def release_stores(graph: MaterializeOutcome, holder: str) -> None:
    """Let go of the stores; the last holder stops them."""
    await workflow.execute_activity(
        RELEASE_STORES, StoresRequest(graph=graph, holder=holder), task_queue=GRAPH,
        start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY)


T = TypeVar("T")


async def run_job(progress: Progress, job_key: str, body: Callable[[list[MaterializeOutcome]], Awaitable[T]]) -> T:
    """Run a job workflow's steps, release the stores it holds whatever happens, and record how it ended.

    Args:
        progress: the job's progress (its row gets ``failed`` or ``cancelled`` with the message; success is
            the caller's to record, with its results).
        job_key: the job's key (the holder of the stores).
        body: the steps; it appends every graph whose stores it starts to the list it is given.

    Returns:
        What ``body`` returned.

    Raises:
        asyncio.CancelledError: the job was cancelled.
        ApplicationError: the job failed (non-retryable; the message says why).
    """
    held: list[MaterializeOutcome] = []
    try:
        result = await body(held)
    except BaseException as exc:
        cancelled = isinstance(exc, asyncio.CancelledError) or is_cancellation(exc)
        message = "cancelled" if cancelled else failure_message(exc)
        progress.close_open(CANCELLED if cancelled else FAILED, message)
        for graph in held:
            await release_stores(graph, job_key)
        await progress.record(status="cancelled" if cancelled else "failed", error=message, finished=True)
        if cancelled:
            raise asyncio.CancelledError(message) from None
        if not isinstance(exc, Exception):
            raise
        raise ApplicationError(message, type=failure_type(exc), non_retryable=True) from exc
    for graph in held:
        await release_stores(graph, job_key)
    return result
