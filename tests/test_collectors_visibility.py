"""What an operator sees beyond the defaults, on the simulator: unlabelled rules, rule texts,
per-address table counters under a cap, table flags, TCP state pairs, source nodes, pf's last
status change, reassemble, and the process metrics."""

from __future__ import annotations

import time

import pytest

from pf_exporter.collectors import ScrapeView
from pf_exporter.collectors.rules import RulesCollector
from pf_exporter.collectors.srcnodes import SourceNodesCollector
from pf_exporter.collectors.states import StatesCollector
from pf_exporter.collectors.status import StatusCollector
from pf_exporter.collectors.tables import TablesCollector
from pf_exporter.pf import PacketFilter


def series(metrics, name):  # type: ignore[no-untyped-def]
    return [(s.labels, s.value) for m in metrics for s in m.samples if s.name == name]


@pytest.fixture(scope="module")
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.9") as handle:
        yield handle


def test_unlabelled_rules_count_under_an_empty_label(pf) -> None:
    ms = list(RulesCollector().collect(ScrapeView(pf)))
    packets = series(ms, "pf_label_packets_total")
    total = sum(r.packets_in + r.packets_out for rs in pf.iter_rulesets() for r in rs.rules)
    assert sum(v for _l, v in packets) == total
    unlabelled = [lab for lab, _v in packets if lab["label"] == ""]
    assert {lab["anchor"] for lab in unlabelled} >= {"", "ftp-proxy/21345.1"}
    assert len({(lab["anchor"], lab["label"]) for lab, _v in packets}) == len(packets) // 2  # one per anchor+label


def test_rule_info_carries_the_rule_text(pf) -> None:
    ms = list(RulesCollector(per_rule=True).collect(ScrapeView(pf)))
    info = {(lab["anchor"], lab["number"]): lab for lab, v in series(ms, "pf_rule_info") if v == 1}
    rules = pf.rules("office")
    assert len(info) == sum(len(rs.rules) for rs in pf.iter_rulesets())
    for r in rules:
        lab = info[("office", str(r.number))]
        assert lab["rule"] == r.text and lab["label"] == r.label and lab["quick"] == ("true" if r.quick else "false")
    ssh = next(lab for lab in info.values() if lab["label"] == "ssh-in")
    assert (ssh["proto"], ssh["af"], ssh["interface"], ssh["direction"]) == ("tcp", "inet", "egress", "in")


def test_table_flags(pf) -> None:
    ms = list(TablesCollector().collect(ScrapeView(pf)))
    flags = {(lab["table"], lab["flag"]): v for lab, v in series(ms, "pf_table_flags") if lab["anchor"] == ""}
    assert flags[("bruteforce", "counters")] == 1 and flags[("bruteforce", "persist")] == 1
    assert flags[("martians", "const")] == 1 and flags[("martians", "persist")] == 0
    assert flags[("private", "referenced")] == 1


def test_per_address_counters_are_capped() -> None:
    with PacketFilter.simulated("empty", release="7.9") as big:
        big.create_table("customers", counters=True)
        big.add_addresses("customers", [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}" for i in range(100_000)])
        c = TablesCollector(addresses=True, include="customers", max_addresses=10_000)
        start = time.perf_counter()
        ms = list(c.collect(ScrapeView(big)))
        took = time.perf_counter() - start
        print(f"per-address collector, 100,000-address table, cap 10,000: {took * 1000:.0f} ms")
        cleared = series(ms, "pf_table_address_cleared_timestamp_seconds")
        assert len(cleared) == 10_000
        assert series(ms, "pf_table_address_omitted") == [({}, 90_000)]
        assert len(series(ms, "pf_table_address_packets_total")) == 60_000  # 2 directions x 3 actions
        none = list(TablesCollector(addresses=True, include="other").collect(ScrapeView(big)))
        assert series(none, "pf_table_address_packets_total") == []


def test_tables_without_counters_export_no_addresses(pf) -> None:
    ms = list(TablesCollector(addresses=True).collect(ScrapeView(pf)))
    assert {lab["table"] for lab, _v in series(ms, "pf_table_address_cleared_timestamp_seconds")} == {"bruteforce"}


def test_state_details(pf) -> None:
    ms = list(StatesCollector(details=True).collect(ScrapeView(pf)))
    tcp = dict((lab["state"], v) for lab, v in series(ms, "pf_state_tcp_entries"))
    states = list(pf.states())
    assert sum(tcp.values()) == sum(1 for s in states if s.protocol == 6)
    assert "ESTABLISHED:ESTABLISHED" in tcp
    most = dict((lab["label"], v) for lab, v in series(ms, "pf_state_source_max_entries"))
    assert most["admin-ssh"] >= 1
    plain = list(StatesCollector().collect(ScrapeView(pf)))
    assert series(plain, "pf_state_entries") == series(ms, "pf_state_entries")


def test_source_nodes_per_label(pf) -> None:
    ms = list(SourceNodesCollector().collect(ScrapeView(pf)))
    entries = dict((lab["label"], v) for lab, v in series(ms, "pf_src_node_entries"))
    assert entries == {"ssh-in": len(pf.source_nodes())}
    assert dict((lab["label"], v) for lab, v in series(ms, "pf_src_node_max_states"))["ssh-in"] >= 1


def test_status_change_and_reassemble(pf) -> None:
    ms = list(StatusCollector().collect(ScrapeView(pf)))
    st = pf.status()
    changed = series(ms, "pf_status_changed_timestamp_seconds")[0][1]
    assert changed == st.changed and abs(changed - (pf.simulator.clock.now() - st.enabled_seconds)) <= 1
    assert dict((lab["mode"], v) for lab, v in series(ms, "pf_reassemble")) == {"no": 0, "yes": 1, "yes no-df": 0}


def test_rule_texts_follow_a_reload() -> None:
    with PacketFilter.simulated("small", release="7.9") as pf:
        first = [rs.texts for rs in pf.iter_rulesets(texts=True) if rs.path == "office"][0]
        pf.simulate_traffic(5)  # counters move: the texts are the cached ones
        assert [rs.texts for rs in pf.iter_rulesets(texts=True) if rs.path == "office"][0] == first
        pf.load("pass in proto tcp to port 8080 label \"new\"\n", "office")
        again = [rs.texts for rs in pf.iter_rulesets(texts=True) if rs.path == "office"][0]
        assert again == tuple(r.text for r in pf.rules("office")) and again != first


def test_label_totals_equal_the_rules_summed(pf) -> None:
    want: dict[tuple[str, str], list[int]] = {}
    for rs in pf.iter_rulesets():
        for r in rs.rules:
            row = [r.evaluations, r.packets_in, r.packets_out, r.bytes_in, r.bytes_out, r.states_current,
                   r.states_total, 1]
            a = want.setdefault((rs.path, r.label), [0] * 8)
            for i, x in enumerate(row):
                a[i] += x
    got = {(lt.path, label): list(row) for lt in pf.label_totals() for label, row in lt.labels.items()}
    assert got == want
    assert [lt.rules for lt in pf.label_totals()] == [len(rs.rules) for rs in pf.iter_rulesets()]
