"""Training and prediction jobs, trials and graph updates (read-only until the workflows start them)."""

from __future__ import annotations

from typing import Any

from control_plane.api.schemas.common import Resource, UtcDatetime
from control_plane.db.models import JobStatus


class TrainingJobOut(Resource):
    pquery_id: str
    status: JobStatus
    workflow_id: str | None = None
    run_mode: str
    split: dict[str, Any] | None
    progress: list[Any]
    chosen_trial_number: int | None
    model_uri: str | None
    metrics: dict[str, Any] | None
    baseline: dict[str, Any] | None
    error: str | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    cancel_requested_at: UtcDatetime | None


class TrainingTrialOut(Resource):
    training_job_id: str
    number: int
    status: JobStatus
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    curves: dict[str, Any] | None
    model_uri: str | None
    error: str | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class PredictionJobOut(Resource):
    training_job_id: str
    status: JobStatus
    workflow_id: str | None = None
    anchor_time: UtcDatetime | None
    progress: list[Any]
    outputs: dict[str, Any] | None
    error: str | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class GraphUpdateOut(Resource):
    graph_id: str
    status: JobStatus
    workflow_id: str | None = None
    progress: list[Any]
    changed_tables: list[str] | None
    training_job_id: str | None
    prediction_job_id: str | None
    error: str | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
