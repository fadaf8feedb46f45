"""Each collector, fed hand-built library values, exports exactly these series."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from prometheus_client.core import Metric
from support.fakepf import FakePf, make_rule, make_state, make_status, samples, value

from pf_exporter.collectors import COLLECTORS, ScrapeView
from pf_exporter.collectors.interfaces import InterfacesCollector
from pf_exporter.collectors.limiters import LimitersCollector
from pf_exporter.collectors.limits import LimitsCollector
from pf_exporter.collectors.queues import QueuesCollector
from pf_exporter.collectors.rules import RulesCollector
from pf_exporter.collectors.states import StatesCollector
from pf_exporter.collectors.status import StatusCollector
from pf_exporter.collectors.tables import TablesCollector
from pf_exporter.collectors.timeouts import TimeoutsCollector
from pf_exporter.pf import types as model


def names(metrics: list[Metric]) -> set[str]:
    return {s.name for m in metrics for s in m.samples}


def run(collector, pf: FakePf | None = None, release: str = "7.9") -> list[Metric]:
    return list(collector.collect(ScrapeView(pf or FakePf(), release)))


# --- declarations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(COLLECTORS))
def test_every_exported_family_is_declared_with_its_labels(name: str) -> None:
    cls = COLLECTORS[name]
    collector = cls(per_rule=True) if name == "rules" else cls()  # type: ignore[call-arg]
    declared = {s.name: s for s in cls.specs}
    metrics = run(collector)
    assert metrics, f"{name} exported nothing from the fake pf"
    for m in metrics:
        for s in m.samples:
            spec = declared[s.name]
            assert tuple(s.labels) == spec.labels, s
            assert m.type == spec.kind


def test_every_declared_name_follows_prometheus_conventions() -> None:
    seen = set()
    for cls in COLLECTORS.values():
        for s in cls.specs:
            assert s.name.startswith("pf_")
            assert s.name not in seen, f"{s.name} declared twice"
            seen.add(s.name)
            assert (s.kind == "counter") == s.name.endswith("_total"), s.name
            assert s.help and not s.help.endswith(".")


# --- status ---------------------------------------------------------------------------------------

def test_status_exports_pfctl_si_v() -> None:
    m = run(StatusCollector())
    assert value(m, "pf_info", release="7.9", hostid="0xdeadbeef",
                 ruleset_checksum="0x0123456789abcdef0123456789abcdef") == 1
    assert value(m, "pf_running") == 1
    assert value(m, "pf_enabled_seconds") == 3600
    assert value(m, "pf_debug_level") == 3
    assert value(m, "pf_states") == 42
    assert value(m, "pf_states_halfopen") == 3
    assert value(m, "pf_src_nodes") == 5
    assert value(m, "pf_fragments") == 7
    assert value(m, "pf_counters_total", counter="state-mismatch") == 20
    assert value(m, "pf_limit_counters_total", counter="max-src-states") == 2
    assert value(m, "pf_state_operations_total", operation="searches") == 1000
    assert value(m, "pf_src_node_operations_total", operation="removals") == 6
    assert value(m, "pf_fragment_operations_total", operation="inserts") == 8
    assert value(m, "pf_syncookies_active") == 0
    assert value(m, "pf_syncookies_mode", mode="adaptive") == 1
    assert value(m, "pf_syncookies_mode", mode="never") == 0
    assert value(m, "pf_syncookies_inflight") == 3
    assert value(m, "pf_syncookies_watermark_states", level="high") == 25_000
    assert value(m, "pf_syncookies_watermark_states", level="low") == 12_500
    assert value(m, "pf_loginterface_packets_total", interface="em0", family="inet", direction="in",
                 action="block") == 12
    assert value(m, "pf_loginterface_bytes_total", interface="em0", family="inet6", direction="out") == 1400


def test_status_without_loginterface_has_no_loginterface_series() -> None:
    class NoLogif(FakePf):
        def status(self) -> model.Status:
            return make_status(loginterface="", loginterface_packets={}, loginterface_bytes={})

    assert not {n for n in names(run(StatusCollector(), NoLogif())) if n.startswith("pf_loginterface")}


# --- limits ---------------------------------------------------------------------------------------

def test_limits_export_every_hard_limit_and_known_usage() -> None:
    m = run(LimitsCollector())
    assert value(m, "pf_limit", limit="table-entries") == 200000
    assert value(m, "pf_limit", limit="pktdelay-pkts") == 10000
    assert value(m, "pf_limit_used", limit="states") == 42
    assert value(m, "pf_limit_used", limit="src-nodes") == 5
    assert value(m, "pf_limit_used", limit="frags") == 7
    assert value(m, "pf_limit_used", limit="tables") == 2
    assert value(m, "pf_limit_used", limit="table-entries") == 5
    assert value(m, "pf_limit_used", limit="anchors") == 2
    used = {dict(k[1])["limit"] for k in samples(m) if k[0] == "pf_limit_used"}
    assert "pktdelay-pkts" not in used  # pf does not tell


# --- timeouts -------------------------------------------------------------------------------------

def test_timeouts_in_seconds_and_adaptive_thresholds_as_states() -> None:
    m = run(TimeoutsCollector())
    assert value(m, "pf_timeout_seconds", timeout="tcp.established") == 86400
    assert value(m, "pf_timeout_seconds", timeout="interval") == 10
    assert value(m, "pf_timeout_adaptive_states", timeout="adaptive.start") == 60000
    assert ("pf_timeout_seconds", (("timeout", "adaptive.end"),)) not in samples(m)


# --- interfaces -----------------------------------------------------------------------------------

def test_interfaces_and_groups_are_distinguishable() -> None:
    m = run(InterfacesCollector())
    assert value(m, "pf_interface_info", interface="em0", kind="interface") == 1
    assert value(m, "pf_interface_info", interface="egress", kind="group") == 1
    assert value(m, "pf_interface_skip", interface="lo0") == 1
    assert value(m, "pf_interface_packets_total", interface="em0", family="inet6", direction="out",
                 action="block") == 6
    assert value(m, "pf_interface_bytes_total", interface="em0", family="inet", direction="in", action="pass") == 500
    assert value(m, "pf_interface_states", interface="em0") == 4
    assert value(m, "pf_interface_rules", interface="egress") == 3
    assert value(m, "pf_interface_cleared_timestamp_seconds", interface="lo0") == 1700000002


# --- tables ---------------------------------------------------------------------------------------

def test_tables() -> None:
    m = run(TablesCollector())
    t = {"anchor": "", "table": "bruteforce"}
    assert value(m, "pf_table_addresses", **t) == 3
    assert value(m, "pf_table_packets_total", **t, direction="in", action="block") == 7
    assert value(m, "pf_table_packets_total", **t, direction="in", action="xpass") == 1
    assert value(m, "pf_table_bytes_total", **t, direction="in", action="block") == 700
    assert value(m, "pf_table_evaluations_total", **t, result="match") == 20
    assert value(m, "pf_table_evaluations_total", **t, result="nomatch") == 30
    assert value(m, "pf_table_references", anchor="relayd", table="web", kind="anchor") == 1
    assert value(m, "pf_table_cleared_timestamp_seconds", anchor="relayd", table="web") == 1700000200


# --- rules ----------------------------------------------------------------------------------------

def test_rules_aggregate_by_anchor_and_label() -> None:
    m = run(RulesCollector())
    ssh = {"anchor": "", "label": "ssh"}
    assert value(m, "pf_label_rules", **ssh) == 2
    assert value(m, "pf_label_evaluations_total", **ssh) == 20
    assert value(m, "pf_label_packets_total", **ssh, direction="in") == 2
    assert value(m, "pf_label_packets_total", **ssh, direction="out") == 4
    assert value(m, "pf_label_bytes_total", **ssh, direction="out") == 400
    assert value(m, "pf_label_states", **ssh) == 6
    assert value(m, "pf_label_states_created_total", **ssh) == 8
    assert value(m, "pf_label_rules", anchor="relayd", label="ssh") == 1  # same label, other anchor: own series
    assert value(m, "pf_rules", anchor="") == 4
    assert value(m, "pf_rules", anchor="relayd/web") == 0
    assert value(m, "pf_anchors") == 2
    # unlabelled rules are aggregated per anchor under label "" (rule 0 of the main ruleset)
    assert value(m, "pf_label_rules", anchor="", label="") == 1
    assert not {n for n in names(m) if n.startswith("pf_rule_")}


def test_rules_per_rule_series_only_when_asked() -> None:
    m = run(RulesCollector(per_rule=True))
    r = {"anchor": "", "number": "3", "label": "web", "action": "block", "direction": ""}
    assert value(m, "pf_rule_evaluations_total", **r) == 10
    assert value(m, "pf_rule_packets_total", **r, packet_direction="out") == 2
    assert value(m, "pf_rule_bytes_total", **r, packet_direction="in") == 100
    assert value(m, "pf_rule_states", **r) == 3
    assert value(m, "pf_rule_states_created_total", **r) == 4
    unlabelled = {"anchor": "", "number": "0", "label": "", "action": "pass", "direction": "in"}
    assert value(m, "pf_rule_evaluations_total", **unlabelled) == 10
    assert len([k for k in samples(m) if k[0] == "pf_rule_evaluations_total"]) == 5


# --- queues ---------------------------------------------------------------------------------------

def test_queues_with_fq_codel_flow_stats() -> None:
    m = run(QueuesCollector())
    std = {"interface": "em0", "queue": "std", "parent": "root"}
    assert value(m, "pf_queue_packets_total", **std) == 10
    assert value(m, "pf_queue_dropped_bytes_total", **std) == 100
    assert value(m, "pf_queue_length", **std) == 2
    assert value(m, "pf_queue_limit", **std) == 50
    # configured as 10Mb/s: exported in bytes, the base unit
    assert value(m, "pf_queue_bandwidth_bytes_per_second", interface="em0", queue="root", parent="") == 1_250_000
    fq = {"interface": "em0", "queue": "fq", "parent": ""}
    assert value(m, "pf_queue_flows", **fq) == 2
    assert value(m, "pf_queue_flow_delay_seconds", **fq) == pytest.approx(1500e-6)  # 3000 us over 2 flows
    assert value(m, "pf_queue_flow_delay_stddev_seconds", **fq) == pytest.approx(math.sqrt(2_500_000 - 1500**2) / 1e6)
    assert value(m, "pf_queue_codel_target_seconds", **fq) == pytest.approx(0.005)
    assert value(m, "pf_queue_codel_interval_seconds", **fq) == pytest.approx(0.1)
    assert ("pf_queue_flows", tuple(sorted(std.items()))) not in samples(m)


# --- limiters -------------------------------------------------------------------------------------

def test_limiters() -> None:
    m = run(LimitersCollector())
    web = {"id": "1", "limiter": "web"}
    assert value(m, "pf_state_limiter_limit", **web) == 1000
    assert value(m, "pf_state_limiter_states", **web) == 12
    assert value(m, "pf_state_limiter_rate_limit", **web) == 100
    assert value(m, "pf_state_limiter_rate_period_seconds", **web) == 10
    assert value(m, "pf_state_limiter_hardlimited_total", **web) == 3
    src = {"id": "2", "limiter": "per-src"}
    assert value(m, "pf_source_limiter_entries", **src) == 7
    assert value(m, "pf_source_limiter_entries_limit", **src) == 10000
    assert value(m, "pf_source_limiter_states", **src) == 30
    assert value(m, "pf_source_limiter_addrlimited_total", **src) == 1
    assert LimitersCollector.requires == "limiters"


# --- states ---------------------------------------------------------------------------------------

def test_states_are_counted_never_listed() -> None:
    m = run(StatesCollector())
    assert value(m, "pf_state_entries", interface="em0", family="inet", protocol="tcp", direction="out") == 2
    assert value(m, "pf_state_entries", interface="em0", family="inet", protocol="udp", direction="in") == 1
    assert value(m, "pf_state_entries", interface="all", family="inet6", protocol="ipv6-icmp", direction="out") == 1
    assert StatesCollector.default_enabled is False


def test_states_memory_stays_bounded_by_the_number_of_keys() -> None:
    """100k states stream through; only the handful of distinct keys are kept."""

    class Many(FakePf):
        def count_states(self) -> Counter[tuple[str, str, int, str]]:
            proto = (6, 17, 1)
            return Counter(make_state(i, protocol=proto[i % 3]) for i in range(100_000))

    m = run(StatesCollector(), Many())
    got = samples(m)
    assert len(got) == 3
    assert sum(got.values()) == 100_000


def test_unknown_protocol_is_shown_by_number() -> None:
    class Odd(FakePf):
        def count_states(self) -> Counter[tuple[str, str, int, str]]:
            return Counter([make_state(1, protocol=253)])

    assert value(run(StatesCollector(), Odd()), "pf_state_entries", interface="em0", family="inet",
                 protocol="253", direction="out") == 1


# --- the per-scrape view --------------------------------------------------------------------------

def test_scrape_view_reads_each_list_once_per_scrape() -> None:
    pf = FakePf()
    view = ScrapeView(pf, "7.9")
    for c in (StatusCollector(), LimitsCollector(), TablesCollector(), RulesCollector()):
        list(c.collect(view))
    assert pf.calls.count("status") == 1
    assert pf.calls.count("tables") == 1
    assert pf.calls.count("anchors") == 1


def test_scrape_view_repeats_a_failure_without_reading_again() -> None:
    pf = FakePf(fail=("tables",))
    view = ScrapeView(pf, "7.9")
    for _ in range(2):
        with pytest.raises(OSError):
            view.tables()
    assert pf.calls.count("tables") == 1


def _series(metrics: list[Metric]) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return [(s.name, tuple(sorted(s.labels.items())), s.value) for m in metrics for s in m.samples]


class _Changing(FakePf):
    """A FakePf whose tables and interfaces change from one scrape to the next."""

    def __init__(self) -> None:
        super().__init__()
        self.scrape = 0

    def tables(self) -> list[model.Table]:
        base = super().tables()
        if self.scrape % 2:  # the first table's counters gain keys, a table comes and one goes
            t = base[0]
            base[0] = model.Table(t.anchor, t.name, frozenset({"const", "active"}), 9,
                                  {("out", "pass"): 4, **t.packets}, {("out", "pass"): 40}, 1, 2, 3, 4, 5)
            base[1] = model.Table("", "new", frozenset({"active"}), 1, {}, {}, 0, 0, 0, 0, 0)
        return base

    def interfaces(self) -> list[model.Interface]:
        base = super().interfaces()
        if self.scrape % 2:
            i = base[0]
            base[0] = model.Interface(i.name, i.is_group, i.skip, {("inet", "out", "pass"): 1}, i.bytes,
                                      i.cleared, 9, 9, 9, 9)
            del base[1]
        return base


@pytest.mark.parametrize("cls", [TablesCollector, InterfacesCollector])
def test_label_tuples_kept_between_scrapes_follow_what_pf_has(cls) -> None:
    pf, kept = _Changing(), cls()
    for scrape in range(4):
        pf.scrape = scrape
        assert _series(run(kept, pf)) == _series(run(cls(), pf)), scrape


class _ChangingRules(FakePf):
    """A FakePf whose rules change from one scrape to the next: counters grow, a rule is inserted
    (the ones after it renumbered), a label and a text change, an anchor empties."""

    def __init__(self) -> None:
        super().__init__()
        self.scrape = 0

    def iter_rulesets(self, anchors=None, *, texts=False):  # type: ignore[no-untyped-def]
        n = self.scrape
        main = [make_rule("", 0, ""), make_rule("", 1, "ssh", evaluations=10 + n, packets_in=n, bytes_out=7 * n),
                make_rule("", 2, "web" if n % 2 else "www", direction="out", protocol=6, quick=True)]
        if n % 2:
            main.insert(1, make_rule("", 1, "new", action="block", packets_out=99))
            main = [r._replace(number=i) for i, r in enumerate(main)]
        relayd = [make_rule("relayd", 0, "ssh", states_current=n)] if n < 3 else []
        for path, rules in (("", main), ("relayd", relayd)):
            text = tuple(f"{r.action} {r.direction} proto {r.protocol} label \"{r.label}\" # {n % 2}"
                         for r in rules) if texts else ()
            yield model.Ruleset(path, tuple(rules), text)


class _SameHash:
    """An identity whose hash every other one shares."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SameHash) and other.name == self.name


