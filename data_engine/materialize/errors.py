"""Errors of the materialization jobs."""

from platform_core.errors import UserFacingError


class MaterializeError(UserFacingError, RuntimeError):
    """The inputs of a materialization job do not fit together (schema vs tables, index vs table); the
    message names the table or column."""
