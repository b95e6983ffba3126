"""The local launcher with real processes: concurrent trainer jobs, their logs, cancel, and a restart."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pytest

from compute_engine.job_spec import JobSpec, JobSpecError
from compute_engine.launchers import (
    JobExistsError,
    JobHandle,
    JobNotFoundError,
    JobState,
    JobWaitTimeout,
    LauncherError,
    LocalProcessLauncher,
)
from platform_core.processes import group_alive
from platform_core.artifacts import ArtifactStore
from platform_core.settings import load_settings

pytestmark = pytest.mark.integration

#: A baseline that boosts for a very long time (each round still finds gain at this learning rate).
SLOW = {"baseline": {"num_boost_round": 10_000_000, "early_stopping_rounds": 0, "learning_rate": 1e-6,
                     "log_period": 0}}
QUICK = {"baseline": {"num_boost_round": 50, "log_period": 0}}


@pytest.fixture
def settings(tmp_path, shop):
    return load_settings(home=tmp_path / "home", store_uri=shop.store.root_uri)


@pytest.fixture
def launched():
    """Handles of started jobs, cancelled at teardown so that no process outlives a failed test."""
    jobs: list[tuple[LocalProcessLauncher, JobHandle]] = []
    yield jobs
    for launcher, handle in jobs:
        launcher.cancel(handle)


def wait_for_log(launcher: LocalProcessLauncher, handle: JobHandle, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in launcher.logs(handle):
        status = launcher.status(handle)
        assert not status.finished, f"{handle.name} ended ({status}) before logging {text!r}:\n{launcher.logs(handle)}"
        assert time.monotonic() < deadline, f"{handle.name} did not log {text!r}:\n{launcher.logs(handle)}"
        time.sleep(0.1)


def test_concurrent_jobs_logs_cancel_and_restart(shop, settings, launched) -> None:
    spend = shop.column("spend")
    regression = shop.training_table("spend", (2 * spend + np.random.default_rng(0).normal(0, 3, len(spend))).tolist(),
                                     pa.float64(), "regression")
    specs = {
        "slow-1": shop.spec("regression", regression, job_id="slow-1", model_plan=SLOW),
        "slow-2": shop.spec("regression", regression, job_id="slow-2", model_plan=SLOW),
        "quick": shop.spec("regression", regression, job_id="quick", model_plan=QUICK),
        "gnn": JobSpec(kind="train", job_id="gnn", task_type="regression", training_table_uri=regression,
                       output_uri=shop.store.uri("jobs", "gnn", "out")),
    }
    uris = {name: shop.write_spec(spec) for name, spec in specs.items()}
    launcher = LocalProcessLauncher(settings, shop.store, max_concurrent=2, cancel_grace_s=5)
    handles = {}
    for name in ("slow-1", "slow-2", "quick", "gnn"):
        handles[name] = launcher.submit(uris[name], name=name, labels={"pq/pquery": "spend"})
        launched.append((launcher, handles[name]))
    assert handles["quick"] == JobHandle(name="quick", backend="local", spec_uri=uris["quick"], job_id="quick",
                                         labels={"pq/pquery": "spend"})

    # Two slots, both taken by the slow jobs: the others wait, in submission order.
    wait_for_log(launcher, handles["slow-1"], "training LightGBM regressor")
    assert launcher.status(handles["slow-1"]).state is JobState.RUNNING
    assert launcher.status(handles["slow-2"]).state is JobState.RUNNING
    for name in ("quick", "gnn"):
        status = launcher.status(handles[name])
        assert status.state is JobState.PENDING and "2 job slots" in status.message
        assert launcher.logs(handles[name]) == ""
    with pytest.raises(JobWaitTimeout, match="still pending"):
        launcher.wait(handles["gnn"], timeout=0.2)

    # Cancelling a running job stops its whole process group and frees its slot for the oldest pending job.
    log_head = launcher.logs(handles["slow-1"])
    assert "job slow-1 starting" in log_head and "features from customers" in log_head
    cancelled = launcher.cancel(handles["slow-1"])
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert launcher.status(handles["gnn"]).state is JobState.PENDING
    quick = launcher.wait(handles["quick"], timeout=120)
    assert quick.state is JobState.SUCCEEDED and quick.exit_code == 0
    assert quick.started_at <= quick.finished_at
    assert "holdout metrics" in launcher.logs(handles["quick"])
    assert launcher.logs(handles["quick"], tail=1).count("\n") == 1
    baseline = ArtifactStore(shop.store).open(specs["quick"].output_uri)
    assert baseline.read_json("metrics.json")["metrics"]["r2"] > 0.8

    # A new launcher on the same home (the old one's process restarted) adopts the jobs from their files.
    restarted = LocalProcessLauncher(settings, shop.store, max_concurrent=2, cancel_grace_s=5)
    assert restarted.status(handles["quick"]).state is JobState.SUCCEEDED
    assert restarted.status(handles["slow-1"]).state is JobState.CANCELLED
    gnn = restarted.wait(handles["gnn"], timeout=120)
    assert gnn.state is JobState.FAILED and gnn.exit_code == 2
    assert "needs graph.graph_uri or graph.graph_store_address" in gnn.message
    slow_2 = restarted.status(handles["slow-2"])
    assert slow_2.state is JobState.RUNNING
    pid = int((settings.run_dir / "jobs" / "slow-2.pid").read_text().split()[0])
    assert restarted.cancel(handles["slow-2"]).state is JobState.CANCELLED
    assert not group_alive(pid)
    assert launcher.status(handles["slow-2"]).state is JobState.CANCELLED
    assert (settings.log_dir / "jobs" / "slow-2.log").exists()


def test_submission_is_validated(shop, settings) -> None:
    launcher = LocalProcessLauncher(settings, shop.store)
    with pytest.raises(JobSpecError, match="no job spec at"):
        launcher.submit(shop.store.uri("jobs", "none", "spec"), name="none")
    with pytest.raises(LauncherError, match="absolute"):
        launcher.submit("jobs/none/spec", name="none")
    with pytest.raises(LauncherError, match="not a valid label"):
        launcher.submit(shop.store.uri("x"), name="x", labels={"pq/pquery": "has space"})
    with pytest.raises(LauncherError, match="max_concurrent"):
        LocalProcessLauncher(settings, shop.store, max_concurrent=0)
    ghost = JobHandle(name="ghost", backend="local", spec_uri=shop.store.uri("x"), job_id="ghost")
    with pytest.raises(JobNotFoundError, match="no local job 'ghost'"):
        launcher.status(ghost)


def test_failed_job_reports_its_error_and_names_are_unique(shop, settings, launched) -> None:
    spec = JobSpec(kind="baseline", job_id="broken", task_type="regression",
                   training_table_uri=shop.store.uri("training", "missing"), output_uri=shop.store.uri("out"))
    uri = shop.write_spec(spec)
    launcher = LocalProcessLauncher(settings, shop.store)
    handle = launcher.submit(uri, name="broken")
    launched.append((launcher, handle))
    with pytest.raises(JobExistsError, match="broken"):
        launcher.submit(uri, name="broken")
    status = launcher.wait(handle, timeout=120)
    assert status.state is JobState.FAILED and status.exit_code == 2
    assert status.message.startswith("error: no training table at")
    # Cancelling a finished job changes nothing.
    assert launcher.cancel(handle).state is JobState.FAILED
