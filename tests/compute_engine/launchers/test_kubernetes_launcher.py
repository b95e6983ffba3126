"""The Kubernetes launcher: its Job manifests against the Kubernetes JSON schema, and its API calls.

No Kubernetes API server can run on these machines, so the API calls go to ``FakeBatchApi`` and
``FakeCoreApi`` below: stand-ins for ``kubernetes.client.BatchV1Api`` and ``CoreV1Api`` that keep Jobs in a
dict, answer with the client's own model objects (``V1Job``, ``V1Pod``...) and raise the client's own
``ApiException`` for missing or duplicate Jobs. The manifests themselves are checked for real, against the
Kubernetes schema (``kubernetes_validate``, strict: unknown fields fail).
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import kubernetes_validate
import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1Job,
    V1JobCondition,
    V1JobStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodList,
    V1PodStatus,
)
from kubernetes.client.rest import ApiException

from compute_engine.job_spec import JobSpec, Resources
from compute_engine.launchers import (
    JobExistsError,
    JobHandle,
    JobNotFoundError,
    JobState,
    KubernetesJobLauncher,
    LauncherError,
    LocalProcessLauncher,
    make_launcher,
)
from platform_core.settings import Settings, load_settings

pytestmark = pytest.mark.unit

K8S_VERSION = "1.30"
SECRET = "s3cr3t-value-never-in-manifests"
NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


class FakeBatchApi:
    """Stand-in for BatchV1Api (no API server can run here): Jobs in a dict, states set by the test."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict] = {}
        self.status: dict[tuple[str, str], V1JobStatus] = {}
        self.calls: list[tuple[str, dict]] = []

    def _find(self, name: str, namespace: str) -> dict:
        if (namespace, name) not in self.jobs:
            raise ApiException(status=404, reason="Not Found")
        return self.jobs[(namespace, name)]

    def create_namespaced_job(self, namespace: str, body: dict) -> V1Job:
        self.calls.append(("create", {"namespace": namespace, "body": body}))
        key = (namespace, body["metadata"]["name"])
        if key in self.jobs:
            raise ApiException(status=409, reason="AlreadyExists")
        self.jobs[key] = copy.deepcopy(body)
        self.status[key] = V1JobStatus()
        return self.read_namespaced_job_status(key[1], namespace)

    def read_namespaced_job_status(self, name: str, namespace: str) -> V1Job:
        body = self._find(name, namespace)
        meta = body["metadata"]
        return V1Job(metadata=V1ObjectMeta(name=name, namespace=namespace, labels=meta.get("labels"),
                                           annotations=meta.get("annotations")),
                     status=self.status[(namespace, name)])

    def patch_namespaced_job(self, name: str, namespace: str, body: dict) -> V1Job:
        self.calls.append(("patch", {"name": name, "namespace": namespace, "body": body}))
        job = self._find(name, namespace)
        job["metadata"].setdefault("annotations", {}).update(body.get("metadata", {}).get("annotations", {}))
        job["spec"].update(body.get("spec", {}))
        return self.read_namespaced_job_status(name, namespace)


class FakeCoreApi:
    """Stand-in for CoreV1Api (no API server can run here): pods and their logs set by the test."""

    def __init__(self) -> None:
        self.pods: list[V1Pod] = []
        self.logs: dict[str, str] = {}
        self.log_calls: list[dict] = []

    def add_pod(self, job: str, name: str, phase: str, state: V1ContainerState | None = None,
                created: dt.datetime = NOW) -> None:
        statuses = [V1ContainerStatus(name="job", image="img", image_id="", ready=phase == "Running",
                                      restart_count=0, state=state)] if state else None
        self.pods.append(V1Pod(metadata=V1ObjectMeta(name=name, labels={"pq/job-name": job},
                                                     creation_timestamp=created),
                               status=V1PodStatus(phase=phase, container_statuses=statuses)))

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> V1PodList:
        key, value = label_selector.split("=")
        return V1PodList(items=[p for p in self.pods if p.metadata.labels.get(key) == value])

    def read_namespaced_pod_log(self, name: str, namespace: str, container: str, tail_lines: int | None = None
                                ) -> str:
        self.log_calls.append({"name": name, "container": container, "tail_lines": tail_lines})
        lines = self.logs.get(name, "").splitlines(keepends=True)
        return "".join(lines[-tail_lines:] if tail_lines else lines)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(home=tmp_path / "home", store_uri="s3://pq-data/platform",
                         s3_endpoint_url="http://seaweedfs:8333", s3_access_key_id="pq-key",
                         s3_secret_access_key=SECRET, database_url="postgresql://pq:dbpass@db/pq",
                         job_launcher="kubernetes")


