"""The job launcher interface: submit a job spec, watch it, read its logs, cancel it.

Every backend runs the same entrypoint (``python -m services.trainer --spec URI``) somewhere: a local
process or a Kubernetes Job. The public methods of :class:`JobLauncher` check their arguments and then call
the backend's protected hooks (``_submit``, ``_status``, ``_logs``, ``_cancel``); :meth:`JobLauncher.wait`
polls :meth:`JobLauncher.status` unless a backend overrides ``_wait``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from compute_engine.job_spec import JobSpec, JobSpecError, check_label, read_job_spec
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore

__all__ = ["JobState", "JobStatus", "JobHandle", "JobLauncher", "LauncherError", "JobNotFoundError",
           "JobExistsError", "JobWaitTimeout", "check_job_name", "TERMINAL_STATES"]

#: A job name: a DNS label (Kubernetes object names), so it is also a safe file name.
_JOB_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class LauncherError(UserFacingError, RuntimeError):
    """A job could not be submitted, found, read or cancelled; the message names the job and the backend."""


class JobNotFoundError(LauncherError, LookupError):
    """No job of that name in this launcher's backend."""


class JobExistsError(LauncherError):
    """A job of that name exists already (job names are unique per backend)."""


class JobWaitTimeout(LauncherError, TimeoutError):
    """A job did not finish within the time :meth:`JobLauncher.wait` was given."""


