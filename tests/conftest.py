"""Shared fixtures: simulated pf devices for any release, scenario and descriptor mode.

    def test_x(sim_device):
        dev = sim_device(release="7.6", scenario="small")   # a Device on a read-only fd
        sim = dev.transport.sim                              # the Simulator behind it

    def test_y(sim, device, pf): ...                         # small scenario, 7.9, read-only
                                                             # (pf: the library on that device)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.tooling import make_pki

from pf_exporter.abi import SUPPORTED_RELEASES
from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import SimClock, Simulator

RELEASES = SUPPORTED_RELEASES  # 7.6 .. current


@pytest.fixture
def make_sim() -> Callable[..., Simulator]:
    """Factory: ``make_sim(scenario="small", release="7.9", **kw)`` -> a fresh Simulator."""

    def make(scenario: str = "small", release: str = "7.9", **kw: object) -> Simulator:
        return Simulator(scenario, release=release, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def sim_device() -> Iterator[Callable[..., Device]]:
    """Factory: ``sim_device(release="7.9", scenario="small", writable=False, seed=1,
    state_fill=None, securelevel=0, clock=None, arch="amd64")`` -> a Device on a fresh
    Simulator (reach it as ``device.transport.sim``).  Descriptors are closed afterwards."""
    opened: list[Device] = []

    def make(release: str = "7.9", scenario: str = "small", writable: bool = False, seed: int = 1,
             state_fill: float | None = None, securelevel: int = 0, clock: SimClock | None = None,
             arch: str = "amd64") -> Device:
        sim = Simulator(scenario, release=release, arch=arch, seed=seed, clock=clock, state_fill=state_fill,
                        securelevel=securelevel)
        dev = Device(sim.abi, sim.open(writable))
        opened.append(dev)
        return dev

    yield make
    for d in opened:
        d.close()


@pytest.fixture
def sim() -> Simulator:
    """The small scenario on OpenBSD 7.9/amd64."""
    return Simulator("small", release="7.9")


@pytest.fixture
def device(sim: Simulator) -> Iterator[Device]:
    """A read-only Device on ``sim``."""
    dev = Device(sim.abi, sim.open(False))
    yield dev
    dev.close()


@pytest.fixture
def wdevice(sim: Simulator) -> Iterator[Device]:
    """A writable Device on ``sim``."""
    dev = Device(sim.abi, sim.open(True))
    yield dev
    dev.close()


@pytest.fixture
def pf(device: Device, sim: Simulator) -> PacketFilter:
    """The pf library (:class:`PacketFilter`) on the read-only ``device``."""
    return PacketFilter.from_device(device, sim)


@pytest.fixture(scope="session")
def large_sim() -> Simulator:
    """The large scenario (7.9), built once per session: read it, do not change it."""
    return Simulator("large", release="7.9")


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (tooling.make_pki)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Takes away the root logger's handlers, level and warnings capture that a test's logging set-up added."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def serve():  # type: ignore[no-untyped-def]
    """Factory: ``serve(app=None, addresses=("127.0.0.1:0",), **MetricsServer options)`` -> a
    started metrics server (default app: test_web.make_app(), a fake pf); shut down afterwards."""
    from test_web import make_app

    from pf_exporter.web import MetricsServer

    servers: list[MetricsServer] = []

    def start(app=None, addresses=("127.0.0.1:0",), **kwargs) -> MetricsServer:  # type: ignore[no-untyped-def]
        s = MetricsServer(list(addresses), app or make_app(), poll_interval=0.01, **kwargs)
        s.start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.shutdown()