@pytest.fixture
def launcher(settings, store) -> KubernetesJobLauncher:
    return KubernetesJobLauncher(settings, store, image="registry.example/pq:1.0", namespace="pq-jobs",
                                 batch_api=FakeBatchApi(), core_api=FakeCoreApi())


def gpu_spec(**changes) -> JobSpec:
    fields = dict(kind="train", job_id="trial-3", task_type="binary_classification",
                  output_uri="s3://pq-data/jobs/trial-3", training_table_uri="s3://pq-data/tt/churn", device="cuda",
                  resources=Resources(cpu=3.5, memory="24Gi", gpu=2),
                  node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "gpu"})
    return JobSpec(**{**fields, **changes})


def cpu_spec(store) -> JobSpec:
    return JobSpec(kind="baseline", job_id="base-1", task_type="regression", output_uri=store.uri("out"),
                   training_table_uri=store.uri("tt"), resources=Resources(cpu=0.5, memory="2Gi"))


def test_gpu_manifest_is_a_valid_job(launcher) -> None:
    manifest = launcher.manifest("s3://pq-data/jobs/trial-3/spec", gpu_spec(), "trial-3", {"pq/pquery": "churn"})
    assert kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/pq:1.0"
    assert container["command"] == ["python", "-m", "services.trainer", "--spec", "s3://pq-data/jobs/trial-3/spec"]
    assert container["resources"] == {"requests": {"cpu": "3500m", "memory": "24Gi", "nvidia.com/gpu": "2"},
                                      "limits": {"memory": "24Gi", "nvidia.com/gpu": "2"}}
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "gpu"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["restartPolicy"] == "Never"
    assert manifest["spec"]["backoffLimit"] == 0 and manifest["spec"]["ttlSecondsAfterFinished"] == 86_400
    labels = manifest["metadata"]["labels"]
    assert labels["pq/job-id"] == "trial-3" and labels["pq/pquery"] == "churn"
    assert labels["app.kubernetes.io/component"] == "trainer" and labels["app.kubernetes.io/managed-by"] == "pq"
    assert manifest["spec"]["template"]["metadata"]["labels"] == labels
    assert manifest["metadata"]["namespace"] == "pq-jobs"


def test_cpu_manifest_has_no_gpu_parts(launcher, store) -> None:
    manifest = launcher.manifest(store.uri("spec"), cpu_spec(store), "base-1")
    assert kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    pod = manifest["spec"]["template"]["spec"]
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"},
                                                 "limits": {"memory": "2Gi"}}
    assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "baseline"


def test_optional_manifest_fields_are_valid(settings, store) -> None:
    launcher = KubernetesJobLauncher(settings, store, service_account="pq-trainer", active_deadline_seconds=7200,
                                     ttl_seconds_after_finished=600, backoff_limit=2, image_pull_policy="Always")
    manifest = launcher.manifest(store.uri("spec"), gpu_spec(), "trial-3")
    assert kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert manifest["spec"]["activeDeadlineSeconds"] == 7200
    assert manifest["spec"]["template"]["spec"]["serviceAccountName"] == "pq-trainer"
    assert launcher.image.startswith("predictive-query:")


