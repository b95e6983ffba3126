"""The payloads of the job workflows and their activities: small dataclasses of URIs, names and specs.

Nothing here carries data: tables, graphs, models and predictions stay in the object store and travel as
URIs. Every class converts through Temporal's JSON data converter as it is (dataclasses of str, int, float,
bool, None, lists and dicts), so workflows and activities in different processes agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Step states a progress report shows.
PENDING, RUNNING, DONE, REUSED, SKIPPED, FAILED, CANCELLED = (
    "pending", "running", "done", "reused", "skipped", "failed", "cancelled")
STEP_STATES = (PENDING, RUNNING, DONE, REUSED, SKIPPED, FAILED, CANCELLED)


@dataclass
class StepState:
    """One step of a job as the ``progress`` query and the metadata DB show it.

    Attributes:
        step: the step id (``compile``, ``ingest:orders``, ``materialize_links``, ``train``...).
        status: one of :data:`STEP_STATES`.
        started_at: ISO time it started (workflow time), None while pending.
        finished_at: ISO time it ended, None until then.
        detail: a short message (rows written, artifact reused, why it failed).
    """

    step: str
    status: str = PENDING
    started_at: str | None = None
    finished_at: str | None = None
    detail: str = ""


@dataclass
class TableSource:
    """Where one table of the graph comes from.

    Attributes:
        name: the table's name in the graph schema.
        source_uri: the file, folder or prefix to ingest (``file://`` or ``s3://``).
        options: :meth:`data_engine.ingest.IngestOptions.to_dict` output (format options, column overrides,
            primary key, time column); empty to detect everything.
    """

    name: str
    source_uri: str
    options: dict[str, Any] = field(default_factory=dict)


# ---- data engine ---------------------------------------------------------------------------------------
@dataclass
class IngestRequest:
    """Ingest one table (:func:`data_engine.ingest.ingest_table`)."""

    table: TableSource


@dataclass
class IngestOutcome:
    """A table artifact: its URI, content hash, rows, whether an identical one was found, and (when only new
    files of the source were read onto the earlier artifact) how many rows they added."""

    table: str
    uri: str
    content_hash: str
    rows: int
    rejected_rows: int
    reused: bool
    appended_rows: int | None = None


@dataclass
class MaterializeRequest:
    """Materialize the graph and features of a schema from ingested tables.

    Attributes:
        schema: the PQL graph schema JSON.
        table_uris: table -> table artifact URI.
        output_uri: the content-addressed folder (``graphs/<hash of schema and table hashes>``).
    """

    schema: dict[str, Any]
    table_uris: dict[str, str]
    output_uri: str


@dataclass
class MaterializeOutcome:
    """The materialized graph: its folder, graph artifact, feature artifacts and counts; ``mode`` is
    ``incremental`` when it was updated from the previous graph of the same schema (``work`` counts the rows
    read, encoded and copied; unchanged tables keep their node index and feature artifacts where they were,
    so readers take ``index_uris`` and ``feature_uris``, not folders under ``output_uri``)."""

    output_uri: str
    graph_uri: str
    feature_uris: dict[str, str]
    num_nodes: dict[str, int]
    num_edges: dict[str, int]
    reused: bool
    mode: str = "full"
    work: dict[str, int] = field(default_factory=dict)
    index_uris: dict[str, str] = field(default_factory=dict)


@dataclass
class ArtifactRequest:
    """What :class:`~control_plane.workflows.artifacts.BuildArtifactWorkflow` builds: exactly one of the two."""

    key: str
    ingest: IngestRequest | None = None
    materialize: MaterializeRequest | None = None


@dataclass
class ArtifactResult:
    """The built (or found) artifact: the outcome matching the request's kind."""

    ingest: IngestOutcome | None = None
    materialize: MaterializeOutcome | None = None


@dataclass
class TrainingTableRequest:
    """Build the training table of a plan (:func:`data_engine.training_table.build_training_table`)."""

    plan: dict[str, Any]
    table_uris: dict[str, str]
    output_uri: str
    boundaries: dict[str, Any] | None = None


@dataclass
class TrainingTableOutcome:
    uri: str
    rows: int
    rows_per_split: dict[str, int]
    reused: bool


@dataclass
class PredictionTableRequest:
    """Build the prediction table of a plan at an anchor time (default: the newest data)."""

    plan: dict[str, Any]
    table_uris: dict[str, str]
    output_uri: str
    anchor_time: str | None = None


@dataclass
class PredictionTableOutcome:
    uri: str
    rows: int
    anchor_time: str | None
    reused: bool


# ---- graph engine --------------------------------------------------------------------------------------
@dataclass
class StoresRequest:
    """Bring up (or release) the graph and feature store servers of one materialized graph for one job.

    Attributes:
        graph: the materialized graph.
        holder: who uses the stores (the job id); they stop once no holder is left.
    """

    graph: MaterializeOutcome
    holder: str


@dataclass
class StoresOutcome:
    graph_store_address: str | None
    feature_store_address: str | None
    reused: bool = False


# ---- compute engine ------------------------------------------------------------------------------------
@dataclass
class TrialRequest:
    """One trainer job: a GNN trial (``train``) or the baseline (``baseline``).

    Attributes:
        job_id: the training job's id.
        number: the trial number (the baseline is -1).
        kind: ``train`` or ``baseline``.
        task_type: the plan's task.
        training_table_uri: the training table.
        table_uris: table -> table artifact (the baseline reads the entity table).
        graph: the materialized graph (None for the baseline).
        stores: the running store servers (None for the baseline).
        params: the trial's hyperparameters (``model_plan``).
        output_uri: where the job writes its artifact.
        spec_uri: where its job spec is stored.
        seed: the random seed.
    """

    job_id: str
    number: int
    kind: str
    task_type: str
    training_table_uri: str
    table_uris: dict[str, str]
    params: dict[str, Any]
    output_uri: str
    spec_uri: str
    graph: MaterializeOutcome | None = None
    stores: StoresOutcome | None = None
    seed: int = 0


@dataclass
class TrialOutcome:
    """A finished trainer job: its metrics (holdout, and validation when the job reports them) and curves."""

    number: int
    kind: str
    status: str
    output_uri: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    error: str = ""
    started_at: str | None = None
    finished_at: str | None = None


@dataclass
class AskTrialsRequest:
    """Draw the next round of an AutoML search (:func:`compute_engine.automl.ask_trials`).

    Attributes:
        study: the job's Optuna study.
        run_mode: the search's run mode.
        count: trials to draw.
        metric: the selection metric (its direction steers the search).
        seed: the search's seed.
    """

    study: str
    run_mode: str
    count: int
    metric: str
    seed: int = 0


@dataclass
class AskedTrial:
    """One drawn trial: its number in the study and its model plan."""

    number: int
    params: dict[str, Any]


@dataclass
class TellTrialsRequest:
    """Report a round's validation metrics to the study: ``values[i]`` of trial ``numbers[i]`` (None: failed)."""

    study: str
    metric: str
    numbers: list[int]
    values: list[float | None]
    seed: int = 0


@dataclass
class SelectionRequest:
    """Pick the best trial by the plan's selection metric."""

    metrics: list[str]
    trials: list[TrialOutcome]
    baseline: TrialOutcome | None


@dataclass
class Selection:
    """The chosen trial and the holdout metrics of the chosen model beside the baseline's."""

    chosen_trial_number: int
    model_uri: str
    selection_metric: str
    metrics: dict[str, Any]
    baseline: dict[str, Any] | None


@dataclass
class PredictJobRequest:
    """Score a prediction table with a trained model (a ``predict`` trainer job)."""

    job_id: str
    task_type: str
    model_uri: str
    prediction_table_uri: str
    table_uris: dict[str, str]
    graph: MaterializeOutcome | None
    stores: StoresOutcome | None
    output_uri: str
    spec_uri: str


@dataclass
class PredictJobOutcome:
    output_uri: str
    predictions_uri: str | None
    rows: int | None
    files: list[str] = field(default_factory=list)


# ---- control -------------------------------------------------------------------------------------------
@dataclass
class CompileRequest:
    """Compile a query against a graph schema."""

    text: str
    schema: dict[str, Any]
    anchor_step_seconds: int | None = None


@dataclass
class CompileOutcome:
    plan: dict[str, Any]
    task_type: str
    metrics: list[str]
    entity: str


@dataclass
class JobRecord:
    """A change of a training or prediction job's row in the metadata DB.

    Attributes:
        kind: ``training``, ``prediction`` or ``update`` (a graph update).
        job_id: the row's id (nothing is written when empty: a workflow run without a DB row).
        status: the new job status (None: unchanged).
        progress: the per-step states (None: unchanged).
        error: the failure message.
        workflow_id: the workflow running the job.
        started: stamp ``started_at``; finished: stamp ``finished_at``.
        selection: the chosen model and metrics (training).
        outputs: what a prediction job wrote.
        tables: table name -> the ingested table artifact the job uses (its registered table's row is
            updated: status, rows, inferred types and statistics).
        changed_tables: the tables whose sources had new content (graph updates).
    """

    kind: str
    job_id: str
    status: str | None = None
    progress: list[StepState] | None = None
    error: str | None = None
    workflow_id: str | None = None
    started: bool = False
    finished: bool = False
    selection: Selection | None = None
    outputs: dict[str, Any] | None = None
    tables: dict[str, str] | None = None
    changed_tables: list[str] | None = None


@dataclass
class TrialRecord:
    """A trial's row: queued, running or its outcome."""

    job_id: str
    number: int
    status: str
    params: dict[str, Any] = field(default_factory=dict)
    outcome: TrialOutcome | None = None


# ---- workflows -----------------------------------------------------------------------------------------
@dataclass
class TrainPQueryInput:
    """Train a predictive query end to end.

    Attributes:
        job_id: the training job's id (its row gets progress and results; ``""`` for none).
        query: the PQL text.
        schema: the graph schema JSON it is compiled against.
        tables: where every table of the schema comes from.
        run_mode: ``fast``, ``normal`` or ``best`` (how many trials, how long each).
        boundaries: split boundaries (:class:`data_engine.training_table.SplitBoundaries` fields), or None.
        anchor_step_seconds: the anchor step of a temporal query (None: the target window).
        trial_kind: ``train`` (GNN trials) or ``baseline`` (LightGBM trials only, e.g. for tests without a GNN).
        trials: explicit trial hyperparameters (None: the run mode's search space).
        seed: the seed of the split and the trials.
    """

    job_id: str
    query: str
    schema: dict[str, Any]
    tables: list[TableSource]
    run_mode: str = "fast"
    boundaries: dict[str, Any] | None = None
    anchor_step_seconds: int | None = None
    trial_kind: str = "train"
    trials: list[dict[str, Any]] | None = None
    seed: int = 0


@dataclass
class TrainPQueryResult:
    """What training produced: the plan, the artifacts it used, every trial, and the selection."""

    job_id: str
    plan: dict[str, Any]
    table_uris: dict[str, str]
    graph: MaterializeOutcome
    training_table: TrainingTableOutcome
    trials: list[TrialOutcome]
    baseline: TrialOutcome | None
    selection: Selection
    progress: list[StepState]


@dataclass
class PredictInput:
    """Score entities with a trained model.

    Attributes:
        job_id: the prediction job's id (``""`` for none).
        plan: the compiled plan (from the training job).
        schema: the graph schema.
        tables: where the tables come from (re-ingested when their source changed).
        model_uri: the trained model.
        anchor_time: when to score (ISO; None: the newest data).
    """

    job_id: str
    plan: dict[str, Any]
    schema: dict[str, Any]
    tables: list[TableSource]
    model_uri: str
    anchor_time: str | None = None


@dataclass
class PredictResult:
    job_id: str
    prediction_table: PredictionTableOutcome
    outputs: PredictJobOutcome
    progress: list[StepState]


@dataclass
class IncrementalUpdateInput:
    """New source rows arrived: re-ingest, materialize again (unchanged artifacts are kept), then optionally
    retrain and re-predict.

    Attributes:
        schema: the graph schema.
        tables: the sources (their new content is picked up by ingestion's content fingerprint).
        retrain: a training run to start on the updated graph (its ``schema`` and ``tables`` are replaced by
            these), or None.
        predict: a prediction run to start after retraining (its ``model_uri`` is the new model when
            retraining), or None.
        job_id: the graph update's row in the metadata DB (``""``: none; nothing is recorded).
    """

    schema: dict[str, Any]
    tables: list[TableSource]
    retrain: TrainPQueryInput | None = None
    predict: PredictInput | None = None
    job_id: str = ""


@dataclass
class IncrementalUpdateResult:
    table_uris: dict[str, str]
    changed_tables: list[str]
    graph: MaterializeOutcome
    training: TrainPQueryResult | None
    prediction: PredictResult | None
    progress: list[StepState]
