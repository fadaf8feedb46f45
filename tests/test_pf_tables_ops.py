"""Tables as pfctl -T does them, source nodes, counters and kill by key, through the library on
the simulator (which answers with the kernel's semantics)."""

from __future__ import annotations

import ipaddress

import pytest

from pf_exporter.pf import PacketFilter, PfInvalidArgument, PfNotFound, PfReadOnlyError


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.9") as handle:
        yield handle


def _names(pf: PacketFilter, anchor: str = "", inactive: bool = False) -> dict[str, frozenset[str]]:
    return {t.name: t.flags for t in pf.tables(anchor, inactive=inactive) if t.anchor == anchor}


def test_create_flags_delete_and_flush_tables(pf) -> None:
    assert pf.create_table("blocked", counters=True) is True
    assert pf.create_table("blocked") is False  # it exists
    assert _names(pf)["blocked"] >= {"persist", "active", "counters"}
    assert pf.create_table("fixed", "office", persist=True, const=True)
    assert "const" in _names(pf, "office")["fixed"]
    assert pf.set_table_flags("blocked", counters=False) == (1, 0)
    assert "counters" not in _names(pf)["blocked"]
    assert pf.delete_table("blocked") == 1 and "blocked" not in _names(pf)
    assert pf.delete_table("blocked") == 0
    assert pf.flush_tables("office") == 1 and "fixed" not in _names(pf, "office")


def test_dry_run_changes_nothing_and_needs_no_write(pf) -> None:
    before = [str(a) for a in pf.table_addresses("spamd")]
    ro = pf.reopen(writable=False)
    change = ro.add_addresses("spamd", ["192.0.2.200", "192.0.2.10"], dry_run=True, feedback=True)
    assert (change.added, change.dry_run) == (1, True)
    assert [r.result for r in change.results] == ["added", "none"]
    assert ro.create_table("newone", dry_run=True) is True and "newone" not in _names(pf)
    assert [str(a) for a in pf.table_addresses("spamd")] == before
    with pytest.raises(PfReadOnlyError):
        ro.add_addresses("spamd", ["192.0.2.200"])
    with pytest.raises(PfReadOnlyError):
        ro.delete_table("spamd")


def test_feedback_marks_as_pfctl_prints_them(pf) -> None:
    pf.create_table("fb")
    add = pf.add_addresses("fb", ["10/8", "10.11/16", "10.11.0.0/16", "!1.1.1.2"], feedback=True)
    assert add.added == 3
    assert [str(r) for r in add.results] == ["A  10.0.0.0/8", "A  10.11.0.0/16", "X  10.11.0.0/16", "A !1.1.1.2"]
    rep = pf.replace_addresses("fb", ["10.0/8", "172.16.0/12"], feedback=True)
    assert (rep.added, rep.deleted) == (1, 2)
    assert sorted(str(r) for r in rep.results) == ["   10.0.0.0/8", "A  172.16.0.0/12", "D  10.11.0.0/16",
                                                    "D !1.1.1.2"]
    assert sorted(str(a) for a in pf.table_addresses("fb")) == ["10.0.0.0/8", "172.16.0.0/12"]


def test_test_addresses_and_negated_entries(pf) -> None:
    pf.create_table("neg")
    pf.add_addresses("neg", ["10.0.0.0/8", "!10.10.0.0/16"])
    t = pf.test_addresses("neg", ["10.1.1.1", "10.10.1.1", "11.1.1.1"])
    assert t.matched == 1 and not t.all_match
    assert [r.result for r in t.results] == ["match", "nomatch", "none"]
    assert t.results[0].entry is not None and str(t.results[0].entry) == "10.0.0.0/8"
    assert pf.test_addresses("neg", ["10.2.3.4"]).all_match
    with pytest.raises(PfNotFound):
        pf.test_addresses("nosuchtable", ["10.0.0.1"])
    with pytest.raises(PfInvalidArgument):
        pf.test_addresses("neg", [])


