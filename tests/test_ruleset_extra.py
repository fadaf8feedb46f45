"""pf.conf beyond OpenBSD's regress corpus: OS fingerprints (``os``, ``set fingerprints``), the
7.9 state and source limiters, and anchor paths with several components, absolute or relative
to the parent.  The cases are in tests/data/pfconf-extra (its README says how each expected
output was derived).  Each ``pf`` case prints its ``.ok`` as ``pfctl -nv`` and feeds it back,
each ``pfail`` case fails with its ``.ok``; each ``.loaded`` is the case loaded as the main
ruleset of a 7.9 simulator through the library's one transaction and read back with
DIOCGETRULE as ``pfctl -a '*' -gvvsr`` prints it."""

from __future__ import annotations

import os

import pytest

from pf_exporter.pf import PacketFilter
from pf_exporter.ruleset.corpus import load_cases, run_case
from pf_exporter.simulator import Simulator, simulated_device

CORPUS = os.path.join(os.path.dirname(__file__), "data", "pfconf-extra")
CASES = load_cases(CORPUS)
LOADED = sorted(f[:-len(".loaded")] for f in os.listdir(CORPUS) if f.endswith(".loaded"))


def _files() -> dict[str, str]:
    out = {}
    for name in os.listdir(CORPUS):
        if not name.endswith((".ok", ".loaded", ".tsv", ".md")):
            with open(os.path.join(CORPUS, name), encoding="utf-8") as f:
                out[name] = f.read()
    return out


def loaded_text(case: str, release: str = "7.9") -> tuple[str, PacketFilter]:
    """Load *case*.in as the main ruleset and print it back as ``pfctl -a '*' -gvvsr``."""
    sim = Simulator("empty", release=release, arch="amd64")
    pf = PacketFilter.from_device(simulated_device(sim, writable=True))
    with open(os.path.join(CORPUS, f"{case}.in"), encoding="utf-8") as f:
        pf.load(f.read(), files=_files())
    return pf.ruleset_text("*", verbose=2, debug=True), pf


@pytest.mark.parametrize("row", CASES, ids=[r["case"] for r in CASES])
def test_case(row: dict[str, str]) -> None:
    result = run_case(CORPUS, row)
    assert result.passed, result.reason


@pytest.mark.parametrize("case", LOADED)
def test_loaded(case: str) -> None:
    shown, _pf = loaded_text(case)
    with open(os.path.join(CORPUS, f"{case}.loaded"), encoding="utf-8") as f:
        assert shown == f.read()


@pytest.mark.parametrize("case", [c for c in LOADED if c != "anchor1"])  # anchor1: -nv nests, -sr recurses
def test_loaded_rules_print_as_compiled(case: str) -> None:
    """What the kernel holds prints as the compiler printed it (-nv's rule lines = -sr's)."""
    with open(os.path.join(CORPUS, f"{case}.ok"), encoding="utf-8") as f:
        compiled = [line for line in f.read().splitlines() if line.startswith(("pass", "block", "match"))]
    _shown, pf = loaded_text(case)
    assert pf.ruleset_text("").splitlines() == compiled


def test_every_pf_case_has_a_loaded_file() -> None:
    assert sorted(r["case"] for r in CASES if r["family"] == "pf") == LOADED


if __name__ == "__main__":  # regenerate the .loaded files (review the diff before committing)
    for c in LOADED:
        text, _ = loaded_text(c)
        with open(os.path.join(CORPUS, f"{c}.loaded"), "w", encoding="utf-8") as out:
            out.write(text)
