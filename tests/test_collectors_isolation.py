"""A collector that fails reports success 0 and exports none of its own series; the rest
of the scrape is unaffected."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import generate_latest
from support.fakepf import FakePf, samples

from pf_exporter.collectors import COLLECTORS
from pf_exporter.collectors.base import Collector, ScrapeView
from pf_exporter.exporter import ExporterInfo, PfExporter, build_collectors, build_registry, request_arrived

ALL = frozenset(COLLECTORS)
INFO = ExporterInfo("7.9", "amd64", frozenset({"limiters"}))


def scrape(pf: FakePf, collectors: list[Collector] | None = None) -> dict:
    exporter = PfExporter(pf, collectors or build_collectors(ALL, INFO.features), INFO)
    return samples(list(exporter.collect()))


def success(got: dict, collector: str) -> float:
    return got[("pf_scrape_collector_success", (("collector", collector),))]


def test_a_failing_read_fails_only_the_collectors_that_need_it() -> None:
    got = scrape(FakePf(fail=("tables",)))
    assert success(got, "tables") == 0
    assert success(got, "limits") == 0  # limits needs the table count too
    for ok in ("status", "timeouts", "interfaces", "rules", "queues", "limiters", "states"):
        assert success(got, ok) == 1, ok
    exported = {name for name, _ in got}
    assert not {n for n in exported if n.startswith("pf_table_")}, "no zeros for data that could not be read"
    assert "pf_limit" not in exported and "pf_limit_used" not in exported
    assert "pf_running" in exported and "pf_label_rules" in exported


def test_a_collector_bug_is_isolated_too() -> None:
    class Broken(Collector):
        name = "broken"
        description = "raises half way"
        specs = ()

        def collect(self, pf: ScrapeView) -> list:
            pf.status()
            raise KeyError("bug")

    collectors = [Broken(), *build_collectors(["status"])]
    got = scrape(FakePf(), collectors)
    assert success(got, "broken") == 0
    assert success(got, "status") == 1


def test_partial_output_of_a_failed_collector_is_discarded() -> None:
    class Half(Collector):
        name = "half"
        description = "yields a family, then fails"
        specs = ()

        def collect(self, pf: ScrapeView):
            from prometheus_client.core import GaugeMetricFamily

            yield GaugeMetricFamily("pf_half_done", "half", value=1)
            raise OSError(5, "gone")

    got = scrape(FakePf(), [Half()])
    assert success(got, "half") == 0
    assert ("pf_half_done", ()) not in got


def test_every_collector_failing_still_gives_a_valid_scrape() -> None:
    everything = ("status", "limits", "timeouts", "interfaces", "tables", "anchors", "rulesets", "queues",
                  "state_limiters", "source_limiters", "states", "source_nodes", "carp_interfaces", "pfsync_interfaces")
    exporter = PfExporter(FakePf(fail=everything), build_collectors(ALL, INFO.features), INFO)
    text = generate_latest(build_registry(exporter)).decode()
    for name in ALL:
        assert f'pf_scrape_collector_success{{collector="{name}"}} 0.0' in text
    assert "pf_exporter_build_info{" in text
    assert "pf_running" not in text


def test_durations_are_reported_per_collector() -> None:
    got = scrape(FakePf())
    durations = {dict(labels)["collector"]: v for (name, labels), v in got.items()
                 if name == "pf_scrape_collector_duration_seconds"}
    assert set(durations) == ALL
    assert all(v >= 0 for v in durations.values())


def test_collectors_needing_a_missing_feature_are_left_out() -> None:
    names = [c.name for c in build_collectors(ALL, frozenset())]
    assert "limiters" not in names and "status" in names


def scrape_concurrently(exporter: PfExporter, n: int, release: threading.Event) -> tuple[list[dict], list]:
    """*n* threads scrape at once; the first one's walk waits on *release*, which is set once the
    other n - 1 have joined it.  Returns the scrapes' samples and their exceptions."""
    results: list[dict] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            got = samples(list(exporter.collect()))
        except BaseException as e:  # collected, asserted by the caller
            errors.append(e)
        else:
            results.append(got)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while exporter.waiting < n - 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert exporter.waiting == n - 1
    release.set()
    for t in threads:
        t.join(30)
    return results, errors


def test_32_concurrent_scrapes_share_the_running_collection() -> None:
    """The first scrape's walk is held open until the 31 others have joined it: one walk, 32 answers."""
    pf = FakePf()
    release = threading.Event()
    exporter = PfExporter(pf, build_collectors(["status"]), INFO, before_scrape=lambda: release.wait(30))
    results, errors = scrape_concurrently(exporter, 32, release)
    assert errors == []
    assert len(results) == 32
    assert exporter.scrapes == 1
    assert pf.calls.count("status") == 1
    assert all(success(r, "status") == 1 for r in results)
    assert all(r == results[0] for r in results)


def test_a_scrape_after_a_finished_collection_reads_pf_again() -> None:
    pf = FakePf()
    exporter = PfExporter(pf, build_collectors(["status"]), INFO)
    for _ in range(3):
        list(exporter.collect())
    assert exporter.scrapes == 3


