"""A whole main ruleset loads as pfctl -f loads it: rules, tables, queues and `set` options in one
transaction, unset options back to pf's defaults; a failure at any step leaves pf as it was."""

from __future__ import annotations

import errno

import pytest

from pf_exporter.pf import PacketFilter, PfLoadError

TEXT = """set limit states 20000
set timeout tcp.established 3600
set debug notice
set loginterface em1
set skip on lo0
set syncookies adaptive (start 30%, end 20%)
set reassemble no
queue rootq on em0 bandwidth 100M max 100M
queue std parent rootq bandwidth 90M default
table <bad> persist { 192.0.2.1 }
block in quick from <bad>
pass out all set queue std
"""


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.8") as handle:  # 7.8: no limiters to lose
        yield handle


def test_options_queues_tables_rules_in_one_load(pf) -> None:
    result = pf.load(TEXT)
    assert (result.rules, result.tables, result.changed) == (2, 1, True)
    o = pf.options()
    assert (o.limits["states"], o.timeouts["tcp.established"], o.debug, o.loginterface) == (20000, 3600, "notice",
                                                                                             "em1")
    # a states limit without adaptive timeouts scales them to 60% / 120% of it (pfctl_load_options)
    assert (o.timeouts["adaptive.start"], o.timeouts["adaptive.end"]) == (12000, 24000)
    assert o.skip == ("lo0",) and o.reassemble is False
    assert (o.syncookies, o.syncookies_high, o.syncookies_low) == ("adaptive", 6000, 4000)
    assert [q.name for q in pf.queues()] == ["rootq", "std"]
    assert [str(a) for a in pf.table_addresses("bad")] == ["192.0.2.1"]


def test_unset_options_go_back_to_the_defaults(pf) -> None:
    pf.load(TEXT)
    pf.load("pass all\n")
    o = pf.options()
    assert (o.limits["states"], o.timeouts["tcp.established"], o.debug, o.loginterface) == (100000, 86400, "err", "")
    assert (o.skip, o.reassemble, o.syncookies) == ((), True, "never")
    assert pf.queues() == []


def test_options_in_an_anchor_are_ignored_with_a_warning(pf) -> None:
    before = pf.options()
    result = pf.load("set limit states 10\nset skip on em0\npass all\n", "office")
    assert any("ignored" in w for w in result.warnings)
    assert pf.options() == before


def _skipped(pf: PacketFilter) -> set[str]:
    return {i.name for i in pf.interfaces() if i.skip}


@pytest.mark.parametrize("request_name", ["DIOCADDQUEUE", "DIOCADDRULE", "DIOCSETTIMEOUT", "DIOCSETIFFLAG",
                                          "DIOCSETSYNCOOKIES", "DIOCXCOMMIT"])
def test_a_failure_mid_transaction_changes_nothing(pf, request_name: str) -> None:
    sim = pf.simulator
    before, options, queues, rules, skipped = (sim.fingerprint(), pf.options(), pf.queues(), pf.ruleset_text(),
                                               _skipped(pf))
    sim.inject(request_name, errno.EINVAL, after=1 if request_name in ("DIOCSETTIMEOUT", "DIOCADDRULE") else 0)
    with pytest.raises(PfLoadError):
        pf.load(TEXT)
    assert pf.options() == options and pf.queues() == queues and pf.ruleset_text() == rules
    assert "bad" not in {t.name for t in pf.tables("")}
    if request_name in ("DIOCADDQUEUE", "DIOCADDRULE"):  # before any option was sent: not one byte differs
        assert sim.fingerprint() == before
    # what the kernel applies before the commit was put back: a later commit skips the same interfaces
    pf.set_options(debug=options.debug)
    assert pf.options() == options and _skipped(pf) == skipped


def test_a_limit_below_what_is_in_use_is_refused_whole(pf) -> None:
    before = pf.simulator.fingerprint()
    with pytest.raises(PfLoadError) as e:
        pf.load("set limit states 10\npass all\n")
    assert "states" in str(e.value)
    assert pf.simulator.fingerprint() == before


def test_load_anchor_from_the_files_given(pf) -> None:
    text = ('anchor "web"\nload anchor "web" from "/etc/pf.web"\nanchor "spare"\n'
            'load anchor "spare" from "/etc/pf.spare"\npass all\n')
    files = {"/etc/pf.web": 'table <w> persist { 192.0.2.1 }\npass in proto tcp to port 80\nanchor "in" {\n pass\n}\n',
             "/etc/pf.spare": ""}
    pf.load("pass\n", "spare")
    result = pf.load(text, files=files)
    assert result.anchors == ("", "web", "web/in", "spare") and result.warnings == ()
    assert pf.rule_count("web") == 2 and pf.rule_count("web/in") == 1
    assert pf.rule_count("spare") == 0  # a loaded anchor is replaced even by an empty file
    assert [str(a) for a in pf.table_addresses("w", "web")] == ["192.0.2.1"]
    before = pf.simulator.fingerprint()
    for missing in ({}, None):
        with pytest.raises(PfLoadError) as e:
            pf.load(text, files=missing)
        assert "/etc/pf.web" in str(e.value) or "load anchor" in str(e.value)
    assert pf.simulator.fingerprint() == before