def test_environment_carries_settings_and_secrets_by_reference(launcher, monkeypatch) -> None:
    manifest = launcher.manifest("s3://pq-data/spec", gpu_spec(), "trial-3")
    text = json.dumps(manifest)
    assert SECRET not in text and "pq-key" not in text and "dbpass" not in text
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    assert by_name["PQ_S3_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "pq-s3-credentials", "key": "secret-access-key"}}
    assert by_name["PQ_S3_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["key"] == "access-key-id"
    assert by_name["PQ_STORE_URI"]["value"] == "s3://pq-data/platform"
    assert by_name["PQ_HOME"]["value"] == "/var/lib/pq"
    assert "PQ_DATABASE_URL" not in by_name
    # The pod's environment must be settings the trainer accepts (an unknown PQ_ variable fails at start).
    for name in [n for n in list(__import__("os").environ) if n.startswith("PQ_")]:
        monkeypatch.delenv(name)
    for entry in env:
        monkeypatch.setenv(entry["name"], entry.get("value", "from-secret"))
    pod_settings = load_settings()
    assert pod_settings.store_uri == "s3://pq-data/platform" and pod_settings.s3_endpoint_url == "http://seaweedfs:8333"


def test_credentials_are_not_referenced_when_not_configured(store, tmp_path) -> None:
    settings = load_settings(home=tmp_path, store_uri="s3://pq-data/x")
    env = KubernetesJobLauncher(settings, store).environment()
    assert not [e for e in env if "valueFrom" in e]


def test_manifest_rejections(launcher) -> None:
    with pytest.raises(LauncherError, match="device 'cuda' needs resources.gpu"):
        launcher.manifest("s3://pq-data/spec", gpu_spec(resources=Resources(gpu=0)), "trial-3")
    with pytest.raises(LauncherError, match="pq/job-id is set by the launcher"):
        launcher.manifest("s3://pq-data/spec", gpu_spec(), "trial-3", {"pq/job-id": "other"})
    with pytest.raises(LauncherError, match="image_pull_policy"):
        KubernetesJobLauncher(launcher.settings, launcher.store, image_pull_policy="Sometimes")


def test_submit_status_logs_and_cancel_through_the_api(launcher, store) -> None:
    from compute_engine.job_spec import write_job_spec

    spec_uri = write_job_spec(store, "jobs/trial-3/spec", gpu_spec())
    batch, core = launcher._batch_api, launcher._core_api
    handle = launcher.submit(spec_uri, name="trial-3", labels={"pq/pquery": "churn"})
    assert handle == JobHandle(name="trial-3", backend="kubernetes", spec_uri=spec_uri, job_id="trial-3",
                               namespace="pq-jobs", labels={"pq/pquery": "churn"})
    verb, call = batch.calls[0]
    assert verb == "create" and call["namespace"] == "pq-jobs"
    assert call["body"] == launcher.manifest(spec_uri, gpu_spec(), "trial-3", {"pq/pquery": "churn"})
    assert kubernetes_validate.validate(call["body"], K8S_VERSION, strict=True)
    with pytest.raises(JobExistsError, match="trial-3"):
        launcher.submit(spec_uri, name="trial-3")

    assert launcher.status(handle).state is JobState.PENDING
    key = ("pq-jobs", "trial-3")
    batch.status[key] = V1JobStatus(active=1, start_time=NOW)
    core.add_pod("trial-3", "trial-3-abc", "Pending",
                 V1ContainerState(waiting=V1ContainerStateWaiting(reason="ImagePullBackOff", message="no image")))
    pending = launcher.status(handle)
    assert pending.state is JobState.PENDING and pending.message == "ImagePullBackOff: no image"
    core.pods[0].status.phase = "Running"
    running = launcher.status(handle)
    assert running.state is JobState.RUNNING and running.started_at == NOW

    core.logs["trial-3-abc"] = "epoch 1\nepoch 2\nepoch 3\n"
    assert launcher.logs(handle) == "epoch 1\nepoch 2\nepoch 3\n"
    assert launcher.logs(handle, tail=2) == "epoch 2\nepoch 3\n"
    assert core.log_calls[-1] == {"name": "trial-3-abc", "container": "job", "tail_lines": 2}

    cancelled = launcher.cancel(handle)
    assert cancelled.state is JobState.CANCELLED
    verb, call = batch.calls[-1]
    assert verb == "patch" and call["body"]["spec"] == {"suspend": True}
    assert "pq/cancelled-at" in call["body"]["metadata"]["annotations"]
    assert launcher.wait(handle, timeout=0).state is JobState.CANCELLED


def test_finished_jobs(launcher, store) -> None:
    from compute_engine.job_spec import write_job_spec

    spec_uri = write_job_spec(store, "jobs/base-1/spec", cpu_spec(store))
    batch, core = launcher._batch_api, launcher._core_api
    ok = launcher.submit(spec_uri, name="base-ok")
    batch.status[("pq-jobs", "base-ok")] = V1JobStatus(
        start_time=NOW, completion_time=NOW + dt.timedelta(minutes=3), succeeded=1,
        conditions=[V1JobCondition(type="Complete", status="True")])
    done = launcher.status(ok)
    assert (done.state, done.exit_code, done.finished_at) == (JobState.SUCCEEDED, 0, NOW + dt.timedelta(minutes=3))
    launcher.cancel(ok)  # nothing to cancel any more
    assert [verb for verb, _ in batch.calls] == ["create"]

    bad = launcher.submit(spec_uri, name="base-bad")
    batch.status[("pq-jobs", "base-bad")] = V1JobStatus(start_time=NOW, failed=1, conditions=[
        V1JobCondition(type="Failed", status="True", reason="BackoffLimitExceeded", last_transition_time=NOW)])
    core.add_pod("base-bad", "base-bad-x", "Failed", V1ContainerState(terminated=V1ContainerStateTerminated(
        exit_code=2, reason="Error", message="error: the training table has no holdout example")))
    failed = launcher.status(bad)
    assert failed.state is JobState.FAILED and failed.exit_code == 2
    assert failed.message == "error: the training table has no holdout example"
    assert launcher.wait(bad, timeout=5).state is JobState.FAILED


def test_missing_jobs_and_foreign_handles(launcher) -> None:
    ghost = JobHandle(name="ghost", backend="kubernetes", spec_uri="s3://pq-data/x", job_id="g", namespace="pq-jobs")
    with pytest.raises(JobNotFoundError, match="no Kubernetes job 'ghost' in namespace pq-jobs"):
        launcher.status(ghost)
    with pytest.raises(JobNotFoundError):
        launcher.logs(ghost)
    local = JobHandle(name="ghost", backend="local", spec_uri="s3://pq-data/x", job_id="g")
    with pytest.raises(LauncherError, match="submitted to the local launcher"):
        launcher.status(local)
    with pytest.raises(LauncherError, match="job name"):
        launcher.submit("s3://pq-data/x", name="Not_A_DNS_Name")


def test_api_errors_are_one_line_launcher_errors(settings, store) -> None:
    from compute_engine.job_spec import write_job_spec

    class Refusing(FakeBatchApi):
        def create_namespaced_job(self, namespace, body):
            raise ApiException(status=403, reason="Forbidden: jobs.batch is forbidden for serviceaccount x")

    launcher = KubernetesJobLauncher(settings, store, batch_api=Refusing(), core_api=FakeCoreApi())
    spec_uri = write_job_spec(store, "jobs/s/spec", cpu_spec(store))
    with pytest.raises(LauncherError, match=r"Kubernetes refused to create job 'job-a' \(HTTP 403\): Forbidden"):
        launcher.submit(spec_uri, name="job-a")


def test_factory_follows_the_setting(settings, store, tmp_path) -> None:
    assert isinstance(make_launcher(settings, store, namespace="x"), KubernetesJobLauncher)
    local = load_settings(home=tmp_path / "local")
    assert isinstance(make_launcher(local, store, max_concurrent=3), LocalProcessLauncher)


def test_factory_takes_its_defaults_from_the_settings(tmp_path, store) -> None:
    settings = load_settings(home=tmp_path / "k8s", job_launcher="kubernetes", job_image="registry.local/pq:1",
                             job_namespace="ml", job_s3_secret="s3-keys", job_ttl_seconds=60)
    launcher = make_launcher(settings, store)
    assert (launcher.image, launcher.namespace, launcher.s3_secret_name, launcher.ttl_seconds_after_finished) == (
        "registry.local/pq:1", "ml", "s3-keys", 60)
    local = make_launcher(load_settings(home=tmp_path / "local", job_max_concurrent=5), store)
    assert local.max_concurrent == 5