def test_the_previous_collection_is_freed_before_the_next_one_is_built() -> None:
    """Only one scrape's families are ever alive: the kept last collection must not live on
    (e.g. in a local variable) while the next collection is built."""
    import gc
    import weakref

    pf = FakePf()
    seen: list[bool] = []

    class Probe(Collector):
        name = "probe"
        specs = ()
        previous: weakref.ref | None = None

        def collect(self, view: ScrapeView) -> list:
            gc.collect()
            if Probe.previous is not None:
                seen.append(Probe.previous() is None)
            return []

    exporter = PfExporter(pf, [*build_collectors(["status"]), Probe()], INFO)
    for _ in range(3):
        metrics = list(exporter.collect())
        Probe.previous = weakref.ref(metrics[0])
        del metrics
    assert seen == [True, True]


def test_a_request_that_arrived_while_a_collection_ran_shares_it_even_if_served_after() -> None:
    """Arrival is stamped by the HTTP layer; a request whose thread ran late still shares."""
    now = [100.0]
    pf = FakePf()

    def tick() -> None:
        now[0] += 1.0  # the collection runs from 100 to 101

    exporter = PfExporter(pf, build_collectors(["status"]), INFO, before_scrape=tick, clock=lambda: now[0])
    list(exporter.collect())
    with request_arrived(100.5):  # arrived during that collection, handled at 101
        list(exporter.collect())
    assert exporter.scrapes == 1
    with request_arrived(101.5):  # arrived after it ended: reads pf again
        list(exporter.collect())
    assert exporter.scrapes == 2


def test_max_cache_age_serves_a_recent_enough_collection() -> None:
    now = [100.0]
    pf = FakePf()
    exporter = PfExporter(pf, build_collectors(["status"]), INFO, clock=lambda: now[0], max_cache_age=5.0)
    list(exporter.collect())
    now[0] = 105.0
    list(exporter.collect())  # 5 s old: served from the cache
    assert exporter.scrapes == 1
    now[0] = 105.5
    list(exporter.collect())  # too old: pf is read again
    assert exporter.scrapes == 2


def test_a_negative_max_cache_age_is_refused() -> None:
    with pytest.raises(ValueError, match="max_cache_age"):
        PfExporter(FakePf(), build_collectors(["status"]), INFO, max_cache_age=-1)


def test_a_failed_shared_collection_fails_every_scrape_sharing_it() -> None:
    release = threading.Event()

    def boom() -> None:
        release.wait(30)
        raise OSError(5, "clock broke")

    exporter = PfExporter(FakePf(), build_collectors(["status"]), INFO, before_scrape=boom)
    _, errors = scrape_concurrently(exporter, 4, release)
    assert len(errors) == 4
    assert exporter.scrapes == 1
    assert exporter.waiting == 0


def test_filtered_scrapes_are_never_shared() -> None:
    exporter = PfExporter(FakePf(), build_collectors(["status", "timeouts"]), INFO, clock=lambda: 0.0)
    list(exporter.collect())
    got = samples(list(exporter.collect(["timeouts"])))
    assert exporter.scrapes == 2
    assert ("pf_running", ()) not in got


def test_before_scrape_runs_before_pf_is_read() -> None:
    pf = FakePf()
    exporter = PfExporter(pf, build_collectors(["status"]), INFO, before_scrape=lambda: pf.calls.append("tick"))
    list(exporter.collect())
    assert pf.calls[:2] == ["tick", "status"]


def test_a_scrape_reads_each_list_of_pf_once(sim_device) -> None:
    """One kernel walk per kind per scrape: the anchor tree is read once (limits counts the
    anchors, rules walks them), the rules once, the tables once."""
    from collections import Counter

    from pf_exporter.pf import PacketFilter

    device = sim_device(scenario="small")
    asked: Counter[str] = Counter()
    transport = device.transport
    names = {req.number: name for name, req in device.abi.requests.items()}

    class Counting:
        writable = transport.writable

        def ioctl(self, request: int, arg: object) -> None:
            asked[names[request]] += 1
            transport.ioctl(request, arg)

        def close(self) -> None:
            transport.close()

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(transport, name)

    device.transport = Counting()  # type: ignore[assignment]
    sim = transport.sim
    exporter = PfExporter(PacketFilter.from_device(device), build_collectors(ALL - {"states"}, INFO.features), INFO)
    list(exporter.collect())
    rulesets = sim.all_rulesets()
    assert asked["DIOCGETRULESETS"] == len(rulesets)  # once per node of the tree: the root and each anchor
    assert asked["DIOCGETRULES"] == len(rulesets)  # each ruleset's walk opened once
    assert asked["DIOCGETRULESET"] == len(rulesets) - 1  # each anchor's name once
    assert asked["DIOCXEND"] == asked["DIOCGETRULES"]  # every walk's ticket released
    assert asked["DIOCGETSTATUS"] == asked["DIOCRGETTSTATS"] == asked["DIOCIGETIFACES"] == 1
