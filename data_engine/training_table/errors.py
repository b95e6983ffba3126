"""Errors of the training and prediction table jobs that a user can act on."""

from __future__ import annotations

from platform_core.errors import UserFacingError


class TrainingTableError(UserFacingError, ValueError):
    """The training or prediction table cannot be built from this plan, these tables or these boundaries."""


class AnchorError(TrainingTableError):
    """The data's time range and the split boundaries leave a split without any anchor time."""


class ExpressionError(TrainingTableError):
    """A plan expression tree has a node this job does not know how to evaluate."""
