"""The client side of one store server: a lazily opened Flight connection with error translation.

One :class:`FlightConnection` per remote store object; its gRPC channel is opened on first use and
reused by every call and every thread of the process. A process started with a fork after gRPC was used
cannot use gRPC at all (its state does not survive a fork: a new channel hangs), so there a call raises
at once, asking for DataLoader workers started with ``multiprocessing_context="forkserver"`` (or
``"spawn"``): such workers receive the stores pickled, as addresses, and open their own channels.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl

from graph_engine.service.errors import StoreServiceError, StoreUnavailableError, reported
from graph_engine.service.wire import command, pack, unpack

#: How long one call may take by default before the server counts as unreachable.
DEFAULT_TIMEOUT_S = 120.0
_SCHEMES = ("grpc://", "grpc+tcp://")
# Whether this process has opened a gRPC channel, and whether it was forked from one that had.
_grpc_used = False
_forked_after_grpc = False


def _after_fork_in_child() -> None:
    global _forked_after_grpc
    _forked_after_grpc = _forked_after_grpc or _grpc_used


os.register_at_fork(after_in_child=_after_fork_in_child)


def normalize_address(address: str) -> str:
    """``host:port``, ``grpc://host:port`` or ``grpc+tcp://host:port`` as ``grpc://host:port``.

    Raises:
        StoreServiceError: not a host and port.
    """
    text = str(address).strip()
    for scheme in _SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme):]
            break
    host, sep, port = text.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise StoreServiceError(f"store address {address!r}: expected host:port or grpc://host:port")
    return f"grpc://{host}:{int(port)}"


def _reason(exc: BaseException) -> str:
    text = str(exc).split(". gRPC client debug context")[0].split(". Detail:")[0]
    text = text.replace("Flight returned unavailable error, with message: ", "")
    text = text.replace("Flight returned timeout error, with message: ", "")
    last = text.rpartition("last error: ")[2]
    return (last or text).strip()[:200] or type(exc).__name__


class FlightConnection:
    """Calls to one store server.

    Args:
        address: ``host:port`` or ``grpc://host:port``.
        what: what the server serves, for messages (``"graph store"``).
        timeout_s: the longest one call may take; None waits forever.

    Raises:
        StoreServiceError: a malformed address.
    """

    def __init__(self, address: str, what: str, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        self.address = normalize_address(address)
        self.what = what
        self.timeout_s = timeout_s
        self._client: fl.FlightClient | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self._options = fl.FlightCallOptions(timeout=timeout_s)

    @property
    def client(self) -> fl.FlightClient:
        """The Flight client of this process (opened on first use).

        Raises:
            StoreServiceError: this process was forked from one that had used gRPC.
        """
        global _grpc_used
        if self._client is None or self._pid != os.getpid():
            if _forked_after_grpc:
                raise StoreServiceError(
                    f"{self.what} at {self.address}: this process was forked after its parent used gRPC, which "
                    "cannot work; start DataLoader workers with multiprocessing_context='forkserver' (or 'spawn')")
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    self._client = fl.FlightClient(self.address)
                    self._pid = os.getpid()
                    _grpc_used = True
        return self._client

    def close(self) -> None:
        """Close the channel (a later call opens a new one)."""
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except (fl.FlightUnavailableError, fl.FlightTimedOutError, fl.FlightCancelledError) as exc:
            raise StoreUnavailableError(f"{self.what} at {self.address} is unreachable during {what} "
                                        f"({_reason(exc)}); is its server running?") from None
        except fl.FlightServerError as exc:
            cls, message = reported(exc.extra_info)
            if cls is not None:
                raise cls(message) from None
            raise StoreServiceError(f"{self.what} at {self.address}: {message or _reason(exc)}") from None
        except fl.FlightError as exc:
            raise StoreServiceError(f"{self.what} at {self.address} failed {what}: {_reason(exc)}") from None
        except pa.ArrowIOError as exc:
            # A server that dies mid-stream surfaces as an IO error of the stream.
            raise StoreUnavailableError(f"{self.what} at {self.address} is unreachable during {what} "
                                        f"({_reason(exc)}); is its server running?") from None

    def action(self, name: str, body: Mapping[str, Any] | None = None) -> Any:
        """Run a JSON action and return its JSON answer.

        Raises:
            StoreUnavailableError: the server cannot be reached.
            StoreServiceError: the server failed the call.
        """
        payload = json.dumps(dict(body or {})).encode()
        with self._translated(f"{name!r}"):
            results = list(self.client.do_action(fl.Action(name, payload), options=self._options))
        return json.loads(results[0].body.to_pybytes()) if results else None

    def exchange(self, op: str, arrays: Mapping[str, np.ndarray] | None = None,
                 **fields: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One round trip: send named arrays for operation ``op``, receive named arrays and a header.

        The received arrays are read-only views of the received buffers.

        Raises:
            StoreUnavailableError: the server cannot be reached.
            StoreServiceError: the server failed the call.
            SamplingError, FeatureLookupError, ...: the server rejected the request (same type as
                the in-process store raises).
        """
        batch, schema = self._round_trip(op, arrays, fields, table=False)
        return unpack(batch, schema)

    def exchange_table(self, op: str, arrays: Mapping[str, np.ndarray] | None = None, **fields: Any) -> pa.Table:
        """Like :meth:`exchange`, for operations answering with an Arrow table."""
        table, _ = self._round_trip(op, arrays, fields, table=True)
        return table

    def _round_trip(self, op: str, arrays: Mapping[str, np.ndarray] | None, fields: dict[str, Any],
                    table: bool) -> tuple[Any, pa.Schema]:
        request = pack(arrays or {})
        descriptor = fl.FlightDescriptor.for_command(command(op, **fields))
        with self._translated(f"{op!r}"):
            writer, reader = self.client.do_exchange(descriptor, options=self._options)
            try:
                writer.begin(request.schema)
                writer.write_batch(request)
                writer.done_writing()
                answer = reader.read_all() if table else reader.read_chunk().data
                schema = reader.schema
            except BaseException:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    writer.close()
                raise
            writer.close()
        return answer, schema
