"""Runtime options through the library: every `set` option changes pf and reads back, in one
transaction (a refused value changes nothing), and is refused before any request when invalid."""

from __future__ import annotations

import pytest

from pf_exporter.pf import PacketFilter, PfInvalidArgument, PfLimitError, PfReadOnlyError


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.9") as handle:
        yield handle


def test_every_option_changes_pf_and_reads_back(pf) -> None:
    o = pf.set_options(limits={"states": 50000, "table-entries": 300000}, timeouts={"tcp.established": 3600},
                       debug="notice", hostid=0x1234ABCD, loginterface="em0", reassemble=True, no_df=True,
                       syncookies="adaptive", syncookies_start=30, syncookies_end=20, skip={"em1": True})
    assert o.limits["states"] == 50000 and o.limits["table-entries"] == 300000
    assert o.timeouts["tcp.established"] == 3600
    assert (o.debug, o.hostid, o.loginterface) == ("notice", 0x1234ABCD, "em0")
    assert (o.reassemble, o.no_df) == (True, True)
    assert (o.syncookies, o.syncookies_start, o.syncookies_end) == ("adaptive", 30.0, 20.0)
    assert (o.syncookies_high, o.syncookies_low) == (15000, 10000)  # % of the new state limit
    assert "em1" in o.skip
    st = pf.status()
    assert st.hostid == 0x1234ABCD and st.loginterface == "em0" and st.syncookies_mode == "adaptive"
    assert next(i for i in pf.interfaces() if i.name == "em1").skip


def test_the_one_option_helpers(pf) -> None:
    assert pf.set_limit("src-nodes", 2000).limits["src-nodes"] == 2000
    assert pf.set_timeout("udp.first", 30).timeouts["udp.first"] == 30
    o = pf.set_optimization("aggressive")
    assert o.optimization == "aggressive" and o.timeouts["tcp.first"] == 30
    assert pf.set_optimization("normal").optimization == "normal"
    assert pf.set_debug(7).debug == "debug"
    assert pf.set_loginterface(None).loginterface == ""
    assert pf.set_reassemble(False).reassemble is False
    assert pf.set_syncookies("always").syncookies == "always"
    assert "em1" in pf.set_skip("em1").skip
    assert "em1" not in pf.set_skip("em1", False).skip
    assert pf.set_hostid(0).hostid != 0  # pf picks one


def test_a_value_pf_refuses_changes_nothing_of_the_others(pf) -> None:
    before = pf.options()
    in_use = pf.status().states
    with pytest.raises(PfLimitError, match="set limit states 1`: more than that are in use") as e:
        pf.set_options(debug="debug", timeouts={"tcp.first": 5}, limits={"states": 1})
    assert e.value.limit == "states" and in_use > 1
    assert pf.options() == before  # the debug level and timeout set before it were rolled back


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limits": {"bogus": 1}}, "unknown limit 'bogus'"),
    ({"limits": {"states": -1}}, "limit states must be a whole number"),
    ({"timeouts": {"tcp.nope": 1}}, "unknown timeout 'tcp.nope'"),
    ({"optimization": "fast"}, "unknown optimization 'fast'"),
    ({"debug": "loudest"}, "unknown debug level 'loudest'"),
    ({"debug": 9}, "debug level 9 is not 0-7"),
    ({"loginterface": "x" * 20}, "is not an interface or group name"),
    ({"syncookies": "sometimes"}, "syncookies is one of never, always, adaptive"),
    ({"syncookies": "always", "syncookies_start": 20}, "only apply to syncookies adaptive"),
    ({"syncookies": "adaptive", "syncookies_start": 10, "syncookies_end": 20}, "is above the start"),
    ({"hostid": 1 << 32}, "hostid must be a whole number"),
])
def test_bad_values_are_refused_before_any_request(kwargs, message) -> None:
    with PacketFilter.simulated("small") as pf:
        calls = dict(pf.simulator.calls)
        with pytest.raises(PfInvalidArgument, match=message):
            pf.set_options(**kwargs)
        assert not {k for k in pf.simulator.calls if k.startswith("DIOCSET") or k == "DIOCXBEGIN"} - set(calls)


def test_a_read_only_handle_refuses_option_changes() -> None:
    with PacketFilter.simulated("small", writable=False) as pf, pytest.raises(PfReadOnlyError):
        pf.set_limit("states", 20000)


def test_options_take_effect_only_at_commit(pf) -> None:
    """The kernel holds debug, timeouts and the rest until DIOCXCOMMIT: the library always commits."""
    pf.set_options(debug="info", timeouts={"interval": 20})
    assert pf.status().debug == 6 and pf.timeouts()["interval"] == 20
    assert pf.simulator.calls.get("DIOCXCOMMIT", 0) >= 1