def test_kept_labels_reuse_the_last_scrapes_entry_and_tell_identities_sharing_a_hash_apart() -> None:
    from pf_exporter.collectors.base import KeptLabels

    kept: KeptLabels[object, tuple[str, ...]] = KeptLabels()
    built: list[str] = []

    def build(name: str) -> tuple[str, ...]:
        built.append(name)
        return (name, "label")

    kept.start()
    first = kept.get(("em0", 1), build, "em0")
    kept.start()
    assert kept.get(("em0", 1), build, "em0") is first  # a new but equal identity: last scrape's tuples
    assert built == ["em0"]
    kept.start()
    assert kept.get(_SameHash("a"), build, "a") == ("a", "label")
    assert kept.get(_SameHash("b"), build, "b") == ("b", "label")  # same hash, another object
    kept.start()
    assert kept.get(_SameHash("a"), build, "a") == ("a", "label")  # never another identity's tuples
    assert kept.get(_SameHash("b"), build, "b") == ("b", "label")
    assert kept.get(("em0", 1), build, "em0") == ("em0", "label")  # not seen last scrape: built again
    assert built == ["em0", "a", "b", "a", "em0"]  # b found its entry: a rebuilt, b not


def test_per_rule_label_tuples_kept_between_scrapes_follow_the_rules() -> None:
    pf, kept = _ChangingRules(), RulesCollector(per_rule=True)
    for scrape in range(5):
        pf.scrape = scrape
        assert _series(run(kept, pf)) == _series(run(RulesCollector(per_rule=True), pf)), scrape
    got = samples(run(kept, pf))
    key = (("action", "pass"), ("anchor", ""), ("direction", "in"), ("label", "ssh"), ("number", "1"))
    assert got[("pf_rule_packets_total", (*key, ("packet_direction", "in")))] == 4
    assert got[("pf_rule_bytes_total", (*key, ("packet_direction", "out")))] == 28
    assert got[("pf_rule_evaluations_total", key)] == 14
