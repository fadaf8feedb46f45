"""A scrape leaves no reference cycles behind.

Everything a scrape builds must be freed by reference counting as soon as the scrape is over.
Cyclic garbage waits for the garbage collector, which a scrape every few seconds runs rarely
(the exporter raises its thresholds); until then each cycle pins the memory pages around it, and
the resident size of a long-running exporter crept up by megabytes over its first thousand
scrapes (a recursive anchor-walk closure, a ctypes array type per buffer, a failed collector's
traceback holding the scrape's data).
"""

from __future__ import annotations

import gc
import http.client
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry
from support.fakepf import FakePf

from pf_exporter.collectors import COLLECTORS
from pf_exporter.device import Device
from pf_exporter.exporter import ExporterInfo, PfExporter, build_collectors, build_registry
from pf_exporter.exposition import generate_text
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator
from pf_exporter.web import MetricsServer, WebApp
from pf_exporter.webconfig import WebConfig

INFO = ExporterInfo("7.9", "amd64", frozenset({"limiters"}))


def cyclic_garbage(scrape: Callable[[], object], times: int = 3) -> Counter[str]:
    """The objects that only the garbage collector could free, left by *times* scrapes (after
    warm-up scrapes that fill the caches), by type."""
    for _ in range(3):
        scrape()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(times):
            scrape()
        gc.collect()
        found = Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


@pytest.fixture
def simulated() -> Iterator[Callable[[bool], PfExporter]]:
    devices: list[Device] = []

    def make(per_rule: bool) -> PfExporter:
        sim = Simulator("small", release="7.9")
        dev = Device(sim.abi, sim.open(False))
        devices.append(dev)
        collectors = build_collectors(frozenset(COLLECTORS), INFO.features)
        for c in collectors:
            if c.name == "rules":
                c.per_rule = per_rule  # type: ignore[attr-defined]  # RulesCollector's own flag
        return PfExporter(PacketFilter.from_device(dev, sim), collectors, INFO)

    yield make
    for d in devices:
        d.close()


@pytest.mark.parametrize("per_rule", [False, True])
def test_a_scrape_of_the_simulated_kernel_leaves_no_cycles(simulated, per_rule) -> None:
    registry = build_registry(simulated(per_rule))
    assert cyclic_garbage(lambda: generate_text(registry)) == Counter()


def test_failing_collectors_leave_no_cycles() -> None:
    """A failed read is kept for the scrape's other collectors with its traceback, which holds the
    scrape's frames: the scrape must let go of it when it ends."""
    exporter = PfExporter(FakePf(fail=("tables", "queues", "status")),
                          build_collectors(frozenset(COLLECTORS), INFO.features), INFO)
    assert cyclic_garbage(lambda: list(exporter.collect())) == Counter()


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_scrape_over_http_leaves_no_cycles(simulated, encoding) -> None:
    """The same through the server, plain and gzipped (the body encoded ahead in a thread)."""
    registry = build_registry(simulated(True))
    server = MetricsServer(["127.0.0.1:0"], WebApp(lambda only: registry, "/metrics", "test", [], [], WebConfig()),
                           poll_interval=0.01)
    server.start()
    conn = http.client.HTTPConnection(*server.addresses[0][:2], timeout=30)

    def scrape() -> None:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": encoding})
        r = conn.getresponse()
        assert r.status == 200 and r.read()

    try:
        assert cyclic_garbage(scrape) == Counter()
    finally:
        conn.close()
        server.shutdown()


def test_an_encoder_failure_in_the_encode_ahead_thread_leaves_no_cycles() -> None:
    from pf_exporter.exposition import EncodeAhead

    def failing() -> Iterator[bytes]:
        yield b"x" * 100
        yield b"y" * 100
        raise ValueError("encoder broke")

    def run() -> None:
        ahead = EncodeAhead(failing(), start_after=50)
        try:
            with pytest.raises(ValueError, match="encoder broke"):
                list(ahead)
        finally:
            ahead.close()

    assert cyclic_garbage(run) == Counter()


def test_the_simulate_mode_leaves_no_cycles_either() -> None:
    """``pf_exporter --simulate`` as the CLI builds it (the simulator's clock and traffic move
    before each scrape)."""
    from pf_exporter import cli

    service = cli.build_service(cli.build_parser().parse_args(["--simulate", "--web.listen-address", "127.0.0.1:0"]))
    service.server.start()
    conn = http.client.HTTPConnection(*service.server.addresses[0][:2], timeout=30)

    def scrape() -> None:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        assert r.status == 200 and r.read()

    try:
        assert cyclic_garbage(scrape) == Counter()
    finally:
        conn.close()
        service.server.shutdown()


def test_the_garbage_collector_is_paused_while_a_scrape_runs() -> None:
    """A scrape makes no cycles, so the server pauses the cyclic collector for it (a collection in
    the middle of a large one traverses its families' lists for nothing) and resumes it after."""
    seen: list[bool] = []

    class Probe:
        def collect(self) -> list:
            seen.append(gc.isenabled())
            return []

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Probe())  # type: ignore[arg-type]  # a duck-typed registry collector
    server = MetricsServer(["127.0.0.1:0"], WebApp(lambda only: registry, "/metrics", "test", [], [], WebConfig()),
                           poll_interval=0.01)
    server.start()
    conn = http.client.HTTPConnection(*server.addresses[0][:2], timeout=30)
    try:
        assert gc.isenabled()
        for encoding in ("identity", "gzip"):
            conn.request("GET", "/metrics", headers={"Accept-Encoding": encoding})
            r = conn.getresponse()
            assert r.status == 200
            r.read()
            deadline = time.monotonic() + 5  # the handler resumes it just after the body's last byte
            while not gc.isenabled() and time.monotonic() < deadline:
                time.sleep(0.001)
            assert gc.isenabled()
        assert seen == [False, False]
    finally:
        conn.close()
        server.shutdown()


def test_overlapping_scrapes_resume_collection_only_when_the_last_ends() -> None:
    from pf_exporter.exporter import scrape_gc_paused

    assert gc.isenabled()
    with scrape_gc_paused():
        with scrape_gc_paused():  # another thread's scrape, started meanwhile
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # disabled by the application embedding the exporter: left so
    try:
        with scrape_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_scrapes_cannot_keep_collection_paused(monkeypatch) -> None:
    """Slow clients taking turns so that some scrape is always running: once the pause is older
    than MAX_SECONDS, the next scrape to start ends it."""
    from pf_exporter import exporter

    now = [1000.0]
    monkeypatch.setattr(exporter._gc_pause, "clock", lambda: now[0])
    with exporter.scrape_gc_paused():
        now[0] += 5
        with exporter.scrape_gc_paused():
            assert not gc.isenabled()  # 5 s: still paused
        now[0] += exporter._GcPause.MAX_SECONDS
        with exporter.scrape_gc_paused():
            assert gc.isenabled()  # over the limit: collection resumed, and stays on
            with exporter.scrape_gc_paused():
                assert gc.isenabled()
        assert gc.isenabled()
    assert gc.isenabled()
    with exporter.scrape_gc_paused():  # the next pause starts afresh
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failing_scrape_resumes_collection() -> None:
    from pf_exporter.exporter import scrape_gc_paused

    with pytest.raises(RuntimeError), scrape_gc_paused():
        raise RuntimeError("collector bug")
    assert gc.isenabled()
