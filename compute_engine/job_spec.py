"""The job spec: everything one trainer, predictor or baseline process needs, as one small JSON document.

A job process receives nothing but the URI of its spec (``python -m services.trainer --spec URI``) and its
``PQ_*`` settings; the spec names the inputs (training table, table artifacts, graph and feature artifacts
or store addresses), the model plan, where to write, and what the process may use (device, resources,
node selector). The spec is stored as an artifact (``job_spec.json`` plus the manifest, written last), so a
half-written spec is never read.

Example::

    spec = JobSpec(kind="baseline", job_id="j-42", task_type=TaskType.BINARY_CLASSIFICATION,
                   training_table_uri="s3://pq/tt/churn", output_uri="s3://pq/jobs/j-42/baseline",
                   table_uris={"customers": "s3://pq/tables/customers"})
    write_job_spec(store, "s3://pq/jobs/j-42/spec", spec)
    spec = read_job_spec(store, "s3://pq/jobs/j-42/spec")
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

from platform_core.artifacts import ArtifactError, ArtifactNotFoundError, ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore
from pql.task import TaskType

__all__ = ["JobSpec", "Resources", "GraphInputs", "JobSpecError", "JobKind", "Device", "write_job_spec",
           "read_job_spec", "SPEC_FILE", "SPEC_PRODUCER", "SPEC_VERSION"]

SPEC_FILE = "job_spec.json"
SPEC_PRODUCER = "compute_engine.job_spec"
SPEC_VERSION = 1

JobKind = Literal["train", "predict", "baseline"]
Device = Literal["auto", "cpu", "cuda"]

# Kubernetes quantities: "4Gi", "512M", "1.5", "500m", "2e3".
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([eE][0-9]+|[kMGTPE]i?|m)?$")
# A label key: an optional DNS-subdomain prefix and a name of at most 63 characters.
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_JOB_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")


class JobSpecError(UserFacingError, ValueError):
    """A job spec is missing, malformed or inconsistent; the message names the field."""


def _check_uri(value: Any, where: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.startswith(("file://", "s3://")):
        raise JobSpecError(f"{where}: expected an absolute file:// or s3:// URI, got {value!r}")


def check_label(key: Any, value: Any, where: str) -> None:
    """Check one Kubernetes-style label (also used for node selectors and job labels).

    Raises:
        JobSpecError: the key or value is not a valid label key or value.
    """
    if not isinstance(key, str) or not isinstance(value, str):
        raise JobSpecError(f"{where}: label keys and values must be strings, got {key!r}: {value!r}")
    prefix, _, name = key.rpartition("/")
    if (prefix and not _LABEL_PREFIX.match(prefix)) or not _LABEL_NAME.match(name):
        raise JobSpecError(f"{where}: {key!r} is not a valid label key (name of at most 63 letters, digits, "
                           "'-', '_', '.', with an optional DNS prefix and '/')")
    if not _LABEL_VALUE.match(value):
        raise JobSpecError(f"{where}: {value!r} (for {key!r}) is not a valid label value (at most 63 letters, "
                           "digits, '-', '_', '.', beginning and ending with a letter or digit)")


@dataclass(frozen=True)
class Resources:
    """What a job asks for: CPU cores, memory (a Kubernetes quantity such as ``"8Gi"``) and GPUs.

    Raises:
        JobSpecError: a non-positive CPU count, a malformed memory quantity or a negative GPU count.
    """

    cpu: float = 1.0
    memory: str = "4Gi"
    gpu: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.cpu, bool) or not isinstance(self.cpu, (int, float)) or not self.cpu > 0:
            raise JobSpecError(f"resources.cpu: expected a positive number of cores, got {self.cpu!r}")
        if not isinstance(self.memory, str) or not _QUANTITY.match(self.memory):
            raise JobSpecError(f"resources.memory: expected a quantity such as '4Gi' or '512Mi', got {self.memory!r}")
        if isinstance(self.gpu, bool) or not isinstance(self.gpu, int) or self.gpu < 0:
            raise JobSpecError(f"resources.gpu: expected a whole number of GPUs >= 0, got {self.gpu!r}")


@dataclass(frozen=True)
class GraphInputs:
    """Where a GNN job finds the graph and features: materialized artifacts, or running stores.

    Attributes:
        graph_uri: the materialized graph artifact (CSR edges per link).
        features_uri: the materialized feature artifact.
        index_uri: the folder of the node index artifacts (``<index_uri>/<table>``: key -> node index).
        graph_store_address: ``host:port`` of a running graph store (remote sampling), if any.
        feature_store_address: ``host:port`` of a running feature store, if any.
        index_uris, feature_uris: table -> its node index / feature artifact; they take precedence over the
            folders (a graph updated incrementally keeps the artifacts of unchanged tables where they were).
    """

    graph_uri: str | None = None
    features_uri: str | None = None
    index_uri: str | None = None
    graph_store_address: str | None = None
    feature_store_address: str | None = None
    index_uris: dict[str, str] | None = None
    feature_uris: dict[str, str] | None = None

    def __post_init__(self) -> None:
        _check_uri(self.graph_uri, "graph.graph_uri", optional=True)
        _check_uri(self.features_uri, "graph.features_uri", optional=True)
        _check_uri(self.index_uri, "graph.index_uri", optional=True)
        for name in ("index_uris", "feature_uris"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise JobSpecError(f"graph.{name}: expected an object of table -> URI, got {value!r}")
            for table, uri in value.items():
                _check_uri(uri, f"graph.{name}.{table}")
        for name in ("graph_store_address", "feature_store_address"):
            value = getattr(self, name)
            if value is None:
                continue
            host, sep, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise JobSpecError(f"graph.{name}: expected host:port, got {value!r}")

    def index_location(self, table: str) -> str | None:
        """The node index artifact of ``table`` (None when the spec names none)."""
        if self.index_uris and table in self.index_uris:
            return self.index_uris[table]
        return f"{self.index_uri.rstrip('/')}/{table}" if self.index_uri else None


@dataclass(frozen=True)
class JobSpec:
    """One job's complete instructions.

    Attributes:
        kind: ``train`` (a GNN trial), ``predict`` (score a prediction table with a model) or ``baseline``
            (LightGBM on the entity table's own columns).
        job_id: the platform's id of the job (labels, logs); letters, digits, ``-_.``, at most 63 characters.
        task_type: the query's task (:class:`pql.TaskType`).
        output_uri: the artifact the job writes (checkpoint, metrics, predictions...).
        training_table_uri: the training table artifact (``train`` and ``baseline``).
        prediction_table_uri: the prediction table artifact (``predict``).
        model_uri: the trained model artifact to apply (``predict``).
        table_uris: table name -> ingested table artifact (the baseline reads the entity table from it).
        graph: the graph and feature artifacts or store addresses (GNN jobs).
        model_plan: hyperparameters (JSON values); the baseline reads its own under ``"baseline"``.
        seed: the random seed.
        device: ``auto`` (a GPU when there is one), ``cpu`` or ``cuda``.
        resources: CPU, memory and GPUs the job asks for.
        node_selector: node labels the job must run on (Kubernetes), from the plan.
        version: the spec format version.

    Raises:
        JobSpecError: any field is invalid, or a field the kind needs is missing.
    """

    kind: JobKind
    job_id: str
    task_type: TaskType
    output_uri: str
    training_table_uri: str | None = None
    prediction_table_uri: str | None = None
    model_uri: str | None = None
    table_uris: dict[str, str] = field(default_factory=dict)
    graph: GraphInputs = field(default_factory=GraphInputs)
    model_plan: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: Device = "auto"
    resources: Resources = field(default_factory=Resources)
    node_selector: dict[str, str] = field(default_factory=dict)
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        if self.kind not in get_args(JobKind):
            raise JobSpecError(f"kind: expected one of {', '.join(get_args(JobKind))}, got {self.kind!r}")
        if not isinstance(self.job_id, str) or not _JOB_ID.match(self.job_id):
            raise JobSpecError(f"job_id: expected at most 63 letters, digits, '-', '_', '.', got {self.job_id!r}")
        try:
            object.__setattr__(self, "task_type", TaskType(self.task_type))
        except ValueError:
            raise JobSpecError(f"task_type: expected one of {', '.join(t.value for t in TaskType)}, "
                               f"got {self.task_type!r}") from None
        _check_uri(self.output_uri, "output_uri")
        _check_uri(self.training_table_uri, "training_table_uri", optional=True)
        _check_uri(self.prediction_table_uri, "prediction_table_uri", optional=True)
        _check_uri(self.model_uri, "model_uri", optional=True)
        if not isinstance(self.table_uris, dict):
            raise JobSpecError(f"table_uris: expected a mapping of table name to URI, got {self.table_uris!r}")
        for name, uri in self.table_uris.items():
            _check_uri(uri, f"table_uris[{name!r}]")
        if not isinstance(self.graph, GraphInputs):
            raise JobSpecError("graph: expected GraphInputs")
        if not isinstance(self.model_plan, dict):
            raise JobSpecError(f"model_plan: expected a mapping of hyperparameters, got {self.model_plan!r}")
        try:
            json.dumps(self.model_plan, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise JobSpecError(f"model_plan: not JSON-serializable ({exc})") from None
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise JobSpecError(f"seed: expected a whole number >= 0, got {self.seed!r}")
        if self.device not in get_args(Device):
            raise JobSpecError(f"device: expected one of {', '.join(get_args(Device))}, got {self.device!r}")
        if not isinstance(self.resources, Resources):
            raise JobSpecError("resources: expected Resources")
        if not isinstance(self.node_selector, dict):
            raise JobSpecError(f"node_selector: expected a mapping of label to value, got {self.node_selector!r}")
        for key, value in self.node_selector.items():
            check_label(key, value, "node_selector")
        if self.version != SPEC_VERSION:
            raise JobSpecError(f"version: this platform reads job spec version {SPEC_VERSION}, got {self.version!r}")
        self._check_kind_inputs()

    def _check_kind_inputs(self) -> None:
        needed = {"train": ("training_table_uri",), "baseline": ("training_table_uri",),
                  "predict": ("prediction_table_uri", "model_uri")}[self.kind]
        for name in needed:
            if getattr(self, name) is None:
                raise JobSpecError(f"{name}: a {self.kind} job needs it")

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON values."""
        out = asdict(self)
        out["task_type"] = self.task_type.value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Any) -> JobSpec:
        """Build and validate a spec from JSON values.

        Raises:
            JobSpecError: not a mapping, an unknown or missing field, or an invalid value.
        """
        if not isinstance(raw, dict):
            raise JobSpecError(f"a job spec is a JSON object, got {type(raw).__name__}")
        raw = dict(raw)
        nested = {"graph": GraphInputs, "resources": Resources}
        for name, kind in nested.items():
            if name in raw:
                raw[name] = _build(kind, raw[name], name)
        return _build(cls, raw, "job spec")

    @classmethod
    def from_json(cls, text: str | bytes) -> JobSpec:
        """Parse a spec from its JSON text.

        Raises:
            JobSpecError: not JSON, or not a valid spec.
        """
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise JobSpecError(f"a job spec must be JSON: {exc}") from None
        return cls.from_dict(raw)


