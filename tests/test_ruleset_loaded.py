"""The corpus's ``.loaded`` files: ``pfctl -a regress -f pfN.in`` then
``pfctl -a 'regress/*' -gvvsr``.  Here: compile_ruleset() for anchor "regress", load the
structs into the simulator in one transaction, read the rules back with DIOCGETRULE and
print them as ``-gvvsr`` does (skip steps, queue and counter lines included)."""

from __future__ import annotations

import ctypes
import os
import re

import pytest

from pf_exporter.abi.constants import PF_TRANS_RULESET, PF_TRANS_TABLE, PFR_FLAG_ADDRSTOO
from pf_exporter.ruleset.compile import CompiledRuleset, compile_ruleset
from pf_exporter.ruleset.corpus import corpus_reader
from pf_exporter.ruleset.sr import show_kernel_rules
from pf_exporter.simulator import Simulator, simulated_device
from pf_exporter.simulator.scenarios import Loader

CORPUS = os.path.join(os.path.dirname(__file__), "data", "pfctl-regress")
LOADED = sorted(f[:-len(".loaded")] for f in os.listdir(CORPUS) if f.endswith(".loaded"))

# Differences between the simulator and the kernel that recorded these files (none at present).
SIMULATOR_GAPS: dict[str, str] = {}


class _Kernel:
    """KernelRules over a simulated /dev/pf."""

    def __init__(self, device) -> None:  # type: ignore[no-untyped-def]
        self.device = device
        self.abi = device.abi

    def rules(self, path: str) -> list[tuple[ctypes.Structure, str]]:
        pr = self.abi.new("pfioc_rule")
        pr.anchor = path.encode()
        self.device.ioctl("DIOCGETRULES", pr)
        ticket, count = pr.ticket, pr.nr
        out = []
        for _ in range(count):
            pr = self.abi.new("pfioc_rule", ticket=ticket)
            pr.anchor = path.encode()
            self.device.ioctl("DIOCGETRULE", pr)
            rule = self.abi.new("pf_rule")
            ctypes.memmove(ctypes.addressof(rule), ctypes.addressof(pr.rule), ctypes.sizeof(rule))
            out.append((rule, pr.anchor_call.decode()))
        self.device.ioctl("DIOCXEND", ctypes.c_uint32(ticket))
        return out

    def children(self, path: str) -> list[str]:
        prs = self.abi.new("pfioc_ruleset")
        prs.path = path.encode()
        self.device.ioctl("DIOCGETRULESETS", prs)
        names = []
        for nr in range(prs.nr):
            q = self.abi.new("pfioc_ruleset", nr=nr)
            q.path = path.encode()
            self.device.ioctl("DIOCGETRULESET", q)
            names.append(q.name.decode())
        return names


def corpus_simulator() -> Simulator:
    """An empty pf with the regress machine's interfaces (corpus README)."""
    sim = Simulator("empty", release="7.6", arch="amd64")  # lo0 has 127.0.0.1/8, ::1 and fe80::1
    loader = Loader(sim)
    for name, group in (("lo1000000", "lo"), ("tun1000000", "tun"), ("tun1000001", "tun"), ("enc0", "enc")):
        loader.iface(name, (group,))
    return sim


def load(device, compiled: CompiledRuleset) -> None:  # type: ignore[no-untyped-def]
    abi = compiled.abi
    trans = compiled.transaction()
    io = abi.new("pfioc_trans", size=len(trans), esize=ctypes.sizeof(abi.layout.pfioc_trans_e),
                 array=ctypes.addressof(trans))
    device.ioctl("DIOCXBEGIN", io)
    tickets = {(e.type, e.anchor.decode()): e.ticket for e in trans}
    for t in compiled.tables:
        addrs = (abi.layout.pfr_addr * max(1, len(t.addresses)))(*t.addresses)
        tio = abi.new("pfioc_table", pfrio_table=t.table, pfrio_buffer=ctypes.addressof(addrs),
                      pfrio_esize=ctypes.sizeof(abi.layout.pfr_addr), pfrio_size=len(t.addresses),
                      pfrio_ticket=tickets[(PF_TRANS_TABLE, t.path)],
                      pfrio_flags=PFR_FLAG_ADDRSTOO if t.source.init_addr else 0)
        device.ioctl("DIOCRINADEFINE", tio)
    for pr in compiled.pfioc_rules(lambda path: tickets[(PF_TRANS_RULESET, path)]):
        device.ioctl("DIOCADDRULE", pr)
    device.ioctl("DIOCXCOMMIT", io)


def _params(gaps: dict[str, str]) -> list[object]:
    return [pytest.param(c, marks=[pytest.mark.xfail(strict=True, reason=gaps[c])] if c in gaps else [])
            for c in LOADED]


def _load_and_show(case: str, optimize: bool) -> tuple[str, str]:
    with open(os.path.join(CORPUS, f"{case}.in"), encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(CORPUS, f"{case}.{'optimized' if optimize else 'loaded'}"), encoding="utf-8") as f:
        expected = f.read()
    sim = corpus_simulator()
    device = simulated_device(sim, writable=True)
    load(device, compile_ruleset(text, sim.abi, "regress", read_file=corpus_reader(CORPUS), optimize=optimize))
    # the Makefile shows .loaded with -a 'regress/*' and .optimized with -a regress
    shown = show_kernel_rules(_Kernel(device), "regress" if optimize else "regress/*", verbose=2, debug=True)
    return re.sub(r"__automatic_[0-9a-f]*_", "__automatic_", shown), expected


@pytest.mark.parametrize("case", _params(SIMULATOR_GAPS))
def test_loaded(case: str) -> None:
    """pfctl -o none -a regress -f pfN.in; pfctl -a 'regress/*' -gvvsr"""
    shown, expected = _load_and_show(case, optimize=False)
    assert shown == expected


@pytest.mark.parametrize("case", _params(SIMULATOR_GAPS))
def test_optimized(case: str) -> None:
    """pfctl -o basic -a regress -f pfN.in; pfctl -o none -a regress -gvvsr"""
    shown, expected = _load_and_show(case, optimize=True)
    assert shown == expected
