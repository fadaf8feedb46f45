"""Shared fixtures: simulated pf devices for any release, scenario and descriptor mode.

    def test_x(sim_device):
        dev = sim_device(release="7.6", scenario="small")   # a Device on a read-only fd
        sim = dev.transport.sim                              # the Simulator behind it

    def test_y(sim, device, reader): ...                     # small scenario, 7.9, read-only
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pf_exporter.abi import SUPPORTED_RELEASES
from pf_exporter.device import Device
from pf_exporter.reader import Reader
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
def reader(device: Device) -> Reader:
    return Reader(device)


@pytest.fixture(scope="session")
def large_sim() -> Simulator:
    """The large scenario (7.9), built once per session: read it, do not change it."""
    return Simulator("large", release="7.9")


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl(1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl(1) is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca")
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("client", "DNS:prometheus.example")):
        ossl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return d
