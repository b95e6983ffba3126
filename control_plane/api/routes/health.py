"""``GET /health``: is the API up, which version is it, and does it reach Temporal."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from control_plane.api.deps import TemporalProbeDep
from control_plane.version import package_version

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The answer of ``GET /health``."""

    status: Literal["ok"]
    version: str
    temporal: Literal["ok", "unreachable"]


@router.get("/health", response_model=Health)
async def health(probe: TemporalProbeDep) -> Health:
    """Report that the API serves; ``temporal`` says whether Temporal answered (checked at most every few s)."""
    temporal = "ok" if await probe.reachable() else "unreachable"
    return Health(status="ok", version=package_version(), temporal=temporal)
