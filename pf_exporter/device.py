"""The /dev/pf handle: one long-lived descriptor, one lock, errno mapped once.

Every ioctl in the project goes through :meth:`Device.ioctl`.  The transport below it
is either :class:`FcntlTransport` (the real ``fcntl.ioctl`` on ``/dev/pf``) or the
simulator's per-descriptor transport, so tests and ``--simulate`` run the same code.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from .abi import Abi, array
from .errors import (
    PfAbiMismatch,
    PfError,
    PfNotFound,
    PfNotPresent,
    PfPermissionError,
    PfSecurelevelError,
    error_for,
)


class Transport(Protocol):
    """An open descriptor on pf: the real one or the simulator's."""

    @property
    def writable(self) -> bool: ...

    def ioctl(self, request: int, arg: object) -> None:
        """Issue *request*; *arg* (a ctypes object or None) is updated in place.

        Raises OSError with the kernel's errno on failure.
        """

    def close(self) -> None: ...


class FcntlTransport:
    """A real descriptor on /dev/pf; the only caller of ``fcntl.ioctl`` in the project."""

    def __init__(self, path: str = "/dev/pf", writable: bool = False) -> None:
        self.path = path
        self.writable = writable
        try:
            self.fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        except FileNotFoundError:
            raise PfNotPresent(errno.ENOENT, f"open {path}", "is pf(4) in this kernel? use --pf.device") from None
        except PermissionError as e:
            raise PfPermissionError(
                e.errno or errno.EACCES, f"open {path}", "start as root, or give the user read access to it"
            ) from None
        except OSError as e:
            raise PfNotPresent(e.errno or errno.ENODEV, f"open {path}") from None

    def ioctl(self, request: int, arg: object) -> None:
        import fcntl

        if arg is None:
            fcntl.ioctl(self.fd, request, 0)
        else:
            fcntl.ioctl(self.fd, request, arg, True)  # type: ignore[call-overload]  # a ctypes object is a writable buffer

    def caller(self, request: int) -> Callable[[object], None]:
        """``call(arg)``: :meth:`ioctl` of *request* on a ctypes argument, as one C call."""
        import fcntl

        return functools.partial(fcntl.ioctl, self.fd, request)  # type: ignore[return-value]  # typeshed: ioctl returns the result; the walks ignore it

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Device:
    """pf behind one descriptor; thread-safe (one lock serialises every ioctl and walk)."""

    # pf_open_trans allows 512 open tickets per descriptor; renew the descriptor well before.
    KEPT_TICKET_LIMIT = 448

    def __init__(self, abi: Abi, transport: Transport, reopen: Callable[[], Transport] | None = None) -> None:
        self.abi = abi
        self.transport = transport
        self.lock = threading.RLock()
        self._status_ok: bool | None = None
        self._reopen = reopen
        self.kept_tickets = 0  # tickets the kernel would not let us release (securelevel > 1)

    @property
    def writable(self) -> bool:
        return self.transport.writable

    def ioctl(self, name: str, arg: object = None) -> object:
        """Issue request *name* with *arg* (updated in place) and return *arg*."""
        req = self.abi.request(name)
        with self.lock:
            try:
                self.transport.ioctl(req.number, arg)
            except OSError as e:
                raise self._map(e.errno or errno.EIO, name) from None
        return arg

    def raw_caller(self, name: str) -> tuple[Callable[[object], None], Callable[[OSError], PfError]]:
        """For a walk that holds :attr:`lock` (:meth:`ruleset_ticket` holds it for the whole walk)
        and issues request *name* thousands of times: the transport's own call (``fcntl.ioctl``
        bound to the descriptor and request: no Python frame of ours per request), which raises
        OSError, and the mapping of such an OSError to the error :meth:`ioctl` would raise.  Bound
        to the current descriptor: use it within one walk."""
        number = self.abi.request(name).number
        bind = getattr(self.transport, "caller", None)
        call = bind(number) if bind is not None else functools.partial(self.transport.ioctl, number)
        return call, lambda e: self._map(e.errno or errno.EIO, name)

    def _map(self, err: int, name: str) -> PfError:
        if err == errno.EPERM and self.abi.request(name).writes and self.writable:
            return PfSecurelevelError(err, name, "securelevel > 1 forbids changing pf")
        if err == errno.EACCES and not self.writable and not self.abi.request(name).writes:
            # A read request refused on a read-only fd: the kernel did not recognise the
            # number, i.e. our struct size differs from the kernel's.
            if name != "DIOCGETSTATUS" and self._status_works():
                return PfAbiMismatch(
                    err, name, f"kernel does not know this request; is it really OpenBSD {self.abi.release}? "
                    "check --pf.release"
                )
            return PfAbiMismatch(err, name, f"kernel refuses pf's read requests; is it OpenBSD {self.abi.release}?")
        if err == errno.EACCES and self.abi.request(name).writes and not self.writable:
            return PfPermissionError(err, name, "needs a writable /dev/pf descriptor")
        return error_for(err, name)

    def _status_works(self) -> bool:
        if self._status_ok is None:
            try:
                st = self.abi.new("pf_status")
                self.transport.ioctl(self.abi.request("DIOCGETSTATUS").number, st)
                self._status_ok = True
            except OSError:
                self._status_ok = False
        return self._status_ok

    @contextmanager
    def ruleset_ticket(self, anchor: str) -> Iterator[tuple[int, int]]:
        """Open a rule walk of *anchor* (DIOCGETRULES); yields (ticket, rule count).

        The ticket is always released with DIOCXEND, also when the walk raises, so the
        per-descriptor ticket table (512 entries, pf_open_trans) never fills up.
        The lock is held for the whole walk.
        """
        with self.lock:
            pr = self.abi.new("pfioc_rule")
            pr.anchor = anchor.encode()
            self.ioctl("DIOCGETRULES", pr)
            ticket = pr.ticket
            try:
                yield ticket, pr.nr
            finally:
                self.end_ticket(ticket)

    def end_ticket(self, ticket: int) -> None:
        """DIOCXEND takes a pointer to the ticket (pf_ioctl.c, pf_close_trans)."""
        t = ctypes.c_uint32(ticket)
        try:
            self.ioctl("DIOCXEND", t)
        except PfPermissionError as e:
            if e.errno != errno.EPERM:
                raise
            # pfioctl's securelevel > 1 switch does not list DIOCXEND, so the ticket stays
            # open until the descriptor is closed (pf_close releases all of its tickets).
            self.kept_tickets += 1
            if self.kept_tickets >= self.KEPT_TICKET_LIMIT:
                self.renew()
        except PfError:
            pass  # already closed (e.g. by DIOCXBEGIN on this fd): nothing left to release

    def renew(self) -> None:
        """Replace the descriptor with a fresh one, which releases every ticket the old one held."""
        with self.lock:
            if self._reopen is None:
                return
            try:
                fresh = self._reopen()
            except OSError as e:
                raise PfPermissionError(
                    e.errno or errno.EACCES, "reopen /dev/pf",
                    "at securelevel > 1 the kernel refuses DIOCXEND, so pf_exporter must reopen /dev/pf every "
                    f"{self.KEPT_TICKET_LIMIT} rule walks; run with --run-as root or let the --run-as user "
                    "read /dev/pf",
                ) from None
            old, self.transport = self.transport, fresh
            self.kept_tickets = 0
            old.close()

    def close(self) -> None:
        with self.lock:
            self.transport.close()


