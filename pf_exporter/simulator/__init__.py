"""A simulated pf(4): OpenBSD's packet filter behind the same ioctl ABI as /dev/pf.

``Simulator`` holds a deterministic model (rulesets, anchors, tables, interfaces,
queues, states, limiters, counters that move with a simulated clock); ``sim.open()``
gives a descriptor that answers ioctl requests with the kernel's bytes, tickets and
errno values, so :class:`~pf_exporter.device.Device` and everything above it run
unchanged::

    sim = Simulator("small", release="7.9")
    device = simulated_device(sim)          # a Device on a read-only descriptor
    sim.advance(15)                         # 15 simulated seconds of traffic
"""

from __future__ import annotations

from ..device import Device
from .builder import Simulator
from .clock import SimClock
from .kernel import PfKernel
from .rulespec import build_rule
from .scenarios import SCENARIOS
from .transport import SimTransport
from .wire import SimulatorUnsupported

__all__ = ["SCENARIOS", "PfKernel", "SimClock", "SimTransport", "Simulator", "SimulatorUnsupported", "build_rule",
           "simulated_device"]


def simulated_device(
    sim: Simulator | None = None, *, writable: bool = False, scenario: str = "small", release: str = "7.9",
    arch: str = "amd64", seed: int = 1,
) -> Device:
    """A :class:`Device` on a new descriptor of *sim* (built from the other arguments when None)."""
    if sim is None:
        sim = Simulator(scenario, release=release, arch=arch, seed=seed)
    return Device(sim.abi, sim.open(writable), reopen=lambda: sim.open(writable))