def _build(kind: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise JobSpecError(f"{where}: expected a JSON object, got {raw!r}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise JobSpecError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return kind(**raw)
    except TypeError as exc:
        # Only missing required fields reach here; the message names them.
        raise JobSpecError(f"{where}: {str(exc).split(') ', 1)[-1]}") from None


def write_job_spec(store: ObjectStore, uri: str, spec: JobSpec) -> str:
    """Store a spec as an artifact (``job_spec.json``; the manifest is written last).

    Args:
        store: the object store.
        uri: the spec artifact's folder (absolute URI, or a key under the store's root).
        spec: the spec.

    Returns:
        The absolute URI of the spec artifact, the one to hand to the job.
    """
    artifacts = ArtifactStore(store)
    with artifacts.writer(uri, producer=SPEC_PRODUCER, inputs={"job_id": spec.job_id}) as writer:
        writer.write_json(SPEC_FILE, spec.to_dict())
        writer.metadata.update({"kind": spec.kind, "job_id": spec.job_id, "task_type": spec.task_type.value,
                                "version": spec.version})
    return writer.uri


def read_job_spec(store: ObjectStore, uri: str) -> JobSpec:
    """Read and validate the spec artifact at ``uri``.

    Raises:
        JobSpecError: no committed spec artifact at ``uri`` (or an unreadable one), or an invalid spec.
    """
    try:
        artifact = ArtifactStore(store).open(uri)
    except ArtifactNotFoundError:
        raise JobSpecError(f"no job spec at {uri}") from None
    except ArtifactError as exc:
        raise JobSpecError(f"no usable job spec: {exc}") from None
    if artifact.manifest.producer != SPEC_PRODUCER:
        raise JobSpecError(f"{uri} is an artifact of {artifact.manifest.producer}, not a job spec")
    try:
        raw = artifact.read_json(SPEC_FILE)
    except (ArtifactError, ValueError) as exc:
        raise JobSpecError(f"{uri}: unreadable job spec ({exc})") from None
    return JobSpec.from_dict(raw)
