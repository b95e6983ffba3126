"""Artifacts: folders in the object store (manifest written last) that jobs produced."""

from __future__ import annotations

from typing import Any

from control_plane.api.schemas.common import Resource


class ArtifactOut(Resource):
    kind: str
    uri: str
    producer: str
    content_hash: str | None
    size_bytes: int | None
    manifest: dict[str, Any] | None
    training_job_id: str | None
    prediction_job_id: str | None
