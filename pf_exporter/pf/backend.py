"""The one place that decides how the library reaches pf.

Today there is one backend, :class:`~._kernel.IoctlBackend`: OpenBSD's ioctl(2) interface on
``/dev/pf``, or on a descriptor of the built-in simulator, which speaks the same bytes.
A FreeBSD backend would be a second class beside it (``_nvlist.py``: FreeBSD's pf takes
nvlists in DIOCGETRULENV, DIOCADDRULENV, ...), implementing the same methods and picked here
by ``os.uname().sysname``; nothing above the library would change.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..abi import SUPPORTED_RELEASES, UnsupportedRelease, select_abi
from ..device import Device, FcntlTransport
from ..errors import PfUnsupported
from ._kernel import IoctlBackend

DEFAULT_SIMULATED_RELEASE = "7.9"  # the newest release; what --simulate and PacketFilter.simulated() speak

Backend = IoctlBackend  # the interface every backend offers (see _kernel.py)


def open_backend(device: str = "/dev/pf", writable: bool = False, release: str | None = None,
                 arch: str | None = None) -> IoctlBackend:
    """A backend on the real pf of this machine (*release*/*arch* override the detected ones)."""
    sysname = os.uname().sysname
    if sysname == "FreeBSD":
        raise PfUnsupported("open", "FreeBSD's pf speaks nvlists, which pf_exporter does not implement yet; "
                            "use PacketFilter.simulated() to try the library")
    try:
        abi = select_abi(release, arch)
    except UnsupportedRelease as e:
        raise PfUnsupported("open", str(e)) from None

    def opener(rw: bool) -> Device:
        return Device(abi, FcntlTransport(device, rw), reopen=lambda: FcntlTransport(device, rw))

    return IoctlBackend(opener(writable), opener=opener)


def default_simulated_release() -> str:
    """The running system's release when it is a supported OpenBSD, else the newest one."""
    u = os.uname()
    if u.sysname == "OpenBSD":
        rel = {"8.0": "current"}.get(u.release, u.release)
        if rel in SUPPORTED_RELEASES:
            return rel
    return DEFAULT_SIMULATED_RELEASE


def simulated_backend(scenario: str = "small", release: str | None = None, seed: int | None = None,
                      writable: bool = True, *, arch: str = "amd64", **options: Any) -> IoctlBackend:
    """A backend on a new simulated pf (:class:`pf_exporter.simulator.Simulator`); *options* go to it
    (``state_fill``, ``securelevel``, ``clock``).  Every descriptor of that simulator, including
    those :meth:`IoctlBackend.reopen` makes, shares one lock, as the kernel serialises ioctls."""
    from ..simulator import Simulator

    try:
        sim = Simulator(scenario, release=release or default_simulated_release(), arch=arch,
                        seed=1 if seed is None else seed, **options)
    except ValueError as e:
        raise PfUnsupported("simulate", str(e)) from None
    return simulator_backend(sim, writable)


def simulator_backend(sim: Any, writable: bool = False, lock: Any = None) -> IoctlBackend:
    """A backend on a descriptor of an existing simulator."""
    lock = lock if lock is not None else threading.RLock()

    def descriptor(rw: bool) -> _LockedTransport:
        return _LockedTransport(sim.open(rw), lock)

    def opener(rw: bool) -> Device:
        return Device(sim.abi, descriptor(rw), reopen=lambda: descriptor(rw))

    return IoctlBackend(opener(writable), simulator=sim, opener=opener, sim_lock=lock)


def device_backend(device: Device, simulator: Any = None, opener: Callable[[bool], Device] | None = None
                   ) -> IoctlBackend:
    """A backend on a :class:`Device` the caller opened (tests, benchmarks)."""
    return IoctlBackend(device, simulator=simulator, opener=opener)


class _LockedTransport:
    """A simulated descriptor whose calls hold a lock shared by every descriptor of the simulator."""

    def __init__(self, inner: Any, lock: Any) -> None:
        self._inner = inner
        self._lock = lock

    @property
    def writable(self) -> bool:
        return bool(self._inner.writable)

    def ioctl(self, request: int, arg: object) -> None:
        with self._lock:
            self._inner.ioctl(request, arg)

    def close(self) -> None:
        with self._lock:
            self._inner.close()

    def __getattr__(self, name: str) -> Any:  # closed, uptime, open_tickets, sim, ...
        return getattr(self._inner, name)


def net_device(backend: IoctlBackend) -> Any:
    """The network reads (carp, pfsync, interface groups, sysctl) beside *backend*: a socket and
    libc on OpenBSD, the simulator's network when *backend* is simulated (root when writable)."""
    from ..abi.net import net_abi
    from ..device import NetDevice, NoNetTransport, SocketTransport

    abi = net_abi(backend.arch)
    sim = backend.simulator
    if sim is None:
        import sys

        # OpenBSD's request numbers mean other things to other kernels: never send them elsewhere
        return NetDevice(abi, SocketTransport() if sys.platform.startswith("openbsd") else NoNetTransport())
    from ..simulator.net import SimNetTransport

    return NetDevice(abi, SimNetTransport(sim.net, root=backend.writable, lock=backend.sim_lock))
