"""A descriptor on the simulated /dev/pf: the simulator's counterpart of
:class:`pf_exporter.device.FcntlTransport`, answering each ioctl with :func:`.dispatch.dispatch`."""

from __future__ import annotations

import errno

from .dispatch import dispatch
from .kernel import PfKernel


class SimTransport:
    """One open descriptor on the simulated /dev/pf (the Transport interface of device.py)."""

    def __init__(self, sim: PfKernel, unit: int, writable: bool) -> None:
        self.sim = sim
        self.unit = unit
        self.writable = writable
        self.closed = False

    def ioctl(self, request: int, arg: object) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "simulated /dev/pf descriptor is closed")
        dispatch(self.sim, self, request, arg)

    def uptime(self) -> int:
        """The simulated machine's seconds since boot (what pfctl -si subtracts `since` from)."""
        return self.sim.clock.uptime()

    def now(self) -> int:
        """The simulated machine's epoch seconds (what table counters' `cleared` times are in)."""
        return self.sim.clock.now()

    @property
    def open_tickets(self) -> int:
        return self.sim.tickets_of(self.unit)

    def close(self) -> None:
        """pfclose(): every ticket this descriptor holds is released."""
        if not self.closed:
            self.closed = True
            self.sim.close_unit(self.unit)
