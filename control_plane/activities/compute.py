"""Activities of the ``compute`` task queue: trainer jobs (AutoML trials, the baseline, prediction) through the
configured launcher, and the choice of the best trial.

A trainer job runs ``python -m services.trainer --spec URI`` as a local process or a Kubernetes Job; the
activity writes the job spec, submits it, and polls its status while heartbeating the job's handle.
Cancelling the activity cancels the job (its process group or its Kubernetes Job). A job that exits 2
(its inputs are wrong, or its kind is not available) fails for good with its last log line; one that
crashes is retried with backoff. A retried activity first cancels the job its previous attempt left
behind (the handle is in the last heartbeat).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from control_plane.activities.common import engine_errors, run_blocking
from control_plane.workflows.messages import (
    AskedTrial,
    AskTrialsRequest,
    MaterializeOutcome,
    PredictJobOutcome,
    PredictJobRequest,
    Selection,
    SelectionRequest,
    StoresOutcome,
    TellTrialsRequest,
    TrialOutcome,
    TrialRequest,
)
from control_plane.workflows.policies import (
    ASK_TRIALS,
    HEARTBEAT_EVERY_S,
    RUN_PREDICT,
    RUN_TRIAL,
    SELECT_MODEL,
    TELL_TRIALS,
)
from control_plane.workflows.trials import higher_is_better
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings

if TYPE_CHECKING:
    from compute_engine.job_spec import GraphInputs

#: The exit status of a trainer job whose inputs are wrong (see services/trainer.py).
USER_ERROR_EXIT = 2
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.json"


def job_name(job_key: str, part: str, attempt: int) -> str:
    """A launcher job name (a DNS label) for one part of a job and one activity attempt."""
    import hashlib

    digest = hashlib.sha256(job_key.encode()).hexdigest()[:12]
    return f"pq-{digest}-{part}-a{attempt}"[:63].rstrip("-")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class ComputeActivities:
    """The compute engine's activities, bound to the worker's settings (one launcher per worker).

    Args:
        settings: the platform settings (launcher kind, concurrency, object store).
        launcher_options: keyword arguments for :func:`compute_engine.launchers.make_launcher`.
    """

    def __init__(self, settings: Settings, **launcher_options: Any) -> None:
        self.settings = settings
        self.launcher_options = launcher_options
        self._store: ObjectStore | None = None
        self._launcher = None

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore.from_settings(self.settings)
        return self._store

    @property
    def launcher(self):
        """The job launcher ``settings.job_launcher`` names (made on first use)."""
        if self._launcher is None:
            from compute_engine.launchers import make_launcher

            self._launcher = make_launcher(self.settings, self.store, **self.launcher_options)
        return self._launcher

    def _uri(self, uri: str) -> str:
        return uri if "://" in uri else self.store.uri(uri)

    async def _run_job(self, spec, spec_uri: str, name: str, labels: dict[str, str]) -> Any:
        """Write the spec, submit it, and wait for the job while heartbeating; cancel it on cancellation.

        Returns:
            The job's final status (succeeded).

        Raises:
            ApplicationError: the job failed: non-retryable for a user error (exit 2), retryable otherwise.
        """
        from compute_engine.job_spec import write_job_spec
        from compute_engine.launchers import JobHandle

        launcher = self.launcher
        previous = activity.info().heartbeat_details
        if previous and isinstance(previous[0], dict) and previous[0].get("job"):
            # The previous attempt's job may still run: stop it before starting another one.
            try:
                old = JobHandle.from_dict(previous[0]["job"])
                await asyncio.to_thread(launcher.cancel, old)
            except Exception as exc:
                activity.logger.info("previous attempt's job not cancelled: %s", exc)
        with engine_errors():
            spec_uri = await asyncio.to_thread(write_job_spec, self.store, self._uri(spec_uri), spec)
            handle = await asyncio.to_thread(launcher.submit, spec_uri, name=name, labels=labels)
        state: dict[str, Any] = {"job": handle.to_dict(), "state": "pending"}
        try:
            while True:
                status = await asyncio.to_thread(launcher.status, handle)
                state["state"] = status.state.value
                if status.finished:
                    break
                activity.heartbeat(state)
                await asyncio.sleep(HEARTBEAT_EVERY_S)
        except asyncio.CancelledError:
            activity.logger.info("cancelling trainer job %s", handle.name)
            await run_blocking(lambda: launcher.cancel(handle))
            raise
        if status.state.value == "succeeded":
            return status
        tail = (await asyncio.to_thread(launcher.logs, handle, 20)).strip().splitlines()
        error_lines = [line.removeprefix("error: ") for line in tail if line.startswith("error: ")]
        message = error_lines[-1] if error_lines else (status.message or (tail[-1] if tail else "no output"))
        text = f"job {handle.name} {status.state.value} (exit {status.exit_code}): {message}"
        if status.exit_code == USER_ERROR_EXIT:
            raise ApplicationError(text, type="TrainerJobError", non_retryable=True)
        if status.state.value == "cancelled":
            raise ApplicationError(text, type="TrainerJobCancelled", non_retryable=True)
        raise ApplicationError(text, type="TrainerJobFailed")

    @activity.defn(name=RUN_TRIAL)
    async def run_trial(self, request: TrialRequest) -> TrialOutcome:
        """Run one trainer job (a GNN trial or the baseline) and read its metrics.

        Returns:
            The trial's holdout (and validation) metrics, curves and output artifact.
        """
        from compute_engine.job_spec import JobSpec

        started = activity.info().started_time.isoformat()
        graph = graph_inputs(request.graph, request.stores)
        part = "baseline" if request.number < 0 else f"t{request.number}"
        with engine_errors():
            spec = JobSpec(kind=request.kind, job_id=_job_id(request.job_id), task_type=request.task_type,
                           output_uri=self._uri(request.output_uri),
                           training_table_uri=self._uri(request.training_table_uri),
                           table_uris={t: self._uri(u) for t, u in request.table_uris.items()}, graph=graph,
                           model_plan=request.params, seed=request.seed)
        await self._run_job(spec, request.spec_uri, job_name(request.job_id, part, activity.info().attempt),
                            {"pq/job": _job_id(request.job_id), "pq/part": part})
        summary, curves = await asyncio.to_thread(self._read_output, spec.output_uri)
        return TrialOutcome(number=request.number, kind=request.kind, status="succeeded", output_uri=spec.output_uri,
                            params=request.params, metrics=dict(summary.get("metrics") or {}),
                            validation=dict(summary.get("validation_metrics") or summary.get("validation") or {}),
                            curves=curves, model=str(summary.get("model") or request.kind),
                            started_at=started, finished_at=_now())

    def _read_output(self, uri: str) -> tuple[dict[str, Any], dict[str, Any]]:
        artifact = ArtifactStore(self.store).open(uri)
        names = {f.name for f in artifact.manifest.files}
        summary = artifact.read_json(METRICS_FILE) if METRICS_FILE in names else dict(artifact.manifest.metadata)
        curves: dict[str, Any] = {}
        if CURVES_FILE in names:
            curves["holdout"] = artifact.read_json(CURVES_FILE)
        for key in ("history", "curves", "epochs"):
            if isinstance(summary.get(key), (list, dict)):
                curves[key] = summary[key]
        return summary, curves

    @activity.defn(name=ASK_TRIALS)
    def ask_trials(self, request: AskTrialsRequest) -> list[AskedTrial]:
        """Draw the next round of the job's AutoML search (Optuna, in the AutoML database).

        Raises:
            ApplicationError: an unknown run mode (non-retryable).
        """
        from compute_engine.automl import AutoMLError, ask_trials

        try:
            drawn = ask_trials(self.settings.automl_database_url, request.study, request.run_mode, request.count,
                               higher_is_better=higher_is_better(request.metric), seed=request.seed)
        except AutoMLError as exc:
            raise ApplicationError(str(exc), type="AutoMLError", non_retryable=True) from None
        return [AskedTrial(number, params) for number, params in drawn]

    @activity.defn(name=TELL_TRIALS)
    def tell_trials(self, request: TellTrialsRequest) -> None:
        """Report a round's validation metrics to the job's AutoML search."""
        from compute_engine.automl import tell_trials

        tell_trials(self.settings.automl_database_url, request.study, list(zip(request.numbers, request.values)),
                    higher_is_better=higher_is_better(request.metric), seed=request.seed)

    @activity.defn(name=SELECT_MODEL)
    def select_model(self, request: SelectionRequest) -> Selection:
        """The best succeeded trial by the selection metric (validation when every trial reports it, else
        holdout), with its holdout metrics beside the baseline's.

        Raises:
            ApplicationError: no trial succeeded with a finite selection metric (non-retryable).
        """
        metric = request.metrics[0]
        candidates = [t for t in request.trials if t.status == "succeeded"]
        on_validation = bool(candidates) and all(_finite(t.validation.get(metric)) for t in candidates)
        scored = [(t.validation if on_validation else t.metrics).get(metric) for t in candidates]
        ranked = [(value, t) for value, t in zip(scored, candidates) if _finite(value)]
        if not ranked:
            raise ApplicationError(f"no trial reported a finite {metric}", type="NoModel", non_retryable=True)
        sign = 1.0 if higher_is_better(metric) else -1.0
        value, best = max(ranked, key=lambda pair: (sign * pair[0], -pair[1].number))
        return Selection(chosen_trial_number=best.number, model_uri=best.output_uri, selection_metric=metric,
                         metrics=dict(best.metrics),
                         baseline=dict(request.baseline.metrics) if request.baseline is not None else None)

    @activity.defn(name=RUN_PREDICT)
    async def run_predict(self, request: PredictJobRequest) -> PredictJobOutcome:
        """Run a ``predict`` trainer job: score the prediction table with the model.

        Returns:
            The output artifact, its Parquet files and the predicted rows.
        """
        from compute_engine.job_spec import JobSpec

        graph = graph_inputs(request.graph, request.stores)
        with engine_errors():
            spec = JobSpec(kind="predict", job_id=_job_id(request.job_id), task_type=request.task_type,
                           output_uri=self._uri(request.output_uri),
                           prediction_table_uri=self._uri(request.prediction_table_uri),
                           model_uri=self._uri(request.model_uri),
                           table_uris={t: self._uri(u) for t, u in request.table_uris.items()}, graph=graph)
        await self._run_job(spec, request.spec_uri, job_name(request.job_id, "predict", activity.info().attempt),
                            {"pq/job": _job_id(request.job_id), "pq/part": "predict"})
        return await asyncio.to_thread(prediction_outputs, self.store, spec.output_uri)

    def activities(self) -> list[Callable]:
        """The activities to register on the ``compute`` queue."""
        return [self.run_trial, self.ask_trials, self.tell_trials, self.select_model, self.run_predict]


def prediction_outputs(store: ObjectStore, uri: str) -> PredictJobOutcome:
    """What a predict job wrote: its Parquet files, the predictions file and its rows.

    Raises:
        ArtifactError: no committed artifact at ``uri``.
    """
    artifact = ArtifactStore(store).open(uri)
    parquet = [f for f in artifact.manifest.files if f.kind == "parquet"]
    predictions = [f for f in parquet if f.name.startswith("predictions")] or parquet
    rows = sum(f.rows or 0 for f in predictions) if predictions else None
    first = f"{artifact.uri}/{predictions[0].name}" if predictions else None
    return PredictJobOutcome(output_uri=artifact.uri, predictions_uri=first, rows=rows,
                             files=[f.name for f in artifact.manifest.files])


def graph_inputs(graph: MaterializeOutcome | None, stores: StoresOutcome | None) -> "GraphInputs":
    """What a trainer job reads of a materialized graph: its artifacts table by table, and the running stores."""
    from compute_engine.job_spec import GraphInputs

    if graph is None:
        return GraphInputs()
    return GraphInputs(graph_uri=graph.graph_uri,
                       features_uri=graph.output_uri + "/features" if graph.feature_uris else None,
                       index_uri=graph.output_uri + "/index",
                       feature_uris=dict(graph.feature_uris) or None, index_uris=dict(graph.index_uris) or None,
                       graph_store_address=_host_port(stores.graph_store_address) if stores else None,
                       feature_store_address=_host_port(stores.feature_store_address) if stores else None)


def _host_port(address: str | None) -> str | None:
    """``grpc://host:port`` -> ``host:port`` (what job specs hold)."""
    if address is None:
        return None
    return address.split("://", 1)[-1]


def _job_id(key: str) -> str:
    """A job spec id (at most 63 letters, digits, ``-_.``) for a job key."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", key).strip("-_.") or "job"
    return cleaned[-63:].lstrip("-_.")


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat()
