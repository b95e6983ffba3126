"""The client side of one store server: a lazily opened Flight connection with error translation.

One :class:`FlightConnection` per remote store object; its gRPC channel is opened on first use and
reused by every call and every thread of the process. A process started with a fork after gRPC was used
cannot use gRPC at all (its state does not survive a fork: a new channel hangs), so there a call raises
at once, asking for DataLoader workers started with ``multiprocessing_context="forkserver"`` (or
``"spawn"``): such workers receive the stores pickled, as addresses, and open their own channels.

Requests travel over *sessions*: one ``do_exchange`` stream per connection and thread, kept open and
carrying one frame each way per request (:func:`~graph_engine.service.wire.encode`). A new gRPC call per
request costs several times what the transport of a mini-batch does (stream set-up, schema and IPC
handling on both sides), and it is what the remote stores pay once per mini-batch. One daemon thread
per process (the watchdog) enforces each request's timeout by cancelling its stream, and closes
sessions idle for :data:`IDLE_CLOSE_S`: a server waits for open streams when it stops.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
import weakref
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl

from graph_engine.service.errors import KINDS, StoreServiceError, StoreUnavailableError, reported
from graph_engine.service.wire import ANSWER, FAILURE, REQUEST, SESSION, WireError, command, decode, encode, pack, unpack

#: gRPC experiments switched off in every process that imports the clients or servers (unless it sets
#: ``GRPC_EXPERIMENTS`` itself; server processes inherit it): with gRPC's EventEngine client and listener a
#: loopback round trip took ~0.23 ms, without them ~0.14 ms, as much as the rest of a mini-batch's trip.
#: It takes effect where gRPC starts after this import, as in processes that use gRPC only through these.
GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener"
os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)

#: How long one call may take by default before the server counts as unreachable.
DEFAULT_TIMEOUT_S = 120.0
#: Sessions idle this long are closed (a server stopping waits for open ones); the next request reopens.
IDLE_CLOSE_S = 1.0
#: How often the watchdog looks at the open sessions: the resolution of timeouts and idle closing.
WATCH_PERIOD_S = 0.25
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


class _Session:
    """One session stream of one connection, opened by one thread and used by one thread at a time.

    ``lock`` guards the state the watchdog reads: whether a request is in flight (and since when),
    when the last one ended, and whether the stream is closed (then no thread uses it again).
    """

    def __init__(self, writer: fl.FlightStreamWriter, reader: fl.FlightStreamReader, generation: int,
                 timeout_s: float | None) -> None:
        self.writer, self.reader = writer, reader
        self.generation = generation
        self.timeout_s = timeout_s
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.busy_since: float | None = None
        self.last_used = time.monotonic()
        self.closed = False
        self.timed_out = False
        self.used = False

    def acquire(self) -> bool:
        """Mark a request in flight; False when the session was closed meanwhile."""
        with self.lock:
            if self.closed:
                return False
            self.busy_since = time.monotonic()
            return True

    def release(self, reusable: bool) -> None:
        """End the request in flight; close the stream unless it may carry the next one."""
        with self.lock:
            self.busy_since = None
            self.last_used = time.monotonic()
            if reusable and not self.timed_out:
                return
            self.closed = True
        self._end()

    def check(self, now: float, idle_s: float) -> bool:
        """The watchdog's look: cancel a request past its timeout, close the stream when idle for
        ``idle_s``. Returns whether the session is closed."""
        with self.lock:
            if self.closed:
                return True
            if self.busy_since is not None:
                if self.timeout_s is not None and not self.timed_out and now - self.busy_since > self.timeout_s:
                    self.timed_out = True
                    self.reader.cancel()  # the waiting thread's read fails at once
                return False
            if now - self.last_used < idle_s:
                return False
            self.closed = True
        self._end()
        return True

    def _end(self) -> None:
        with contextlib.suppress(Exception):  # a broken stream has nothing left to end
            self.writer.done_writing()
        with contextlib.suppress(Exception):
            self.writer.close()


class _Watchdog:
    """The open sessions of this process and the daemon thread that times out and closes them.

    The thread runs while sessions are open and exits when none are left.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self._running = False
        self._pid = os.getpid()

    def add(self, session: _Session) -> None:
        """Watch a newly opened session."""
        with self._lock:
            if self._pid != os.getpid():  # threads do not survive a fork; the parent's sessions are its own
                self._pid, self._sessions, self._running = os.getpid(), set(), False
            self._sessions.add(session)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="pq-store-sessions", daemon=True).start()

    def close_idle(self) -> None:
        """Close every session of this process that has no request in flight."""
        self._sweep(idle_s=0.0)

    def _sweep(self, idle_s: float) -> bool:
        """Look at every session once; False when none is left open."""
        with self._lock:
            if self._pid != os.getpid():
                return False
            sessions = list(self._sessions)
        closed = [session for session in sessions if session.check(time.monotonic(), idle_s)]
        with self._lock:
            self._sessions.difference_update(closed)
            if self._sessions:
                return True
            self._running = False
            return False

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_PERIOD_S)
            if not self._sweep(IDLE_CLOSE_S):
                return


_WATCHDOG = _Watchdog()


