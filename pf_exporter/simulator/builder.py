"""The simulator a user builds: :class:`Simulator` is the kernel model (:class:`.kernel.PfKernel`)
filled by a scenario, with descriptors (:meth:`Simulator.open`) and simulated time
(:meth:`Simulator.advance`)."""

from __future__ import annotations

from .clock import SimClock
from .kernel import PfKernel
from .scenarios import SCENARIOS
from .traffic import flow
from .transport import SimTransport


class Simulator(PfKernel):
    """A model of OpenBSD's pf behind the ioctl ABI of one release and architecture.

    ``scenario``: "small", "large" or "empty"; ``state_fill``: make the state count this
    fraction of the states limit; ``securelevel``: above 1 pf refuses changes (EPERM).
    """

    def __init__(self, scenario: str = "small", release: str = "7.9", arch: str = "amd64", seed: int = 1,
                 clock: SimClock | None = None, state_fill: float | None = None, securelevel: int = 0) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown simulator scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
        if state_fill is not None and not 0 <= state_fill <= 1:
            raise ValueError(f"state_fill is a fraction of the states limit (0..1), got {state_fill}")
        super().__init__(release, arch, seed, clock, securelevel)
        self.scenario = scenario
        SCENARIOS[scenario](self, state_fill)

    def open(self, writable: bool = False) -> SimTransport:
        """pfopen(): a new descriptor (its own ticket namespace), read-only unless *writable*."""
        self._next_unit += 1
        t = SimTransport(self, self._next_unit, writable)
        self.transports.append(t)
        return t

    def advance(self, seconds: float) -> None:
        """Move the clock and let traffic flow: every counter grows at its own rate, states
        come and go (deterministic from the seed and the sequence of calls)."""
        if seconds < 0:
            raise ValueError(f"advance() takes a non-negative number of seconds, got {seconds}")
        self.clock.advance(seconds)
        if not self.running or seconds == 0:
            return
        flow(self, float(seconds))
