"""The public library, used as a script would: only names from ``pf_exporter.pf``, on
``PacketFilter.simulated()``; every read and write, and that they agree with each other."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

import pf_exporter.pf as pflib
from pf_exporter.pf import (
    AddressMatch,
    LoadPlan,
    PacketFilter,
    PfError,
    PfInvalidArgument,
    PfLoadError,
    PfNotFound,
    PfReadOnlyError,
    PfUnsupported,
    PortMatch,
    Rule,
    State,
    StateFilter,
    TableAddress,
    TableChange,
)


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.9") as handle:
        yield handle


def test_every_public_name_is_exported_and_documented() -> None:
    for name in pflib.__all__:
        obj = getattr(pflib, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
    for name, member in vars(PacketFilter).items():
        if not name.startswith("_") and callable(getattr(member, "__func__", member)):
            assert getattr(PacketFilter, name).__doc__, name


def test_the_handle_says_what_it_speaks(pf) -> None:
    assert (pf.release, pf.arch, pf.writable) == ("7.9", "amd64", True)
    assert pf.features == frozenset({"bwspec64", "immediate-limits", "hfsc64", "limiters"})
    assert pf.simulator is not None
    assert "simulated OpenBSD 7.9/amd64 rw" in repr(pf)
    with PacketFilter.simulated("empty", release="7.6", writable=False) as old:
        assert old.features == frozenset() and not old.writable  # 7.6 is the baseline
        assert old.state_limiters() == [] and old.source_limiters() == []


def test_reads_return_frozen_values_with_pfctls_names(pf) -> None:
    st = pf.status()
    assert st.running and st.loginterface == "em0" and len(st.checksum) == 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.states = 0  # type: ignore[misc]
    assert set(pf.limits()) == {"states", "src-nodes", "frags", "tables", "table-entries", "pktdelay-pkts", "anchors"}
    with pytest.raises(TypeError):
        pf.limits()["states"] = 1  # type: ignore[index]
    assert pf.timeouts()["tcp.established"] == pf.simulator.timeouts[2] > 0
    high, low = pf.syncookie_watermarks()
    assert high > low > 0
    assert {"em0", "egress", "all"} <= {i.name for i in pf.interfaces()}
    assert pf.anchors() == ["ftp-proxy", "ftp-proxy/21345.1", "office", "office/guests", "relayd", "relayd/web"]
    assert {q.name for q in pf.queues()} >= {"std"}
    assert [s.name for s in pf.state_limiters()] == ["web", "ssh"]
    assert pf.source_limiters()


def test_rules_counters_and_text_agree(pf) -> None:
    rules = pf.rules()
    assert all(isinstance(r, Rule) for r in rules)
    counters = pf.rule_counters()
    assert [(r.number, r.label, r.packets_in, r.evaluations) for r in rules] == \
        [(c.number, c.label, c.packets_in, c.evaluations) for c in counters]
    assert pf.rule_count() == len(rules) == 34
    ssh = next(r for r in rules if r.label == "ssh-in")
    assert ssh.text.startswith("pass in") and 'label "ssh-in"' in ssh.text
    assert ssh.packets == ssh.packets_in + ssh.packets_out
    assert [r.text for r in rules] == [line for line in pf.ruleset_text().splitlines() if not line.startswith(" ")]
    tree = list(pf.iter_rulesets())
    assert [rs.path for rs in tree] == ["", *pf.anchors()]
    assert sum(len(rs.rules) for rs in tree) == 44


def test_tables_and_their_addresses(pf) -> None:
    tables = {(t.anchor, t.name): t for t in pf.tables()}
    assert ("office/guests", "guests") in tables
    assert [t.name for t in pf.tables("office/guests")] == ["guests"]
    guests = pf.table_addresses("guests", "office/guests")
    assert all(isinstance(a, TableAddress) for a in guests)
    assert [str(a) for a in guests] == ["10.20.0.0/24", "!10.20.0.1"]
    assert guests[0].network == ipaddress.ip_network("10.20.0.0/24") and guests[1].negated
    assert guests[0].packets and guests[0].cleared > 0
    assert pf.table_addresses("guests", "office/guests", counters=False)[0].packets == {}
    with pytest.raises(PfNotFound):
        pf.table_addresses("nosuchtable")


def test_a_loaded_anchor_reads_back_with_the_same_rules(pf) -> None:
    text = ("table <web> persist { 192.0.2.10, 192.0.2.11 }\n"
            "pass in quick proto tcp from any to <web> port 443 label \"https\"\n"
            "block in quick from 198.51.100.0/24 to any\n")
    plan = pf.compile(text, "deploy")
    assert isinstance(plan, LoadPlan) and (plan.rules, plan.tables, plan.anchors) == (2, 1, ("deploy",))
    dry = pf.load(text, "deploy", dry_run=True)
    assert dry.dry_run and not dry.changed and "deploy" not in pf.anchors()
    result = pf.load(plan)
    assert result.changed and (result.rules, result.tables) == (2, 1)
    assert "deploy" in pf.anchors()
    assert [r.text for r in pf.rules("deploy")] == [
        "pass in quick proto tcp from any to <web> port = 443 flags S/SA label \"https\"",
        "block drop in quick inet from 198.51.100.0/24 to any"]
    assert [str(a) for a in pf.table_addresses("web", "deploy")] == ["192.0.2.10", "192.0.2.11"]
    assert pf.ruleset_text("deploy").splitlines() == [r.text for r in pf.rules("deploy")]


def test_a_load_that_does_not_compile_changes_nothing(pf) -> None:
    before = (pf.anchors(), [r.text for r in pf.rules("office")])
    with pytest.raises(PfLoadError) as e:
        pf.load("pass in all\npass out proto tcp to port 99999\n", "office")
    assert e.value.stage == "compile" and e.value.line == 2 and "99999" in str(e.value)
    assert isinstance(e.value, PfError)
    assert (pf.anchors(), [r.text for r in pf.rules("office")]) == before


def test_table_edits_add_delete_replace(pf) -> None:
    assert pf.add_addresses("bruteforce", ["203.0.113.7", ipaddress.ip_address("203.0.113.8")]) == \
        TableChange(added=2)
    assert pf.add_addresses("bruteforce", ["203.0.113.7"]).added == 0
    listed = {str(a) for a in pf.table_addresses("bruteforce")}
    assert {"203.0.113.7", "203.0.113.8"} <= listed
    assert pf.delete_addresses("bruteforce", ["203.0.113.8"]).deleted == 1
    change = pf.replace_addresses("bruteforce", ["198.51.100.0/24", "!198.51.100.1"])
    assert change.added == 2 and change.deleted == len(listed) - 1
    assert [str(a) for a in pf.table_addresses("bruteforce")] == ["198.51.100.0/24", "!198.51.100.1"]
    with pytest.raises(PfInvalidArgument, match="not an IPv4 or IPv6"):
        pf.add_addresses("bruteforce", ["203.0.113.300"])
    with pytest.raises(PfInvalidArgument, match="table name"):
        pf.add_addresses("x" * 40, ["203.0.113.1"])


def test_states_filters_and_kills(pf) -> None:
    states = list(pf.states())
    assert states and all(isinstance(s, State) for s in states)
    assert pf.state_count() == len(states) == pf.status().states
    assert sum(pf.count_states().values()) == len(states)
    first = states[0]
    assert isinstance(first.source.address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    assert list(pf.states(id=first.id)) == [first]
    tcp = list(pf.states(protocol="tcp"))
    assert tcp and all(s.protocol == 6 for s in tcp) and tcp == list(pf.states(protocol=6))
    assert len(list(pf.states(limit=3))) == 3
    by_where = list(pf.states(StateFilter(protocol=17)))
    assert all(s.protocol == 17 for s in by_where)
    victim = tcp[0].source
    mine = [s for s in states if s.source.address == victim.address]
    assert list(pf.states(source=str(victim.address))) == mine
    assert list(pf.states(address=victim.address)) == [s for s in states if victim.address in
                                                       (s.source.address, s.destination.address)]
    assert pf.kill_states(source=victim.address) == len(mine)
    assert list(pf.states(source=victim.address)) == []  # killed states are gone
    port = tcp[-1].destination.port
    assert all(s.destination.port == port for s in pf.states(destination_port=port))
    assert all(s.destination.port != port for s in pf.states(destination_port=PortMatch("!=", port)))
    assert all(1024 <= s.source.port <= 65535 for s in pf.states(source_port="1024:65535"))
    assert pf.kill_states(id=first.id) in (0, 1)
    assert list(pf.states(id=first.id)) == []


def test_kill_states_by_rule_names_the_rules_anchor(pf) -> None:
    sim = pf.simulator
    st = next(s for s in sim.states.values() if s.rule is not None)
    rule = st.rule
    expected = sum(1 for s in sim.states.values() if s.rule is rule)
    listed = list(pf.states(rule=rule.nr, anchor=rule.ruleset.path))
    assert len(listed) == expected
    assert pf.kill_states(rule=rule.nr, anchor=rule.ruleset.path) == expected
    assert not [s for s in sim.states.values() if s.rule is rule]


def test_kill_states_needs_a_condition(pf) -> None:
    n = pf.state_count()
    with pytest.raises(PfInvalidArgument, match="no condition"):
        pf.kill_states()
    with pytest.raises(PfInvalidArgument, match="unknown condition"):
        pf.kill_states(colour="red")
    with pytest.raises(PfInvalidArgument, match="cannot be combined"):
        pf.kill_states(all=True, protocol="tcp")
    assert pf.state_count() == n
    assert pf.kill_states(all=True, interface="nosuch0") == 0
    assert pf.kill_states(all=True) == n and pf.state_count() == 0


def test_a_label_filter_lists_the_states_of_the_labelled_rules(pf) -> None:
    sim = pf.simulator
    label = next(s.rule.label for s in sim.states.values() if s.rule is not None and s.rule.label)
    want = {s.id for s in sim.states.values() if s.rule is not None and s.rule.label == label}
    assert {s.id for s in pf.states(label=label)} == want
    assert pf.kill_states(label=label) == len(want)


def test_enable_and_disable_are_idempotent(pf) -> None:
    assert pf.disable() is True and pf.disable() is False
    assert not pf.status().running
    assert pf.enable() is True and pf.enable() is False
    assert pf.status().running


def test_a_read_only_handle_refuses_every_change_before_any_request() -> None:
    with PacketFilter.simulated("small", writable=False) as ro:
        sim = ro.simulator
        before = sim.fingerprint()
        calls = dict(sim.calls)
        for change in (ro.enable, ro.disable, lambda: ro.load("pass all\n", "x"),
                       lambda: ro.add_addresses("bruteforce", ["192.0.2.1"]),
                       lambda: ro.delete_addresses("bruteforce", ["192.0.2.1"]),
                       lambda: ro.replace_addresses("bruteforce", []),
                       lambda: ro.kill_states(all=True), lambda: ro.kill_states(protocol="tcp")):
            with pytest.raises(PfReadOnlyError, match="read-only"):
                change()
        assert sim.calls == calls  # not one request was issued
        assert sim.fingerprint() == before
        rw = ro.reopen(writable=True)
        assert rw.writable and rw.add_addresses("bruteforce", ["192.0.2.1"]).added == 1
        assert "192.0.2.1" in {str(a) for a in ro.table_addresses("bruteforce")}  # the same pf
        rw.close()


def test_bad_arguments_are_refused_with_the_reason() -> None:
    with PacketFilter.simulated("small") as pf:
        for call, match in ((lambda: list(pf.states(family="ipx")), "inet or inet6"),
                            (lambda: list(pf.states(protocol="nosuch")), "unknown protocol"),
                            (lambda: list(pf.states(port=70000)), "out of range"),
                            (lambda: list(pf.states(port="a:b")), "not a port number"),
                            (lambda: list(pf.states(id=-1)), "non-negative"),
                            (lambda: list(pf.states(limit=-1)), "non-negative"),
                            (lambda: list(pf.states(rule=1, anchor="nosuch")), "no anchor"),
                            (lambda: pf.rules(anchor=5), "str"),  # type: ignore[arg-type]
                            (lambda: pf.table_addresses(""), "table name")):
            with pytest.raises(PfInvalidArgument, match=match):
                call()
        assert isinstance(PfInvalidArgument("x", "y"), ValueError)


def test_simulated_options_and_errors() -> None:
    with pytest.raises(PfUnsupported, match="unknown simulator scenario"):
        PacketFilter.simulated("nosuch")
    with pytest.raises(PfUnsupported, match="release"):
        PacketFilter.simulated(release="7.5")
    with PacketFilter.simulated("small", seed=2, state_fill=0.5) as pf:
        assert pf.state_count() == pf.limits()["states"] // 2
        before = pf.status().counters["match"]
        pf.simulate_traffic(30)
        assert pf.status().counters["match"] > before


def test_open_without_pf_says_so(tmp_path) -> None:
    with pytest.raises(PfError) as e:
        PacketFilter.open(str(tmp_path / "nopf"), release="7.9")
    assert "is pf(4) in this kernel" in str(e.value)


def test_values_are_plain_python(pf) -> None:
    """No ctypes object leaves the library: everything is built from ints, strs, ipaddress values."""
    st = next(pf.states())
    assert isinstance(st.wire.addresses[0], ipaddress.IPv4Address | ipaddress.IPv6Address)
    assert AddressMatch(ipaddress.ip_network("10.0.0.0/8"), True).matches(ipaddress.ip_address("192.0.2.1"))
    assert str(PortMatch(":", 1024, 65535)) == "1024:65535"
