"""Job launchers: run a job spec as a local process or a Kubernetes Job, behind one interface.

Public interface::

    from compute_engine.launchers import make_launcher
    launcher = make_launcher(settings)                  # settings.job_launcher: local | kubernetes
    handle = launcher.submit(spec_uri, name="trial-3", labels={"pq/pquery": "churn"})
    launcher.status(handle).state                       # pending | running | succeeded | failed | cancelled
    launcher.logs(handle, tail=50)
    launcher.cancel(handle)
    launcher.wait(handle, timeout=600)

See :mod:`.base` for the interface, :mod:`.local` and :mod:`.kubernetes` for the backends.
"""

from __future__ import annotations

from typing import Any

from compute_engine.launchers.base import (
    TERMINAL_STATES,
    JobExistsError,
    JobHandle,
    JobLauncher,
    JobNotFoundError,
    JobState,
    JobStatus,
    JobWaitTimeout,
    LauncherError,
    check_job_name,
)
from compute_engine.launchers.kubernetes import KubernetesJobLauncher
from compute_engine.launchers.local import LocalProcessLauncher, trainer_command
from platform_core.object_store import ObjectStore
from platform_core.settings import JobLauncher as LauncherKind
from platform_core.settings import Settings

__all__ = ["make_launcher", "JobLauncher", "LocalProcessLauncher", "KubernetesJobLauncher", "JobHandle", "JobStatus",
           "JobState", "TERMINAL_STATES", "LauncherError", "JobNotFoundError", "JobExistsError", "JobWaitTimeout",
           "check_job_name", "trainer_command"]


def make_launcher(settings: Settings, store: ObjectStore | None = None, **options: Any) -> JobLauncher:
    """The launcher ``settings.job_launcher`` names.

    Args:
        settings: the platform settings.
        store: the object store specs are read from (default: the settings' store).
        options: keyword arguments of the backend's constructor (``max_concurrent`` for local; ``image``,
            ``namespace``... for Kubernetes).

    Returns:
        A :class:`LocalProcessLauncher` or a :class:`KubernetesJobLauncher`.
    """
    if LauncherKind(settings.job_launcher) is LauncherKind.kubernetes:
        defaults = {"image": settings.job_image, "namespace": settings.job_namespace,
                    "service_account": settings.job_service_account, "s3_secret_name": settings.job_s3_secret,
                    "ttl_seconds_after_finished": settings.job_ttl_seconds}
        return KubernetesJobLauncher(settings, store, **{**defaults, **options})
    return LocalProcessLauncher(settings, store, **{"max_concurrent": settings.job_max_concurrent, **options})