def test_zero_and_expire(pf) -> None:
    pf.create_table("exp", counters=True)
    pf.add_addresses("exp", ["192.0.2.1", "192.0.2.2"])
    pf.simulate_traffic(120)
    assert pf.zero_addresses("exp", ["192.0.2.2"]) == 1  # cleared now, the other 120 s ago
    gone = pf.expire_addresses("exp", 60, feedback=True)
    assert gone.deleted == 1 and [str(r) for r in gone.results] == ["D  192.0.2.1"]
    assert [str(a) for a in pf.table_addresses("exp")] == ["192.0.2.2"]
    assert pf.zero_tables("exp") == 1
    assert pf.zero_tables(anchor="") >= 5  # every table of the main ruleset
    with pytest.raises(PfInvalidArgument):
        pf.expire_addresses("exp", -1)


def test_source_nodes_list_kill_flush(pf) -> None:
    nodes = pf.source_nodes()
    assert nodes and all(n.kind == "filter" and n.states >= 1 for n in nodes)
    assert pf.status().src_nodes == len(nodes)
    one = nodes[0]
    assert pf.kill_source_nodes(str(one.address)) == 1
    assert one.address not in {n.address for n in pf.source_nodes()}
    assert pf.kill_source_nodes("!0.0.0.0/0") == 0  # negated: matches no address
    pf.flush_source_nodes()
    assert pf.source_nodes() == [] and pf.status().src_nodes == 0
    with pytest.raises(PfInvalidArgument):
        pf.kill_source_nodes()
    with pytest.raises(PfReadOnlyError):
        pf.reopen(writable=False).flush_source_nodes()


def test_clear_counters_global_interface_and_rules(pf) -> None:
    pf.simulate_traffic(5)
    assert pf.status().counters["match"] > 0
    em0 = next(i for i in pf.interfaces() if i.name == "em0")
    assert sum(em0.packets.values()) > 0
    pf.clear_counters("em0")
    em0 = next(i for i in pf.interfaces() if i.name == "em0")
    assert sum(em0.packets.values()) == 0
    pf.clear_counters()
    assert pf.status().counters["match"] == 0
    assert pf.clear_rule_counters() == pf.rule_count()
    assert all(r.evaluations == 0 and r.packets == 0 for r in pf.rules())
    assert any(r.evaluations for r in pf.rules("office"))  # other anchors keep theirs
    with pytest.raises(PfReadOnlyError):
        pf.reopen(writable=False).clear_rule_counters()


def test_kill_state_key_either_way_round(pf) -> None:
    states = list(pf.states())
    s = next(x for x in states if x.protocol == 6)
    fwd = f"tcp {s.source} -> {s.destination}"
    assert pf.kill_state_key(fwd) == 1
    assert s.id not in {x.id for x in pf.states()}
    t = next(x for x in pf.states() if x.protocol == 6)
    assert pf.kill_state_key(f"tcp {t.destination} <- {t.source}") == 1
    assert pf.kill_state_key(fwd) == 0  # already gone
    for bad in ("tcp 1.2.3.4:1 => 5.6.7.8:2", "bogus 1.2.3.4:1 -> 5.6.7.8:2", "tcp 1.2.3.4:1 -> ::1",
                "tcp 1.2.3.4:99999 -> 5.6.7.8:2", 42):
        with pytest.raises(PfInvalidArgument):
            pf.kill_state_key(bad)  # type: ignore[arg-type]


def test_pfctl_address_shorthand(pf) -> None:
    pf.create_table("short")
    pf.add_addresses("short", ["10/8", "10.11/16", "10.11.12/24", "10.11.12.13"])
    assert [a.network for a in pf.table_addresses("short")] == [
        ipaddress.ip_network(n) for n in ("10.0.0.0/8", "10.11.0.0/16", "10.11.12.0/24", "10.11.12.13/32")]