def close_idle_sessions() -> None:
    """Close this process's sessions that have no request in flight (their next request reopens one).

    A server stops only once every stream to it is closed: an in-process server calls this first.
    """
    _WATCHDOG.close_idle()


atexit.register(close_idle_sessions)


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
        # Session streams have no deadline (it would end them): the watchdog times out each request.
        self._session_options = fl.FlightCallOptions()
        self._local = threading.local()
        self._sessions: weakref.WeakSet[_Session] = weakref.WeakSet()
        self._generation = 0

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
        """Close the sessions and the channel (a later call opens new ones).

        Sessions with a request in flight in another thread close when it ends.
        """
        with self._lock:
            self._generation += 1
            sessions = list(self._sessions)
        now = time.monotonic()
        for session in sessions:
            if session.pid == os.getpid():
                session.check(now, idle_s=0.0)
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    @contextlib.contextmanager
    def _translated(self, what: str, session: _Session | None = None) -> Iterator[None]:
        try:
            yield
        except (fl.FlightUnavailableError, fl.FlightTimedOutError, fl.FlightCancelledError) as exc:
            reason = _reason(exc)
            if session is not None and session.timed_out:
                reason = f"no answer within {self.timeout_s:g} s"
            raise StoreUnavailableError(f"{self.what} at {self.address} is unreachable during {what} "
                                        f"({reason}); is its server running?") from None
        except StopIteration:
            raise StoreUnavailableError(f"{self.what} at {self.address} is unreachable during {what} "
                                        "(it ended the session); is its server running?") from None
        except fl.FlightServerError as exc:
            cls, message = reported(exc.extra_info)
            if cls is not None:
                raise cls(message) from None
            raise StoreServiceError(f"{self.what} at {self.address}: {message or _reason(exc)}") from None
        except fl.FlightError as exc:
            raise StoreServiceError(f"{self.what} at {self.address} failed {what}: {_reason(exc)}") from None
        except pa.ArrowIOError as exc:
            # A server that dies mid-stream surfaces as an IO error of the stream.
            reason = f"no answer within {self.timeout_s:g} s" if session is not None and session.timed_out \
                else _reason(exc)
            raise StoreUnavailableError(f"{self.what} at {self.address} is unreachable during {what} "
                                        f"({reason}); is its server running?") from None

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
        """One round trip over this thread's session: send named arrays and small JSON-able fields for
        operation ``op``, receive named arrays and a header.

        The received arrays are writable and share one private copy of the answer.

        Raises:
            StoreUnavailableError: the server cannot be reached, or did not answer within the timeout.
            StoreServiceError: the server failed the call.
            SamplingError, FeatureLookupError, ...: the server rejected the request (same type as
                the in-process store raises).
        """
        frame = encode(REQUEST, {"op": op, "fields": fields}, arrays)
        what = f"{op!r}"
        for attempt in range(2):
            session = self._session(what)
            stale_possible = session.used and attempt == 0
            answered = False
            try:
                with self._translated(what, session):
                    session.writer.write_metadata(frame)
                    answer = session.reader.read_chunk().app_metadata
                answered = True
            except StoreUnavailableError:
                # A stream opened before the server restarted breaks on first use: one retry on a new one.
                if stale_possible and not session.timed_out:
                    continue
                raise
            finally:
                session.release(answered and session.generation == self._generation)
            session.used = True
            kind, header, out = decode(b"" if answer is None else answer)
            if kind == FAILURE:
                cls, message = KINDS.get(header.get("kind", "")), header.get("message")
                if cls is not None:
                    raise cls(message)
                raise StoreServiceError(f"{self.what} at {self.address}: {message}")
            if kind != ANSWER:
                raise WireError(f"{self.what} at {self.address} answered {op!r} with a frame of kind {kind}")
            return out, header
        raise AssertionError("unreachable")  # the second attempt returns or raises

    def _session(self, what: str) -> _Session:
        """This thread's open session, marked busy (opened when there is none)."""
        session: _Session | None = getattr(self._local, "session", None)
        if (session is not None and session.pid == os.getpid() and session.generation == self._generation
                and session.acquire()):
            return session
        client = self.client
        with self._translated(what):
            writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(SESSION),
                                                options=self._session_options)
        session = _Session(writer, reader, self._generation, self.timeout_s)
        session.acquire()
        self._local.session = session
        self._sessions.add(session)
        _WATCHDOG.add(session)
        return session

    def exchange_bulk(self, op: str, arrays: Mapping[str, np.ndarray] | None = None,
                      **fields: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Like :meth:`exchange`, for answers of megabytes: a call of its own, whose arrays travel as an
        Arrow IPC body without the two copies a session frame makes (into the frame, out of it).

        The received arrays are read-only views of the received buffers.

        Raises:
            StoreUnavailableError: the server cannot be reached.
            StoreServiceError: the server failed the call.
            SamplingError, FeatureLookupError, ...: the server rejected the request.
        """
        batch, schema = self._round_trip(op, arrays, fields, table=False)
        return unpack(batch, schema)

    def exchange_table(self, op: str, arrays: Mapping[str, np.ndarray] | None = None, **fields: Any) -> pa.Table:
        """Like :meth:`exchange`, for operations answering with an Arrow table (a call of its own)."""
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
