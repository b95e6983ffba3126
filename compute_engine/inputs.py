"""What every job reads: training and prediction tables.

A training table (``data/part-*.parquet``: entity key, ``anchor_time``, ``label``, ``split``; metadata with the
task, the entity table, the ranked table and k) is read whole: it is one row per example, which the job
holds anyway. Its training split can be sampled down to a row budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_engine.training_table.job import DATA_FOLDER, PREDICTION_PRODUCER, TRAINING_PRODUCER
from platform_core.artifacts import Artifact, ArtifactError, ArtifactNotFoundError, ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore
from pql.task import TaskType

__all__ = ["InputError", "TrainingTable", "PredictionTable", "read_training_table", "read_prediction_table",
           "SPLITS"]

SPLITS = ("train", "val", "holdout")
_TRAINING_COLUMNS = ("anchor_time", "label", "split")


class InputError(UserFacingError, RuntimeError):
    """A job cannot run on its inputs; the message says which input and why."""


@dataclass(frozen=True)
class TrainingTable:
    """The examples of a training table, in table order (after sampling the training split).

    Attributes:
        uri: the training table artifact.
        content_hash: its manifest's content hash.
        task_type: its task.
        entity_column: the entity key column.
        entity_table: the entity table's name.
        rank_k: the k of RANK TOP k (ranking queries), else None.
        ranked_table: the table whose keys a ranking label lists, else None.
        table: the columns (entity key, ``anchor_time``, ``label``, ``split``).
        train_rows_total: training rows before sampling.
        metadata: the artifact's manifest metadata.
    """

    uri: str
    content_hash: str
    task_type: TaskType
    entity_column: str
    entity_table: str
    rank_k: int | None
    ranked_table: str | None
    table: pa.Table
    train_rows_total: int
    metadata: dict[str, Any]

    @property
    def split(self) -> np.ndarray:
        return self.table.column("split").to_numpy(zero_copy_only=False)

    @property
    def label_columns(self) -> dict[str, list[str]]:
        """table -> the columns a static label is read from (no model may use them as features)."""
        out: dict[str, list[str]] = {}
        for table, column in self.metadata.get("label_columns") or []:
            out.setdefault(table, []).append(column)
        return out

    def rows(self) -> dict[str, int]:
        split = self.split
        return {name: int((split == name).sum()) for name in SPLITS}


@dataclass(frozen=True)
class PredictionTable:
    """The entities to score: entity key and ``anchor_time`` per row.

    Attributes:
        uri: the prediction table artifact.
        content_hash: its manifest's content hash.
        entity_column: the entity key column.
        entity_table: the entity table's name.
        table: the columns (entity key, ``anchor_time``).
    """

    uri: str
    content_hash: str
    entity_column: str
    entity_table: str
    table: pa.Table


def _open(store: ObjectStore, uri: str, producer: str, what: str) -> Artifact:
    try:
        artifact = ArtifactStore(store).open(uri)
    except ArtifactNotFoundError:
        raise InputError(f"no {what} at {uri}") from None
    except ArtifactError as exc:
        raise InputError(f"no usable {what}: {exc}") from None
    if artifact.manifest.producer != producer:
        raise InputError(f"{uri} is an artifact of {artifact.manifest.producer}, not a {what}")
    return artifact


def _data_parts(artifact: Artifact, columns: list[str], what: str) -> pa.Table:
    parts = [f.name for f in artifact.manifest.files if f.name.startswith(DATA_FOLDER + "/") and f.kind == "parquet"]
    tables = []
    for name in parts:
        part = artifact.read_table(name)
        missing = [c for c in columns if c not in part.column_names]
        if missing:
            raise InputError(f"{artifact.uri}/{name}: a {what} part lacks column(s) {', '.join(missing)}")
        tables.append(part.select(columns))
    if not tables:
        raise InputError(f"{artifact.uri}: the {what} has no data parts")
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def _entity(artifact: Artifact, what: str) -> tuple[str, str]:
    meta = artifact.manifest.metadata
    try:
        return meta["entity_column"], meta["entity"]["table"]
    except (KeyError, TypeError) as exc:
        raise InputError(f"{artifact.uri}: the {what}'s metadata lacks {exc}") from None


def read_training_table(store: ObjectStore, uri: str, *, max_train_rows: int | None = None,
                        seed: int = 0) -> TrainingTable:
    """Read a training table's examples.

    Args:
        store: the object store.
        uri: the training table artifact.
        max_train_rows: the most training rows kept (a seeded uniform sample beyond that; None keeps all).
        seed: the sample's seed.

    Returns:
        The :class:`TrainingTable`.

    Raises:
        InputError: no training table at ``uri``, or one without the expected columns or metadata.
    """
    artifact = _open(store, uri, TRAINING_PRODUCER, "training table")
    meta = artifact.manifest.metadata
    key, entity_table = _entity(artifact, "training table")
    try:
        task = TaskType(meta["task_type"])
    except (KeyError, ValueError) as exc:
        raise InputError(f"{uri}: the training table's metadata lacks a valid task_type ({exc})") from None
    table = _data_parts(artifact, [key, *_TRAINING_COLUMNS], "training table")
    # The data engine drops undefined labels; a null that got through has nothing to learn or score.
    table = table.filter(pc.is_valid(table.column("label")))
    split = table.column("split").to_numpy(zero_copy_only=False)
    train = np.flatnonzero(split == "train")
    if max_train_rows is not None and len(train) > max_train_rows:
        keep = np.sort(np.random.default_rng(seed).choice(train, size=max_train_rows, replace=False))
        rest = np.flatnonzero(split != "train")
        table = table.take(pa.array(np.sort(np.concatenate([keep, rest]))))
    rank_k = meta.get("rank_k")
    return TrainingTable(uri=artifact.uri, content_hash=artifact.manifest.content_hash, task_type=task,
                         entity_column=key, entity_table=entity_table,
                         rank_k=int(rank_k) if rank_k is not None else None, ranked_table=meta.get("ranked_table"),
                         table=table, train_rows_total=len(train), metadata=dict(meta))


def read_prediction_table(store: ObjectStore, uri: str) -> PredictionTable:
    """Read a prediction table (the entities to score and their anchor time).

    Raises:
        InputError: no prediction table at ``uri``, or one without the expected columns or metadata.
    """
    artifact = _open(store, uri, PREDICTION_PRODUCER, "prediction table")
    key, entity_table = _entity(artifact, "prediction table")
    table = _data_parts(artifact, [key, "anchor_time"], "prediction table")
    return PredictionTable(uri=artifact.uri, content_hash=artifact.manifest.content_hash, entity_column=key,
                           entity_table=entity_table, table=table)
