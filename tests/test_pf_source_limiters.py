"""OpenBSD 7.9 source limiter entries: listed page by page (DIOCGETNSOURCE), one cleared
(DIOCCLRSOURCE) with or without its states; older releases say they have none."""

from __future__ import annotations

import pytest

from pf_exporter.pf import PacketFilter, PfInvalidArgument, PfNotFound, PfReadOnlyError, PfUnsupported
from pf_exporter.simulator.objects import source_key


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.9") as handle:
        yield handle


def test_entries_by_id_or_name_and_pages(pf) -> None:
    lim = pf.simulator.sourcelims[1]
    for i in range(600):  # more than two pages of 256
        lim.sources[source_key(2, 0, bytes([100, 64, i // 256, i % 256]) + bytes(12), 32, 64)] = [0, i, 0, 0]
    entries = pf.source_limiter_entries("clients")
    assert entries == pf.source_limiter_entries(1)
    assert len(entries) == len(lim.sources) >= 600
    assert len({e.network for e in entries}) == len(entries)  # no page boundary read twice
    assert [(e.family, e.rdomain, e.network.network_address.packed) for e in entries] == sorted(
        (e.family, e.rdomain, e.network.network_address.packed) for e in entries)


def test_clear_one_with_its_states(pf) -> None:
    entries = pf.source_limiter_entries(1)
    busy = next(e for e in entries if e.states)
    states_before = pf.state_count()
    pf.clear_source_entry(1, str(busy.network.network_address), kill_states=True)
    assert busy.network not in {e.network for e in pf.source_limiter_entries(1)}
    assert pf.state_count() == states_before - busy.states
    with pytest.raises(PfNotFound):
        pf.clear_source_entry(1, str(busy.network.network_address))
    with pytest.raises(PfInvalidArgument):
        pf.clear_source_entry("nosuch", "192.0.2.1")
    with pytest.raises(PfReadOnlyError):
        pf.reopen(writable=False).clear_source_entry(1, "192.0.2.1")


def test_releases_without_limiters() -> None:
    with PacketFilter.simulated("small", release="7.8") as pf, pytest.raises(PfUnsupported):
        pf.source_limiter_entries(1)
