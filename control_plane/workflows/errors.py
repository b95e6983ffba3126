"""How job workflows read the failures of their activities and children: cancelled, or failed with which message."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
)


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` (an activity's or child's failure) is, at its root, a cancellation."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, CancelledError):
            return True
        current = current.cause if isinstance(current, FailureError) else current.__cause__
        seen += 1
    return False


def root_cause(exc: BaseException) -> BaseException:
    """The innermost failure under activity and child-workflow wrappers."""
    current = exc
    for _ in range(10):
        if isinstance(current, (ActivityError, ChildWorkflowError)) and current.cause is not None:
            current = current.cause
        else:
            break
    return current


def failure_message(exc: BaseException) -> str:
    """The message to show for a failed step: the root cause's message (a user error's own words)."""
    root = root_cause(exc)
    message = root.message if isinstance(root, FailureError) else str(root)
    return message or type(root).__name__


def failure_type(exc: BaseException) -> str:
    """The error type of the root cause (``PQLError``, ``IngestError``...)."""
    root = root_cause(exc)
    if isinstance(root, ApplicationError) and root.type:
        return root.type
    return type(root).__name__


def is_non_retryable(exc: BaseException) -> bool:
    """Whether the root cause was marked non-retryable (a user's mistake)."""
    root = root_cause(exc)
    return isinstance(root, ApplicationError) and root.non_retryable
