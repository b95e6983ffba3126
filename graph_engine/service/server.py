"""The common part of the store servers: Arrow Flight dispatch, error passing, health, and serving until told to stop.

Each server answers

- actions (``do_action``, small JSON in and out): ``health`` on every server, plus the server's own;
- sessions (``do_exchange`` with the command :data:`~graph_engine.service.wire.SESSION`): one long-lived stream per client thread
  carrying any number of requests, each one frame (:func:`~graph_engine.service.wire.encode`) answered by
  one frame, errors included, so the stream outlives a failed request;
- exchanges (``do_exchange``, one round trip): the command in the ``FlightDescriptor`` names the operation
  (:func:`~graph_engine.service.wire.command`), the client writes one packed batch of arrays
  (:mod:`graph_engine.service.wire`) and the server writes back one packed batch (or an Arrow table).

Both run the same operations; sessions are what the clients use, as a new call per request costs several
times the transport of a mini-batch. Exchanges remain for operations answering with an Arrow table.

Flight serves requests on a pool of gRPC threads, so any number of clients share one server and the one
memory-mapped copy of the artifacts it holds; the compiled kernels take turns (see ``KERNEL_LOCK``) and
each already uses every core.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl

from graph_engine.service.connection import close_idle_sessions
from graph_engine.service.errors import KINDS, error_info, error_message
from graph_engine.service.memory import process_memory
from graph_engine.service.wire import (
    ANSWER,
    FAILURE,
    REQUEST,
    SESSION,
    WireError,
    decode,
    encode,
    pack,
    parse_command,
    unpack,
)
from platform_core.errors import UserFacingError

Arrays = dict[str, np.ndarray]
Action = Callable[[dict[str, Any]], dict[str, Any]]
Exchange = Callable[[Arrays, dict[str, Any]], Arrays | pa.Table]


class StoreServer(fl.FlightServerBase):
    """Base of :class:`~graph_engine.service.graph_server.GraphStoreServer` and
    :class:`~graph_engine.service.feature_server.FeatureStoreServer`.

    Subclasses register their operations with :meth:`_action` and :meth:`_exchange` and describe what
    they serve in :meth:`_describe`. Listening starts in the constructor.

    Args:
        host: the interface to listen on.
        port: the TCP port; 0 lets the kernel choose one (see :attr:`port`).

    Raises:
        OSError: the port cannot be bound.
    """

    #: What the server serves, in messages ("graph store", "feature store").
    kind = "store"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._actions: dict[str, tuple[Action, str]] = {}
        self._exchanges: dict[str, Exchange] = {}
        self._counts: Counter[str] = Counter()
        self._busy: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._started = time.time()
        self._stopping = False
        self.host = host
        try:
            super().__init__(f"grpc://{host}:{int(port)}")
        except pa.ArrowException as exc:
            raise OSError(f"{self.kind}: cannot listen on {host}:{port} ({exc})") from None
        self._action("health", self._health, "status, served artifacts, requests and memory of this server")

    @property
    def address(self) -> str:
        """Where clients connect: ``grpc://host:port``."""
        return f"grpc://{self.host}:{self.port}"

    # ---- registration --------------------------------------------------------------------------
    def _action(self, name: str, handler: Action, doc: str) -> None:
        self._actions[name] = (handler, doc)

    def _exchange(self, name: str, handler: Exchange) -> None:
        self._exchanges[name] = handler

    def _describe(self) -> dict[str, Any]:
        """What the server serves, for health checks."""
        return {}

    # ---- Flight --------------------------------------------------------------------------------
    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return [(name, doc) for name, (_, doc) in self._actions.items()]

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> list[bytes]:
        entry = self._actions.get(action.type)
        if entry is None:
            unknown = KeyError(f"{self.kind}: unknown action {action.type!r}")
            raise fl.FlightServerError(error_message(unknown), extra_info=error_info(unknown))
        body = action.body.to_pybytes() if action.body is not None else b""
        result = self._guarded(action.type, lambda: entry[0](json.loads(body) if body else {}))
        return [json.dumps(result).encode()]

    def do_exchange(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor,
                    reader: fl.MetadataRecordBatchReader, writer: fl.MetadataRecordBatchWriter) -> None:
        if descriptor.command == SESSION:
            self._session(reader, writer)
            return
        op, fields = self._guarded(None, lambda: parse_command(descriptor.command))

        def run() -> pa.RecordBatch | pa.Table:
            arrays, _ = unpack(reader.read_chunk().data, reader.schema)
            # Requests are small next to answers: own writable copies keep the compiled kernels on the
            # signatures they were compiled for (read-only arrays are another type to numba).
            result = self._handler(op)({name: np.array(value) for name, value in arrays.items()}, fields)
            return result if isinstance(result, pa.Table) else pack(result)

        result = self._guarded(op, run)
        writer.begin(result.schema)
        if isinstance(result, pa.Table):
            writer.write_table(result)
        else:
            writer.write_batch(result)

    def _handler(self, op: str) -> Exchange:
        handler = self._exchanges.get(op)
        if handler is None:
            raise KeyError(f"{self.kind}: unknown operation {op!r}")
        return handler

    def _session(self, reader: fl.MetadataRecordBatchReader, writer: fl.MetadataRecordBatchWriter) -> None:
        """Answer the frames of one client thread until it ends the stream (or it breaks)."""
        while True:
            try:
                frame = reader.read_chunk().app_metadata
            except StopIteration:
                return
            except (fl.FlightError, pa.ArrowException):  # the client went away: nobody to answer
                return
            if self._stopping:  # a request after shutdown began is refused like a new call: end the stream
                return
            try:
                writer.write_metadata(self._answer(frame))
            except (fl.FlightError, pa.ArrowException):
                return

    def _answer(self, frame: pa.Buffer | None) -> pa.Buffer:
        """The answer frame to one request frame: the operation's arrays, or the error it raised."""
        op = None
        try:
            kind, header, arrays = decode(b"" if frame is None else frame)
            if kind != REQUEST or not isinstance(header.get("op"), str):
                raise WireError("session message is not a request")
            op, fields = header["op"], header.get("fields") or {}

            def run() -> Arrays:
                result = self._handler(op)(arrays, fields)
                if isinstance(result, pa.Table):
                    raise WireError(f"operation {op!r} answers with a table: call it outside a session")
                return result

            return encode(ANSWER, {}, self._guarded(op, run))
        except fl.FlightServerError as exc:  # what _guarded made of the error
            return encode(FAILURE, json.loads(exc.extra_info or b"{}"))
        except WireError as exc:
            return encode(FAILURE, json.loads(error_info(exc)))

    def shutdown(self) -> None:
        """Stop serving, once the requests in flight are answered.

        Sessions end at their next request, which is refused; idle sessions keep a server from stopping
        until their clients close them: those of this process are closed here, other processes close theirs
        after a second idle (:data:`~graph_engine.service.connection.IDLE_CLOSE_S`).
        """
        self._stopping = True
        close_idle_sessions()
        super().shutdown()

    def _guarded(self, op: str | None, call: Callable[[], Any]) -> Any:
        """Run a request (counted under ``op`` unless None); errors become Flight errors that the client
        turns back into their type."""
        started = time.perf_counter()
        try:
            result = call()
        except fl.FlightError:
            raise
        except (UserFacingError, *KINDS.values()) as exc:
            raise fl.FlightServerError(error_message(exc), extra_info=error_info(exc)) from None
        except Exception as exc:  # a bug: keep the server up, log it, tell the client
            traceback.print_exc(file=sys.stderr)
            message = f"{self.kind} failed: {type(exc).__name__}: {exc}"
            raise fl.FlightServerError(message, extra_info=error_info(exc, message)) from None
        if op is not None:
            with self._counts_lock:
                self._counts[op] += 1
                self._busy[op] += time.perf_counter() - started
        return result

    # ---- health --------------------------------------------------------------------------------
    def _health(self, _: Mapping[str, Any]) -> dict[str, Any]:
        with self._counts_lock:
            requests = dict(self._counts)
            busy = {op: round(seconds, 6) for op, seconds in self._busy.items()}
        return {"status": "ok", "kind": self.kind, "address": self.address, "pid": os.getpid(),
                "uptime_s": round(time.time() - self._started, 3), "requests": requests, "busy_s": busy,
                "memory": process_memory(), **self._describe()}


def serve_until_stopped(server: StoreServer, *, announce: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight and stop (graceful shutdown).

    Call from the main thread of the server's process.

    Args:
        server: a started server.
        announce: told one line when serving starts and one when it stopped (default: print to stdout).
    """
    say = announce or (lambda line: print(line, flush=True))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        say(f"{server.kind} serving at {server.address} (pid {os.getpid()})")
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say(f"{server.kind} at {server.address} stopped")
