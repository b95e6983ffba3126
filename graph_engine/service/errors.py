"""Errors of the store services, and how server-side errors keep their type across the wire.

A server answers a failed request with a Flight error whose ``extra_info`` names the error's kind
(:data:`KINDS`); the client raises the same exception type with the server's message, so code written
against the in-process stores (``except SamplingError``) works unchanged with remote ones.
"""

from __future__ import annotations

import json

from graph_engine.features.store import FeatureLookupError
from graph_engine.graph_store import ReadOnlyStoreError
from graph_engine.sampling.subgraph import SamplingError
from graph_engine.service.wire import WireError
from platform_core.errors import UserFacingError


class StoreServiceError(UserFacingError, RuntimeError):
    """A store server failed a request for a reason other than the request itself; names the address."""


class StoreUnavailableError(StoreServiceError, ConnectionError):
    """A store server cannot be reached (not started, stopped, killed or too slow); names the address."""


class StoreStartError(StoreServiceError):
    """A store server process exited or did not become healthy in time; names its log file."""


#: Errors a server passes back to the client by kind; anything else arrives as StoreServiceError.
KINDS: dict[str, type[Exception]] = {
    "SamplingError": SamplingError,
    "FeatureLookupError": FeatureLookupError,
    "ReadOnlyStoreError": ReadOnlyStoreError,
    "WireError": WireError,
    "KeyError": KeyError,
}


def error_info(exc: BaseException, message: str | None = None) -> bytes:
    """The ``extra_info`` that tells the client which kind of error to raise, and its message."""
    kind = next((name for name, cls in KINDS.items() if type(exc) is cls), None)
    if kind is None:
        kind = next((name for name, cls in KINDS.items() if isinstance(exc, cls)), "")
    return json.dumps({"kind": kind, "message": error_message(exc) if message is None else message}).encode()


def error_message(exc: BaseException) -> str:
    """The message of ``exc`` without the quotes ``KeyError`` adds."""
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


def reported(extra_info: bytes | None) -> tuple[type[Exception] | None, str | None]:
    """The exception type (None when not one of :data:`KINDS`) and message a server reported."""
    try:
        info = json.loads(extra_info or b"{}")
    except ValueError:
        return None, None
    if not isinstance(info, dict):
        return None, None
    return KINDS.get(info.get("kind", "")), info.get("message")