def open_device(abi: Abi, path: str = "/dev/pf", writable: bool = False) -> Device:
    return Device(abi, FcntlTransport(path, writable), reopen=lambda: FcntlTransport(path, writable))


# --- the network reads: interface ioctls on a socket, and sysctl(2) ---------------------------

class NetTransport(Protocol):
    """Where pfsync/carp/interface-group reads go: the real socket and libc, or the simulator."""

    def ioctl(self, request: int, arg: object) -> None:
        """A SIOC* request on a datagram socket; *arg* updated in place; OSError on failure."""

    def sysctl(self, mib: tuple[int, ...], size: int) -> bytes:
        """sysctl(2) read of *mib* into *size* bytes (never a new value); OSError on failure."""

    def close(self) -> None: ...


class SocketTransport:
    """An AF_INET datagram socket (interface ioctls go to any socket, soo_ioctl -> ifioctl) and
    libc's sysctl(2) through ctypes; read-only, no privilege needed (NET-NOTES.md)."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sysctl: Callable[..., int] | None = None

    def ioctl(self, request: int, arg: object) -> None:
        import fcntl

        fcntl.ioctl(self.sock.fileno(), request, arg, True)  # type: ignore[call-overload]  # a ctypes object is a writable buffer

    def sysctl(self, mib: tuple[int, ...], size: int) -> bytes:
        if self._sysctl is None:
            libc = ctypes.CDLL(None, use_errno=True)
            fn = getattr(libc, "sysctl", None)
            if fn is None:
                raise OSError(errno.ENOSYS, "this libc has no sysctl(2)")
            self._sysctl = fn
        name = array(ctypes.c_int, len(mib))
        name[:] = mib
        buf = array(ctypes.c_char, size)
        length = ctypes.c_size_t(size)
        if self._sysctl(name, ctypes.c_uint(len(mib)), buf, ctypes.byref(length), None, ctypes.c_size_t(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return bytes(buf.raw[:length.value])

    def close(self) -> None:
        self.sock.close()


class NoNetTransport:
    """A host that is not OpenBSD (a real /dev/pf elsewhere, or a replayed one): no carp, no pfsync."""

    def ioctl(self, request: int, arg: object) -> None:
        raise OSError(errno.EOPNOTSUPP, "not OpenBSD: no carp, pfsync or interface-group reads")

    def sysctl(self, mib: tuple[int, ...], size: int) -> bytes:
        raise OSError(errno.EOPNOTSUPP, "not OpenBSD: no sysctl(2)")

    def close(self) -> None:
        pass


class NetDevice:
    """The network reads behind one transport, errno mapped once (ENXIO/ENOENT: no such interface or
    group; ENOTTY/EOPNOTSUPP/ENOPROTOOPT: not a carp/pfsync interface, or no such sysctl node)."""

    def __init__(self, netabi: object, transport: NetTransport) -> None:
        self.netabi = netabi
        self.transport = transport
        self.lock = threading.RLock()

    def ioctl(self, name: str, arg: object) -> object:
        number = self.netabi.requests[name]  # type: ignore[attr-defined]  # abi.net.NetAbi
        with self.lock:
            try:
                self.transport.ioctl(number, arg)
            except OSError as e:
                raise _net_error(e.errno or errno.EIO, name) from None
        return arg

    def sysctl(self, name: str, mib: tuple[int, ...], size: int) -> bytes:
        with self.lock:
            try:
                return self.transport.sysctl(mib, size)
            except OSError as e:
                raise _net_error(e.errno or errno.EIO, f"sysctl {name}") from None

    def close(self) -> None:
        self.transport.close()


# what says "not here": no such interface or group, not a carp/pfsync interface, no such node
_ABSENT = frozenset({errno.ENXIO, errno.ENOENT, errno.ENOTTY, errno.EOPNOTSUPP, errno.ENOPROTOOPT, errno.ENOTDIR})


def _net_error(err: int, name: str) -> PfError:
    if err in _ABSENT:
        return PfNotFound(err, name, "not present on this host")
    if err in (errno.EPERM, errno.EACCES):
        return PfPermissionError(err, name, "needs root")
    return error_for(err, name)
