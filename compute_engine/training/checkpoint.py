"""Model checkpoints as artifacts: state dict, plan and spec (the encoders' metadata) in one folder.

Layout::

    model.pt     torch.save of {"format", "version", "plan": {...}, "spec": "<ModelSpec JSON>", "state_dict"}
    model.json   {"plan": {...}, "spec": {...}} for people and tools that do not load torch

The manifest's metadata holds ``format``, ``task_type``, ``entity_type`` and any extra metadata given
(metrics, the training job's id). A checkpoint holds no data: applying it needs the graph and feature stores,
whose column statistics it does not re-read (they are in the spec).
"""

from __future__ import annotations

import io
import json
from typing import Any

import torch

from compute_engine.model.model import GraphModel, ModelPlan, ModelSpec
from platform_core.artifacts import ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "checkpoint_bytes", "model_from_bytes",
           "FORMAT", "PRODUCER"]

FORMAT = "pq.gnn_checkpoint"
VERSION = 1
PRODUCER = "compute_engine.training"
_FILE = "model.pt"


class CheckpointError(UserFacingError):
    """The artifact is not a checkpoint this version can load."""


def checkpoint_bytes(model: GraphModel) -> bytes:
    """The model serialised (state dict on the CPU, plan and spec)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, "plan": model.plan.to_dict(), "spec": model.spec.to_json(),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, buffer)
    return buffer.getvalue()


def model_from_bytes(data: bytes, map_location: str | torch.device = "cpu") -> GraphModel:
    """Rebuild a model from :func:`checkpoint_bytes` (in eval mode).

    Raises:
        CheckpointError: not a checkpoint, or an unsupported version.
    """
    try:
        raw = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"not a model checkpoint: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError("not a model checkpoint (format mismatch)")
    if raw.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {raw.get('version')} is not supported (expected {VERSION})")
    model = GraphModel(ModelPlan.from_dict(raw["plan"]), ModelSpec.from_json(raw["spec"]))
    model.load_state_dict(raw["state_dict"])
    return model.eval()


def save_checkpoint(model: GraphModel, store: ObjectStore | ArtifactStore, uri: str, *,
                    inputs: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> str:
    """Write the model as an artifact at ``uri`` (manifest last).

    Args:
        model: the model.
        store: the object store (or an artifact store over it).
        uri: where the checkpoint goes.
        inputs: what it was made from (for the manifest; re-running with the same inputs finds it).
        metadata: extra JSON-serialisable metadata for the manifest (metrics, job id).

    Returns:
        The artifact's URI.
    """
    artifacts = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
    with artifacts.writer(uri, producer=PRODUCER, inputs=inputs or {}) as writer:
        writer.write_bytes(_FILE, checkpoint_bytes(model))
        writer.write_json("model.json", {"plan": model.plan.to_dict(), "spec": json.loads(model.spec.to_json())})
        writer.metadata.update({"format": FORMAT, "format_version": VERSION,
                                "task_type": model.spec.task_type.value, "entity_type": model.spec.entity_type,
                                **(metadata or {})})
    return writer.uri


def load_checkpoint(store: ObjectStore | ArtifactStore, uri: str,
                    map_location: str | torch.device = "cpu") -> GraphModel:
    """Load the model saved at ``uri``.

    Raises:
        ArtifactError: no committed artifact there.
        CheckpointError: it is not a model checkpoint.
    """
    artifacts = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
    art = artifacts.open(uri)
    if art.manifest.metadata.get("format") != FORMAT:
        raise CheckpointError(f"{uri}: not a model checkpoint")
    return model_from_bytes(art.read_bytes(_FILE), map_location)
