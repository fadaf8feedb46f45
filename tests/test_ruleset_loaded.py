"""The corpus's ``.loaded`` files: ``pfctl -a regress -f pfN.in`` then
``pfctl -a 'regress/*' -gvvsr``.  Here: compile_ruleset() for anchor "regress", load the
structs into the simulator with the pf library's transaction, read the rules back with
:meth:`PacketFilter.ruleset_text` (DIOCGETRULE) and print them as ``-gvvsr`` does (skip
steps, queue and counter lines included)."""

from __future__ import annotations

import os
import re

import pytest

from pf_exporter.pf import PacketFilter
from pf_exporter.pf._compile import CompiledRuleset, compile_ruleset
from pf_exporter.ruleset.corpus import corpus_reader
from pf_exporter.simulator import Simulator, simulated_device
from pf_exporter.simulator.scenarios import Loader

CORPUS = os.path.join(os.path.dirname(__file__), "data", "pfctl-regress")
LOADED = sorted(f[:-len(".loaded")] for f in os.listdir(CORPUS) if f.endswith(".loaded"))

# Differences between the simulator and the kernel that recorded these files (none at present).
SIMULATOR_GAPS: dict[str, str] = {}


def corpus_simulator() -> Simulator:
    """An empty pf with the regress machine's interfaces (corpus README)."""
    sim = Simulator("empty", release="7.6", arch="amd64")  # lo0 has 127.0.0.1/8, ::1 and fe80::1
    loader = Loader(sim)
    for name, group in (("lo1000000", "lo"), ("tun1000000", "tun"), ("tun1000001", "tun"), ("enc0", "enc")):
        loader.iface(name, (group,))
    return sim


def load(device, compiled: CompiledRuleset) -> None:  # type: ignore[no-untyped-def]
    """Load *compiled* with the pf library's one transaction (DIOCXBEGIN, DIOCRINADEFINE, DIOCADDRULE,
    DIOCXCOMMIT)."""
    PacketFilter.from_device(device).backend.load(compiled)


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
    shown = PacketFilter.from_device(device).ruleset_text("regress" if optimize else "regress/*", verbose=2,
                                                          debug=True)
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
