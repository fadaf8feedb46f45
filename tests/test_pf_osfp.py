"""OS fingerprints: OpenBSD's pf.os (shipped with its ISC notice) parses, loads through DIOCOSFPADD,
reads back through DIOCOSFPGET signature for signature, and flushes; bad files change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pf_exporter.pf import PacketFilter, PfInvalidArgument, PfReadOnlyError
from pf_exporter.pf._osfp import parse, standard_database

SHARED = Path(__file__).parent / "data" / "pf.os"


def test_the_shipped_database_is_openbsds_with_its_notice() -> None:
    text = standard_database()
    assert text == SHARED.read_text()
    assert "Permission to use, copy, modify, and distribute this software" in text


def _lines(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_load_read_back_and_flush() -> None:
    with PacketFilter.simulated("small") as pf:
        loaded = pf.load_fingerprints()
        assert loaded.added == len(_lines(standard_database())) == 246 and loaded.warnings == ()
        fps = pf.fingerprints()
        want = set()
        for line in _lines(standard_database()):
            f = [x.strip() for x in line.split(":")]
            want.add((":".join(f[:5]), f[5].lstrip("@*"), f[6], f[7]))
        assert {(f.signature, f.os_class, f.version, f.subtype) for f in fps} == want
        assert any(f.generic and f.os_class == "Windows" for f in fps)
        assert {f.name for f in fps} >= {"OpenBSD 3.0-4.8", "OpenBSD 3.0-4.8 no-df", "Linux 2.6", "Linux 2.6 .1-7"}
        pf.flush_fingerprints()
        assert pf.fingerprints() == []
        with pytest.raises(PfReadOnlyError):
            pf.reopen(writable=False).load_fingerprints()


def test_duplicates_warn_and_bad_lines_change_nothing() -> None:
    with PacketFilter.simulated("small") as pf:
        r = pf.load_fingerprints("S4:64:1:60:M*,S,T,N,W0:Linux:2.6::x\nS4:64:1:60:M*,S,T,N,W0:Linux:2.6::y\n")
        assert r.added == 1 and "duplicate" in r.warnings[0]
        for bad, where in (("S4:64:1:60:M*,Q:Linux:2.6::\n", "line 1"), ("a:b\n", "line 1"),
                           ("# ok\n*:300:0:60:.:X:1::\n", "line 2"), ("*:64:2:60:.:X:1::\n", "line 1"),
                           (f"*:64:0:60:.:{'X' * 40}:1::\n", "line 1")):
            with pytest.raises(PfInvalidArgument) as e:
                pf.load_fingerprints(bad)
            assert where in str(e.value)
        assert len(pf.fingerprints()) == 1  # the refused files were never sent


def test_every_option_kind_round_trips() -> None:
    sigs = parse("%8192:128:1:*:M%512,W*,N,T0,S,E:@X:1:2:d\nT10:255:0:%4:W%2,M1460,T:*Y:::\n")
    assert [s.optcnt for s in sigs] == [5, 3]
    with PacketFilter.simulated("empty") as pf:
        pf.load_fingerprints("%8192:128:1:*:M%512,W*,N,T0,S:@X:1:2:d\nT10:255:0:%4:W%2,M1460,T:*Y:::\n")
        assert sorted(f.signature for f in pf.fingerprints()) == ["%8192:128:1:*:M%512,W*,N,T0,S",
                                                                   "T10:255:0:%4:W%2,M1460,T"]
