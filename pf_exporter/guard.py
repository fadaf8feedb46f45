"""The one connection guard of the project's HTTP listeners (metrics and admin API).

Every connection gets its own thread; :class:`ConnectionGuard` keeps slow and hostile clients
from piling up, with one watchdog thread per guard:

- at most ``max_connections`` are open at once; optionally at most ``max_waiting`` of them
  (``max_waiting_per_peer`` from one address) may be *waiting*, i.e. not yet inside a request;
- a connection is *waiting* (TLS handshake, request line, headers; or a keep-alive connection
  waiting for its next request), *busy* (inside a request, with or without a deadline), or
  *writing* its answer (with ``write_timeout``: a client that does not read its answer is
  ended, however steadily it trickles);
- at a cap, a new connection ends the one that has waited longest; when none waits, the one
  that has been writing longest past ``write_grace`` while its client lets the send buffer stay
  full (a client not reading its answer); only when every connection is genuinely inside a
  request, or writing to a client that reads, is the new one refused;
- the watchdog ends every connection whose deadline has passed.

An ended connection no longer counts (its thread closes it within moments).
:class:`InFlight` counts the requests under way, for a shutdown that lets them finish.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pf_exporter.http")

WAITING, BUSY, WRITING = "waiting", "busy", "writing"


def has_input(conn: Any) -> bool:
    """Whether a connection has bytes (or an end of file) waiting to be read, without reading them."""
    if isinstance(conn, ssl.SSLSocket) and conn.pending():
        return True
    try:
        fd = conn.fileno()
    except OSError:
        return False
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def can_write(conn: Any) -> bool:
    """Whether a connection's send buffer has room (its client reads what it is sent); False when the
    client has let it fill up, or the socket is gone."""
    try:
        fd = conn.fileno()
    except OSError:
        return False
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(ev & select.POLLOUT for _, ev in poller.poll(0))


def abort_socket(conn: Any) -> None:
    """Make the owner's close(2) reset the connection, dropping what is still queued for a client
    that does not read it (instead of sending it, at the client's pace, after the end)."""
    try:
        socket.socket.setsockopt(conn, socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, TypeError):
        pass


def shutdown_socket(conn: Any) -> None:
    """End a connection from another thread: its owner's blocked read or write fails at once.  The
    plain socket's shutdown, also under TLS: the owner's thread still owns the TLS state."""
    try:
        socket.socket.shutdown(conn, socket.SHUT_RDWR)
    except OSError:
        pass


class _Conn:
    __slots__ = ("since", "deadline", "phase", "peer")

    def __init__(self, since: float, deadline: float | None, phase: str, peer: str | None) -> None:
        self.since = since  # when the current phase began
        self.deadline = deadline
        self.phase = phase
        self.peer = peer


class ConnectionGuard:
    """Bounds one server's connections (see the module docstring).  *name* appears in its log lines
    and its watchdog thread's name; *flag* is the option that sets ``max_connections``."""

    def __init__(self, max_connections: int = 64, header_timeout: float = 10.0, idle_timeout: float = 30.0, *,
                 max_waiting: int | None = None, max_waiting_per_peer: int | None = None,
                 write_timeout: float | None = None, write_grace: float = 1.0, name: str = "http",
                 flag: str = "--web.max-connections", clock: Callable[[], float] = time.monotonic,
                 writable: Callable[[Any], bool] = can_write) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections {max_connections} must be at least 1")
        if header_timeout <= 0 or idle_timeout <= 0 or (write_timeout is not None and write_timeout <= 0):
            raise ValueError("header_timeout, idle_timeout and write_timeout must be > 0 seconds")
        self.max_connections = max_connections
        self.max_waiting = max_waiting
        self.max_waiting_per_peer = max_waiting_per_peer
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.write_grace = write_grace
        self.name = name
        self.flag = flag
        self.clock = clock
        self.writable = writable
        self._lock = threading.Lock()
        self._conns: dict[Any, _Conn] = {}
        self.timed_out = 0  # connections ended by the watchdog
        self.evicted = 0  # connections ended to make room for a new one
        self.refused = 0  # new connections refused: every slot was inside a request
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval = min(0.25, header_timeout / 4)
        self._warned = -float("inf")

    @property
    def open(self) -> int:
        with self._lock:
            return len(self._conns)

    def phases(self) -> dict[str, int]:
        """How many connections are in each phase (waiting, busy, writing)."""
        with self._lock:
            out = {WAITING: 0, BUSY: 0, WRITING: 0}
            for c in self._conns.values():
                out[c.phase] += 1
            return out

    def phase(self, conn: Any) -> str | None:
        with self._lock:
            c = self._conns.get(conn)
            return None if c is None else c.phase

    # --- admission ---------------------------------------------------------------------------

    def admit(self, conn: Any, peer: str | None = None) -> bool:
        """A new connection (from address *peer*): True if it may be served (it then waits for its
        request, for at most ``header_timeout``)."""
        now = self.clock()
        with self._lock:
            waiting = [(c.since, k) for k, c in self._conns.items() if c.phase == WAITING]
            if peer is not None and self.max_waiting_per_peer is not None:
                mine = [w for w in waiting if self._conns[w[1]].peer == peer]
                if len(mine) >= self.max_waiting_per_peer:
                    self._evict(min(mine, key=_first)[1], waiting)
            if self.max_waiting is not None and len(waiting) >= self.max_waiting:
                self._evict(min(waiting, key=_first)[1], waiting)
            if len(self._conns) >= self.max_connections:
                victim = self._victim(now, waiting)
                if victim is None:
                    self.refused += 1
                    self._warn(now, f"every {self.flag} slot is inside a request; refusing a connection")
                    return False
                self._evict(victim, waiting)
                self._warn(now, f"{self.flag} reached; ended the connection that had waited longest for its "
                           "request (or was not reading its answer)")
            self._conns[conn] = _Conn(now, now + self.header_timeout, WAITING, peer)
        return True

    def _victim(self, now: float, waiting: list[tuple[float, Any]]) -> Any:
        """Who makes room for a new connection: the longest waiting one, else the one writing its
        answer longest (past the grace a reading client never needs) to a client that does not
        read it.  (Lock held.)"""
        if waiting:
            return min(waiting, key=_first)[1]
        writers = [(c.since, k) for k, c in self._conns.items()
                   if c.phase == WRITING and now - c.since >= self.write_grace and not self.writable(k)]
        return min(writers, key=_first)[1] if writers else None

    def _evict(self, conn: Any, waiting: list[tuple[float, Any]]) -> None:
        self._end(conn)
        self.evicted += 1
        waiting[:] = [w for w in waiting if w[1] is not conn]

    def evict_oldest(self) -> bool:
        """End the connection that has waited longest (or the stuck writer): e.g. out of descriptors,
        make room for a client that sends its request at once.  False when there is none."""
        now = self.clock()
        with self._lock:
            waiting = [(c.since, k) for k, c in self._conns.items() if c.phase == WAITING]
            victim = self._victim(now, waiting)
            if victim is None:
                return False
            self._evict(victim, waiting)
            return True

    def _warn(self, now: float, message: str) -> None:
        # At most once a minute: a flood must not flood the log as well.  (Called with the lock held.)
        if now - self._warned >= 60.0:
            self._warned = now
            log.warning(message, extra={"listener": self.name, "max_connections": self.max_connections,
                                        "fix": f"raise {self.flag} if this is not an attack"})

    def _end(self, conn: Any) -> None:
        if self._conns.pop(conn).phase == WRITING:
            abort_socket(conn)
        shutdown_socket(conn)

    # --- phases --------------------------------------------------------------------------------

    def _set(self, conn: Any, phase: str, seconds: float | None) -> bool:
        now = self.clock()
        with self._lock:
            c = self._conns.get(conn)
            if c is None:
                return False
            c.phase, c.since = phase, now
            c.deadline = None if seconds is None else now + seconds
            return True

    def busy(self, conn: Any, seconds: float | None = None) -> bool:
        """Inside a request (not evicted for a newcomer), with a deadline of *seconds* or none; False if
        the connection was already ended (timed out or evicted): then it must not be served."""
        return self._set(conn, BUSY, seconds)

    def request_started(self, conn: Any) -> bool:
        """The request has fully arrived: no deadline while it is answered (a scrape takes what it takes)."""
        return self.busy(conn, None)

    def writing(self, conn: Any) -> bool:
        """The answer is being written: at most ``write_timeout`` for all of it."""
        return self._set(conn, WRITING, self.write_timeout)

    def waiting(self, conn: Any, seconds: float) -> bool:
        """Waiting for the client again (e.g. a request body), evictable, for at most *seconds*."""
        return self._set(conn, WAITING, seconds)

    def idle(self, conn: Any) -> bool:
        """An answer is out: the keep-alive connection waits for its next request."""
        return self._set(conn, WAITING, self.idle_timeout)

    def closed(self, conn: Any) -> None:
        with self._lock:
            self._conns.pop(conn, None)

    # --- the watchdog --------------------------------------------------------------------------

    def expire(self) -> int:
        """End every connection whose deadline has passed; how many."""
        now = self.clock()
        with self._lock:
            late = [k for k, c in self._conns.items() if c.deadline is not None and c.deadline < now]
            for k in late:
                self._end(k)
            self.timed_out += len(late)
        if late:
            log.debug("connections ended: too slow", extra={"listener": self.name, "connections": len(late)})
        return len(late)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"{self.name}-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.expire()

    def stop(self) -> None:
        self._stop.set()


def _first(item: tuple[float, Any]) -> float:
    return item[0]


class InFlight:
    """A server's open connections and which of them are inside a request.

    A request counts from the moment its request line has been read until its response has
    been written; a keep-alive connection waiting for its next request is idle.  Shutdown
    uses it to let the requests under way finish (:meth:`wait_idle`), then to close the idle
    connections, so a client sees a complete response and then a clean end of connection.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy: dict[Any, bool] = {}  # connection -> inside a request
        self.draining = False  # set once shutdown began: responses then say "Connection: close"

    def opened(self, conn: Any) -> None:
        with self._cond:
            self._busy[conn] = False

    def closed(self, conn: Any) -> None:
        with self._cond:
            self._busy.pop(conn, None)
            self._cond.notify_all()

    def set_busy(self, conn: Any, busy: bool) -> None:
        with self._cond:
            if conn in self._busy:
                self._busy[conn] = busy
            self._cond.notify_all()

    def _under_way(self) -> int:
        # Also a connection whose next request has arrived but is not read yet: it was sent before
        # the listener closed, so it is served too.  (Called with the lock held.)
        return sum(1 for conn, busy in self._busy.items() if busy or has_input(conn))

    @property
    def requests(self) -> int:
        with self._cond:
            return self._under_way()

    def wait_idle(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every request under way to finish; the number still running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (left := self._under_way()) and (remaining := deadline - time.monotonic()) > 0:
                # Woken when a request ends; the short period catches requests still only in a socket buffer.
                self._cond.wait(min(remaining, 0.05))
            return left

    def close_idle(self) -> int:
        """End every connection that is not inside a request (its thread sees end of file); how many."""
        with self._cond:
            idle = [c for c, busy in self._busy.items() if not busy]
        for conn in idle:
            shutdown_socket(conn)
        return len(idle)
