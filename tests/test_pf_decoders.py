"""The array decoders (one struct.iter_unpack over DIOCIGETIFACES' and DIOCRGETTSTATS' answers)
against ctypes' own field reads, on every release and architecture; the default rule walk's
error handling with the transport's raw call."""

from __future__ import annotations

import ctypes
import errno

import pytest

from pf_exporter import abi
from pf_exporter.abi import constants as C
from pf_exporter.device import Device
from pf_exporter.errors import PfBusy, PfError, PfNotFound
from pf_exporter.pf import _codec as codec
from pf_exporter.pf import types as T

CASES = [(r, a) for r in abi.SUPPORTED_RELEASES for a in abi.SUPPORTED_ARCHS]


def _fill(obj: ctypes.Structure, seed: int) -> None:
    """Distinct bytes everywhere (each element different), so a wrong offset shows."""
    raw = (ctypes.c_ubyte * ctypes.sizeof(obj)).from_buffer(obj)
    for i in range(len(raw)):
        raw[i] = (i * 7 + seed * 13 + 1) & 0xFF


@pytest.mark.parametrize("release,arch", CASES)
def test_decode_tables_reads_what_ctypes_reads(release, arch) -> None:
    L = abi.select_abi(release, arch).layout
    arr = (L.pfr_tstats * 5)()
    for n in range(5):
        _fill(arr[n], n)
        t = arr[n].pfrts_t
        t.pfrt_anchor = f"a/{n}".encode()
        t.pfrt_name = f"t{n}".encode()
        t.pfrt_flags = C.PFR_TFLAG_ACTIVE | C.PFR_TFLAG_PERSIST if n != 3 else C.PFR_TFLAG_INACTIVE
    got = codec.decode_tables(arr, 4)  # the fifth is not part of the answer
    assert [t.name for t in got] == ["t0", "t1", "t2"]  # t3 is inactive
    for n, t in zip((0, 1, 2), got, strict=True):
        ts = arr[n]
        assert t.anchor == f"a/{n}" and t.flags == frozenset({"active", "persist"})
        assert t.addresses == ts.pfrts_cnt and t.matches == ts.pfrts_match and t.nomatches == ts.pfrts_nomatch
        assert t.cleared == ts.pfrts_tzero
        assert t.rule_references == ts.pfrts_refcnt[C.PFR_REFCNT_RULE]
        assert t.anchor_references == ts.pfrts_refcnt[C.PFR_REFCNT_ANCHOR]
        for d, dirname in enumerate(T.DIRECTIONS):
            for op, act in enumerate(T.TABLE_ACTIONS):
                assert t.packets[(dirname, act)] == ts.pfrts_packets[d][op]
                assert t.bytes[(dirname, act)] == ts.pfrts_bytes[d][op]
    assert [t.name for t in codec.decode_tables(arr, 4, inactive=True)] == ["t0", "t1", "t2", "t3"]


@pytest.mark.parametrize("release,arch", CASES)
def test_decode_interfaces_reads_what_ctypes_reads(release, arch) -> None:
    L = abi.select_abi(release, arch).layout
    arr = (L.pfi_kif * 3)()
    for n in range(3):
        _fill(arr[n], n)
        arr[n].pfik_name = f"em{n}".encode()
        arr[n].pfik_flags = C.PFI_IFLAG_SKIP if n == 1 else 0
        arr[n].pfik_group = 0 if n == 2 else 1
    got = codec.decode_interfaces(arr, 3)
    for n, i in enumerate(got):
        k = arr[n]
        assert i.name == f"em{n}" and i.skip == (n == 1) and i.is_group == (n != 2)
        assert (i.cleared, i.states, i.rules, i.routes, i.src_nodes) == (
            k.pfik_tzero, k.pfik_states, k.pfik_rules, k.pfik_routes, k.pfik_srcnodes)
        for af, fam in enumerate(T.FAMILIES):
            for d, dirname in enumerate(T.DIRECTIONS):
                for a, act in enumerate(codec.ACTIONS2):
                    assert i.packets[(fam, dirname, act)] == k.pfik_packets[af][d][a]
                    assert i.bytes[(fam, dirname, act)] == k.pfik_bytes[af][d][a]


class _Rules:
    """A transport answering DIOCGETRULE with rule nr's label, then failing with *err* at *stop*."""

    writable = False

    def __init__(self, a: abi.Abi, stop: int, err: int) -> None:
        self.number = a.request("DIOCGETRULE").number
        self.stop, self.err = stop, err

    def ioctl(self, request: int, arg) -> None:
        assert request == self.number
        if arg.nr >= self.stop:
            raise OSError(self.err, "stop")
        arg.rule.label = b"web" if arg.nr % 2 else b""
        arg.rule.evaluations = arg.nr + 1

    def close(self) -> None:
        pass


@pytest.mark.parametrize("err,raises", [(errno.ENOENT, None), (errno.EIO, PfError), (errno.EBUSY, PfBusy)])
def test_label_walk_ends_at_enoent_and_raises_other_errors(err, raises) -> None:
    a = abi.select_abi("7.9", "amd64")
    dev = Device(a, _Rules(a, 5, err))
    dec = codec.RuleDecoder(a.layout.pfioc_rule)
    totals: dict[str, list[int]] = {}
    call, fail = dev.raw_caller("DIOCGETRULE")
    pr = a.new("pfioc_rule")
    if raises is None:
        assert dec.label_walk(call, fail, pr, 9, totals) == 5
        assert totals[""][0] == 1 + 3 + 5 and totals[""][7] == 3
        assert totals["web"][0] == 2 + 4 and totals["web"][7] == 2
    else:
        with pytest.raises(raises) as e:
            dec.label_walk(call, fail, pr, 9, totals)
        assert e.value.request == "DIOCGETRULE"
        assert not isinstance(e.value, PfNotFound)


def test_rule_texts_are_kept_by_the_rule_less_its_counters() -> None:
    a = abi.select_abi("7.9", "amd64")
    dec = codec.RuleDecoder(a.layout.pfioc_rule)
    pr = a.new("pfioc_rule")
    pr.rule.action, pr.rule.direction, pr.rule.label = C.PF_PASS, C.PF_IN, b"web"
    first = dec.rule_text(pr)
    assert 'label "web"' in first
    pr.rule.evaluations, pr.rule.states_cur, pr.ticket = 99, 5, 7  # counters and the walk's own fields
    pr.anchor = b"some/anchor"
    pr.anchor_call = b"x" * 20
    pr.anchor_call = b""  # an empty name with stale bytes after its NUL
    assert dec.rule_text(pr) is first and len(dec._rule_texts) == 1
    pr.rule.label = b"mail"
    assert 'label "mail"' in dec.rule_text(pr) and len(dec._rule_texts) == 2


@pytest.mark.parametrize("stop", [5, 2500, 3072, 4000])
def test_label_walk_sums_across_batches(stop) -> None:
    a = abi.select_abi("7.9", "amd64")
    dev = Device(a, _Rules(a, stop, errno.ENOENT))
    dec = codec.RuleDecoder(a.layout.pfioc_rule)
    totals: dict[str, list[int]] = {}
    assert dec.label_walk(*dev.raw_caller("DIOCGETRULE"), a.new("pfioc_rule"), 3072, totals) == min(stop, 3072)
    n = min(stop, 3072)
    assert totals["web"][0] == sum(i + 1 for i in range(n) if i % 2) and totals["web"][7] == n // 2
    assert totals[""][0] == sum(i + 1 for i in range(n) if not i % 2) and totals[""][7] == n - n // 2
