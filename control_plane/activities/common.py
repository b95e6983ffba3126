"""What every activity shares: blocking engine calls off the event loop with heartbeats and cancellation,
and the translation of engine errors into retryable or non-retryable Temporal failures.

A user's mistake (a query that does not compile, a missing source file, options that do not fit the data)
fails the same way however often it is retried, so it becomes ``ApplicationError(non_retryable=True)``
carrying the engine's one-line message. Failures of the environment (Spark not up yet, an unreachable
store, database or store server) stay retryable and are retried with backoff by the workflow's policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from control_plane.workflows.policies import HEARTBEAT_EVERY_S
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectNotFoundError, ObjectStoreError

log = logging.getLogger("control_plane.activities")

T = TypeVar("T")

#: How long a cancelled activity waits for its blocking call to return after stopping it.
CANCEL_WAIT_S = 60.0


def _retryable_user_errors() -> tuple[type[BaseException], ...]:
    """UserFacingError subclasses that describe the environment, not the user's input: worth retrying."""
    from compute_engine.launchers import JobExistsError, LauncherError
    from control_plane.db.session import DatabaseUnreachableError
    from data_engine.spark_session import SparkUnavailableError
    from graph_engine.service.errors import StoreServiceError
    from platform_core.processes import PortInUseError

    del JobExistsError  # a name clash is the launcher's problem too, so it stays retryable with its base
    return (SparkUnavailableError, DatabaseUnreachableError, StoreServiceError, PortInUseError, LauncherError)


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a mistake in the user's input (retrying cannot help)."""
    from pql.errors import PQLError, SchemaError

    if isinstance(exc, (PQLError, SchemaError)):
        return True
    if isinstance(exc, ObjectNotFoundError):
        return True
    if isinstance(exc, ObjectStoreError):
        return False
    return isinstance(exc, UserFacingError) and not isinstance(exc, _retryable_user_errors())


def to_failure(exc: BaseException) -> BaseException:
    """The exception an activity raises for ``exc``: a non-retryable ApplicationError for a user's mistake,
    a retryable one (type and message kept) for other engine errors, ``exc`` itself for anything else."""
    if isinstance(exc, (ApplicationError, asyncio.CancelledError)):
        return exc
    message = str(exc) or type(exc).__name__
    if is_user_error(exc):
        return ApplicationError(message, type=type(exc).__name__, non_retryable=True)
    if isinstance(exc, UserFacingError):
        return ApplicationError(message, type=type(exc).__name__)
    return exc


@contextmanager
def engine_errors() -> Iterator[None]:
    """Raise engine errors as :func:`to_failure` says."""
    try:
        yield
    except BaseException as exc:
        failure = to_failure(exc)
        if failure is exc:
            raise
        raise failure from exc


async def run_blocking(call: Callable[[], T], *, on_cancel: Callable[[], Any] | None = None,
                       details: Callable[[], Any] | None = None, every_s: float = HEARTBEAT_EVERY_S) -> T:
    """Run a blocking engine call in a thread while the activity heartbeats.

    Args:
        call: the work (Spark, a launcher, a store server); it runs in the default thread pool.
        on_cancel: called (in a thread) when the activity is cancelled, to stop the work: cancel the Spark
            job group, stop the trainer process. The cancellation is re-raised once ``call`` has returned.
        details: what each heartbeat carries (None: nothing).
        every_s: seconds between heartbeats.

    Returns:
        What ``call`` returned.

    Raises:
        asyncio.CancelledError: the activity was cancelled.
        ApplicationError: ``call`` raised an engine error (see :func:`to_failure`).
    """
    task = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                break
            activity.heartbeat(*(() if details is None else (details(),)))
    except asyncio.CancelledError:
        if on_cancel is not None:
            try:
                await asyncio.to_thread(on_cancel)
            except Exception:  # stopping is best effort; the cancellation goes on
                log.exception("stopping the cancelled work of %s failed", activity.info().activity_type)
        # The work stops soon after on_cancel; a call that ignores it is left behind rather than waited on.
        await asyncio.wait({task}, timeout=CANCEL_WAIT_S)
        raise
    with engine_errors():
        return task.result()
