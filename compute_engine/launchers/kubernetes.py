"""The Kubernetes launcher: each job is a ``batch/v1`` Job running the trainer entrypoint in one pod.

The Job (see :meth:`KubernetesJobLauncher.manifest`) runs ``python -m services.trainer --spec URI`` in the
platform's image with:

- resources from the spec: CPU and memory requests, a memory limit (no CPU limit: throttling slows data
  loading more than it protects neighbours; the request places the pod), and ``nvidia.com/gpu`` requests
  and limits plus a toleration of the GPU taint when the spec asks for GPUs;
- the spec's node selector;
- the launcher's ``PQ_*`` settings as environment variables, except the metadata database URL (trainers do
  not use it and it may hold a password), the home folder (a per-pod ``emptyDir``), and the S3 credentials,
  which come from a Secret by reference (``valueFrom.secretKeyRef``) and never appear in the manifest;
- ``ttlSecondsAfterFinished`` and ``backoffLimit`` (default 0: a failed trial is reported, not retried);
- owner labels ``app.kubernetes.io/*``, ``pq/job-id``, ``pq/job-kind`` and ``pq/job-name`` on the Job and its
  pod (the launcher finds the pod by ``pq/job-name``), and the spec URI as an annotation.

Cancel marks the Job with the annotation ``pq/cancelled-at`` and suspends it (``spec.suspend``), which makes
Kubernetes delete its running pod; the Job object stays (its status reads "cancelled") until it is deleted
(``kubectl delete jobs -l pq/job-id=<id>``), because a suspended Job never finishes and so is not removed
by its TTL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from compute_engine.job_spec import JobSpec
from compute_engine.launchers.base import (
    JobExistsError,
    JobHandle,
    JobLauncher,
    JobNotFoundError,
    JobState,
    JobStatus,
    LauncherError,
)
from compute_engine.launchers.environment import SECRET_SETTINGS, env_name, settings_environment
from platform_core.artifacts import producer_version
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings

__all__ = ["KubernetesJobLauncher", "GPU_RESOURCE", "GPU_TOLERATIONS", "CANCELLED_ANNOTATION", "JOB_NAME_LABEL"]

GPU_RESOURCE = "nvidia.com/gpu"
#: GPU nodes are commonly tainted so that only pods asking for GPUs land there.
GPU_TOLERATIONS: tuple[dict[str, str], ...] = ({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},)
CANCELLED_ANNOTATION = "pq/cancelled-at"
SPEC_ANNOTATION = "pq/spec-uri"
JOB_NAME_LABEL = "pq/job-name"
CONTAINER = "job"
POD_HOME = "/var/lib/pq"
#: Keys of the S3 credentials in the Secret named by ``s3_secret_name``.
SECRET_KEYS = {"s3_access_key_id": "access-key-id", "s3_secret_access_key": "secret-access-key"}
_COMPONENT = {"train": "trainer", "predict": "predictor", "baseline": "baseline"}
_NOT_PASSED = ("home", "database_url", *SECRET_SETTINGS)


def _cpu_quantity(cores: float) -> str:
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


class KubernetesJobLauncher(JobLauncher):
    """Runs jobs as Kubernetes Jobs through the official client.

    Args:
        settings: the platform settings (passed to the pods as ``PQ_*`` variables, secrets by reference).
        store: the object store the specs are read from (default: the settings' store).
        image: the platform image the pods run (default ``predictive-query:<version>``).
        namespace: where the Jobs go.
        batch_api: a ``kubernetes.client.BatchV1Api`` (default: built from the in-cluster or kubeconfig
            configuration at first use).
        core_api: a ``kubernetes.client.CoreV1Api`` for pods and logs (default: as ``batch_api``).
        service_account: the pods' service account (default: the namespace's default).
        image_pull_policy: ``IfNotPresent``, ``Always`` or ``Never``.
        s3_secret_name: the Secret holding the S3 credentials under ``access-key-id`` and ``secret-access-key``
            (referenced only when the settings have S3 credentials).
        ttl_seconds_after_finished: how long a finished Job stays before Kubernetes deletes it.
        backoff_limit: retries of a failed pod.
        active_deadline_seconds: the most seconds a Job may run (None: no limit).
        command: the entrypoint without the spec URI.
        gpu_tolerations: tolerations added when the spec asks for GPUs.

    Raises:
        LauncherError: a negative TTL, backoff limit or deadline, or an unknown pull policy.
    """

    backend = "kubernetes"
    poll_interval_s = 2.0

    def __init__(self, settings: Settings, store: ObjectStore | None = None, *, image: str | None = None,
                 namespace: str = "default", batch_api: Any = None, core_api: Any = None,
                 service_account: str | None = None, image_pull_policy: str = "IfNotPresent",
                 s3_secret_name: str = "pq-s3-credentials", ttl_seconds_after_finished: int = 86_400,
                 backoff_limit: int = 0, active_deadline_seconds: int | None = None,
                 command: Sequence[str] = ("python", "-m", "services.trainer", "--spec"),
                 gpu_tolerations: Sequence[dict[str, str]] = GPU_TOLERATIONS) -> None:
        if image_pull_policy not in ("IfNotPresent", "Always", "Never"):
            raise LauncherError(f"image_pull_policy: expected IfNotPresent, Always or Never, got {image_pull_policy!r}")
        for what, value in (("ttl_seconds_after_finished", ttl_seconds_after_finished),
                            ("backoff_limit", backoff_limit), ("active_deadline_seconds", active_deadline_seconds)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise LauncherError(f"{what}: expected a whole number >= 0, got {value!r}")
        super().__init__(store or ObjectStore.from_settings(settings))
        self.settings = settings
        self.image = image or f"predictive-query:{producer_version()}"
        self.namespace = namespace
        self.service_account = service_account
        self.image_pull_policy = image_pull_policy
        self.s3_secret_name = s3_secret_name
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.backoff_limit = backoff_limit
        self.active_deadline_seconds = active_deadline_seconds
        self.command = list(command)
        self.gpu_tolerations = [dict(t) for t in gpu_tolerations]
        self._batch_api = batch_api
        self._core_api = core_api

    # ---- the manifest ---------------------------------------------------------------------------------
    def labels(self, spec: JobSpec, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The Job's and pod's labels: ``extra`` plus the owner labels, which cannot be overridden.

        Raises:
            LauncherError: ``extra`` sets an owner label to another value.
        """
        owner = {
            "app.kubernetes.io/name": "predictive-query",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": _COMPONENT[spec.kind],
            "app.kubernetes.io/part-of": "predictive-query",
            "app.kubernetes.io/managed-by": "pq",
            "app.kubernetes.io/version": producer_version().replace("+", "-")[:63],
            "pq/job-id": spec.job_id,
            "pq/job-kind": spec.kind,
            JOB_NAME_LABEL: name,
        }
        for key, value in (extra or {}).items():
            if key in owner and owner[key] != value:
                raise LauncherError(f"label {key} is set by the launcher ({owner[key]!r}); it cannot be {value!r}")
        return {**(extra or {}), **owner}

    def environment(self) -> list[dict[str, Any]]:
        """The container's environment: settings as values, S3 credentials from the Secret."""
        env: list[dict[str, Any]] = [{"name": env_name("home"), "value": POD_HOME}]
        for key, value in settings_environment(self.settings, exclude=_NOT_PASSED).items():
            if value is not None:
                env.append({"name": key, "value": value})
        for field in SECRET_SETTINGS:
            if getattr(self.settings, field):
                env.append({"name": env_name(field), "valueFrom": {"secretKeyRef": {
                    "name": self.s3_secret_name, "key": SECRET_KEYS[field]}}})
        return env

    def resources(self, spec: JobSpec) -> dict[str, dict[str, str]]:
        """Requests and limits from the spec's resources."""
        res = spec.resources
        requests = {"cpu": _cpu_quantity(res.cpu), "memory": res.memory}
        limits = {"memory": res.memory}
        if res.gpu:
            requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(res.gpu)
        return {"requests": requests, "limits": limits}

    def manifest(self, spec_uri: str, spec: JobSpec, name: str, labels: dict[str, str] | None = None
                 ) -> dict[str, Any]:
        """The ``batch/v1`` Job that runs ``spec`` (a plain dict, ready for the API or ``kubectl``).

        Args:
            spec_uri: the spec's URI, handed to the entrypoint.
            spec: the spec (resources, node selector, kind, job id).
            name: the Job's name.
            labels: extra labels.

        Raises:
            LauncherError: the spec asks for ``cuda`` without GPUs, or ``labels`` clash with owner labels.
        """
        if spec.device == "cuda" and spec.resources.gpu == 0:
            raise LauncherError(f"job {spec.job_id}: device 'cuda' needs resources.gpu >= 1 on Kubernetes "
                                "(a pod sees no GPU it did not ask for)")
        all_labels = self.labels(spec, name, labels)
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": self.image,
            "imagePullPolicy": self.image_pull_policy,
            "command": [*self.command, spec_uri],
            "env": self.environment(),
            "resources": self.resources(spec),
            "volumeMounts": [{"name": "pq-home", "mountPath": POD_HOME}],
        }
        pod: dict[str, Any] = {
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [{"name": "pq-home", "emptyDir": {}}],
        }
        if spec.node_selector:
            pod["nodeSelector"] = dict(spec.node_selector)
        if spec.resources.gpu:
            pod["tolerations"] = [dict(t) for t in self.gpu_tolerations]
        if self.service_account:
            pod["serviceAccountName"] = self.service_account
        job_spec: dict[str, Any] = {
            "backoffLimit": self.backoff_limit,
            "ttlSecondsAfterFinished": self.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": all_labels, "annotations": {SPEC_ANNOTATION: spec_uri}}, "spec": pod},
        }
        if self.active_deadline_seconds is not None:
            job_spec["activeDeadlineSeconds"] = self.active_deadline_seconds
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": self.namespace, "labels": all_labels,
                         "annotations": {SPEC_ANNOTATION: spec_uri}},
            "spec": job_spec,
        }

    # ---- the API --------------------------------------------------------------------------------------
    def _apis(self) -> tuple[Any, Any]:
        if self._batch_api is None or self._core_api is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()
            except config.ConfigException:
                try:
                    config.load_kube_config()
                except (config.ConfigException, OSError) as exc:
                    raise LauncherError(f"no Kubernetes configuration (in-cluster or kubeconfig): {exc}") from None
            self._batch_api = self._batch_api or client.BatchV1Api()
            self._core_api = self._core_api or client.CoreV1Api()
        return self._batch_api, self._core_api

    def _call(self, what: str, name: str, fn, /, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.rest import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                raise JobNotFoundError(f"no Kubernetes job {name!r} in namespace {self.namespace}") from None
            if exc.status == 409:
                raise JobExistsError(f"a Kubernetes job named {name!r} exists already in namespace "
                                     f"{self.namespace}") from None
            reason = " ".join(str(exc.reason or exc.body or "").split())[:300]
            raise LauncherError(f"Kubernetes refused to {what} job {name!r} (HTTP {exc.status}): {reason}") from None
        except OSError as exc:  # urllib3 connection errors are OSErrors
            raise LauncherError(f"cannot reach Kubernetes to {what} job {name!r}: {exc}") from None

    def _submit(self, spec_uri: str, spec: JobSpec, name: str, labels: dict[str, str]) -> JobHandle:
        body = self.manifest(spec_uri, spec, name, labels)
        batch, _ = self._apis()
        self._call("create", name, batch.create_namespaced_job, namespace=self.namespace, body=body)
        return JobHandle(name=name, backend=self.backend, spec_uri=spec_uri, job_id=spec.job_id,
                         namespace=self.namespace, labels=labels)

    def _pods(self, handle: JobHandle) -> list[Any]:
        _, core = self._apis()
        pods = self._call("list pods of", handle.name, core.list_namespaced_pod, namespace=self._ns(handle),
                          label_selector=f"{JOB_NAME_LABEL}={handle.name}")
        epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        return sorted(pods.items or [], key=lambda p: p.metadata.creation_timestamp or epoch)

    def _ns(self, handle: JobHandle) -> str:
        return handle.namespace or self.namespace

    def _status(self, handle: JobHandle) -> JobStatus:
        batch, _ = self._apis()
        job = self._call("read", handle.name, batch.read_namespaced_job_status, name=handle.name,
                         namespace=self._ns(handle))
        status = job.status
        started = status.start_time if status is not None else None
        conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"} if status else {}
        cancelled = (job.metadata.annotations or {}).get(CANCELLED_ANNOTATION)
        if "Complete" in conditions:
            return JobStatus(JobState.SUCCEEDED, 0, started, status.completion_time or
                             conditions["Complete"].last_transition_time)
        if cancelled is not None:
            return JobStatus(JobState.CANCELLED, None, started, dt.datetime.fromisoformat(cancelled), "cancelled")
        if "Failed" in conditions:
            failed = conditions["Failed"]
            code, message = self._termination(handle)
            return JobStatus(JobState.FAILED, code, started, failed.last_transition_time,
                             message or failed.message or failed.reason or "")
        if status is not None and status.active:
            for pod in reversed(self._pods(handle)):
                if pod.status is not None and pod.status.phase == "Running":
                    return JobStatus(JobState.RUNNING, started_at=started)
            return JobStatus(JobState.PENDING, started_at=None, message=self._waiting_reason(handle))
        return JobStatus(JobState.PENDING)

    def _container_states(self, handle: JobHandle) -> list[Any]:
        out = []
        for pod in reversed(self._pods(handle)):
            for container in (pod.status.container_statuses or []) if pod.status else []:
                if container.name == CONTAINER:
                    out.append(container)
        return out

    def _termination(self, handle: JobHandle) -> tuple[int | None, str]:
        for container in self._container_states(handle):
            terminated = container.state.terminated if container.state else None
            if terminated is not None:
                return terminated.exit_code, (terminated.message or terminated.reason or "").strip()[:300]
        return None, ""

    def _waiting_reason(self, handle: JobHandle) -> str:
        for container in self._container_states(handle):
            waiting = container.state.waiting if container.state else None
            if waiting is not None:
                return f"{waiting.reason or 'waiting'}: {waiting.message or ''}".strip(": ")[:300]
        return "waiting for a pod to be scheduled"

    def _logs(self, handle: JobHandle, tail: int | None) -> str:
        from kubernetes.client.rest import ApiException

        batch, core = self._apis()
        self._call("read", handle.name, batch.read_namespaced_job_status, name=handle.name, namespace=self._ns(handle))
        pods = self._pods(handle)
        if not pods:
            return ""
        kwargs: dict[str, Any] = {"container": CONTAINER}
        if tail is not None:
            kwargs["tail_lines"] = tail
        try:
            return core.read_namespaced_pod_log(name=pods[-1].metadata.name, namespace=self._ns(handle), **kwargs)
        except ApiException as exc:
            if exc.status in (400, 404):  # the container has not started yet, or the pod is gone
                return ""
            raise LauncherError(f"cannot read the logs of job {handle.name!r} (HTTP {exc.status})") from None

    def _cancel(self, handle: JobHandle) -> None:
        if self._status(handle).finished:
            return
        batch, _ = self._apis()
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        body = {"metadata": {"annotations": {CANCELLED_ANNOTATION: now}}, "spec": {"suspend": True}}
        self._call("cancel", handle.name, batch.patch_namespaced_job, name=handle.name, namespace=self._ns(handle),
                   body=body)