class JobState(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class JobStatus:
    """A job's state as its backend reports it.

    Attributes:
        state: pending, running, succeeded, failed or cancelled.
        exit_code: the entrypoint's exit status once it is known (None while running, or when the backend
            cannot tell, e.g. a process killed by cancel).
        started_at: when the process or pod started (UTC), None while pending.
        finished_at: when it ended (UTC), None until then or when unknown.
        message: a short human-readable reason (the last log line of a failed local job, the Kubernetes
            condition message...).
    """

    state: JobState
    exit_code: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.state.finished


@dataclass(frozen=True)
class JobHandle:
    """What identifies a submitted job; store it (:meth:`to_dict`) to ask about the job later.

    Attributes:
        name: the job's name, unique in its backend.
        backend: ``local`` or ``kubernetes``.
        spec_uri: the job spec it runs.
        job_id: the platform's job id (from the spec).
        namespace: the Kubernetes namespace (Kubernetes only).
        labels: the labels it was submitted with.
    """

    name: str
    backend: str
    spec_uri: str
    job_id: str
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "spec_uri": self.spec_uri, "job_id": self.job_id,
                "namespace": self.namespace, "labels": dict(self.labels)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobHandle:
        return cls(name=raw["name"], backend=raw["backend"], spec_uri=raw["spec_uri"], job_id=raw["job_id"],
                   namespace=raw.get("namespace"), labels=dict(raw.get("labels") or {}))


def check_job_name(name: Any) -> str:
    """Check a job name (a DNS label: at most 63 lower-case letters, digits and '-').

    Raises:
        LauncherError: the name is not a DNS label.
    """
    if not isinstance(name, str) or not _JOB_NAME.match(name):
        raise LauncherError(f"job name {name!r}: expected at most 63 lower-case letters, digits and '-', beginning "
                            "and ending with a letter or digit")
    return name


def _check_labels(labels: Any) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise LauncherError(f"labels: expected a mapping of label to value, got {labels!r}")
    try:
        for key, value in labels.items():
            check_label(key, value, "labels")
    except JobSpecError as exc:
        raise LauncherError(str(exc)) from None
    return dict(labels)


class JobLauncher(ABC):
    """Runs job specs somewhere and reports on them.

    Subclasses implement the protected hooks; the public methods validate their arguments first.
    """

    #: The backend's name, recorded in every :class:`JobHandle`.
    backend: str = ""
    #: How often :meth:`wait` polls.
    poll_interval_s: float = 0.25

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def submit(self, spec_uri: str, *, name: str, labels: dict[str, str] | None = None) -> JobHandle:
        """Start a job for the spec at ``spec_uri``.

        Args:
            spec_uri: the job spec artifact (absolute URI), read here to check it and to size the job.
            name: the job's name, unique in the backend (a DNS label).
            labels: extra labels (Kubernetes label syntax) to attach to the job.

        Returns:
            The job's handle.

        Raises:
            LauncherError: an invalid name or labels, or the backend refused the job.
            JobExistsError: a job of that name exists.
            JobSpecError: no valid job spec at ``spec_uri``.
        """
        name = check_job_name(name)
        labels = _check_labels(labels)
        if not isinstance(spec_uri, str) or not spec_uri.startswith(("file://", "s3://")):
            raise LauncherError(f"spec_uri: expected an absolute file:// or s3:// URI, got {spec_uri!r}")
        spec = self._read_spec(spec_uri)
        return self._submit(spec_uri, spec, name, labels)

    def status(self, handle: JobHandle) -> JobStatus:
        """The job's current state.

        Raises:
            JobNotFoundError: the backend has no such job.
            LauncherError: the handle belongs to another backend, or the backend cannot be reached.
        """
        return self._status(self._check_handle(handle))

    def logs(self, handle: JobHandle, tail: int | None = None) -> str:
        """The job's output (stdout and stderr).

        Args:
            handle: the job.
            tail: only the last ``tail`` lines (all when None).

        Raises:
            JobNotFoundError: the backend has no such job.
            LauncherError: ``tail`` is negative, or the backend cannot be reached.
        """
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise LauncherError(f"tail: expected a whole number of lines >= 0, got {tail!r}")
        return self._logs(self._check_handle(handle), tail)

    def cancel(self, handle: JobHandle) -> JobStatus:
        """Stop the job (nothing happens to a job that has finished).

        Returns:
            The job's status after cancelling.

        Raises:
            JobNotFoundError: the backend has no such job.
        """
        handle = self._check_handle(handle)
        self._cancel(handle)
        return self._status(handle)

    def wait(self, handle: JobHandle, timeout: float | None = None) -> JobStatus:
        """Wait until the job has finished.

        Args:
            handle: the job.
            timeout: the most seconds to wait (None: no limit).

        Returns:
            Its final status.

        Raises:
            JobWaitTimeout: still not finished after ``timeout`` seconds.
            JobNotFoundError: the backend has no such job.
        """
        if timeout is not None and not timeout >= 0:
            raise LauncherError(f"timeout: expected seconds >= 0, got {timeout!r}")
        return self._wait(self._check_handle(handle), timeout)

    # ---- hooks ----------------------------------------------------------------------------------------
    def _read_spec(self, spec_uri: str) -> JobSpec:
        """Read the spec (backends size and label the job from it)."""
        return read_job_spec(self.store, spec_uri)

    @abstractmethod
    def _submit(self, spec_uri: str, spec: JobSpec, name: str, labels: dict[str, str]) -> JobHandle:
        """Start the job; arguments are valid."""

    @abstractmethod
    def _status(self, handle: JobHandle) -> JobStatus:
        """Report the job's state."""

    @abstractmethod
    def _logs(self, handle: JobHandle, tail: int | None) -> str:
        """Return the job's output, the last ``tail`` lines when given."""

    @abstractmethod
    def _cancel(self, handle: JobHandle) -> None:
        """Stop the job if it has not finished."""

    def _wait(self, handle: JobHandle, timeout: float | None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self._status(handle)
            if status.finished:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise JobWaitTimeout(f"job {handle.name} is still {status.state.value} after {timeout:g} s")
            pause = self.poll_interval_s
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)

    def _check_handle(self, handle: JobHandle) -> JobHandle:
        if not isinstance(handle, JobHandle):
            raise LauncherError(f"expected a JobHandle, got {type(handle).__name__}")
        if handle.backend != self.backend:
            raise LauncherError(f"job {handle.name} was submitted to the {handle.backend} launcher, not {self.backend}")
        check_job_name(handle.name)
        return handle
