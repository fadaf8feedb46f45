"""The full exposition of each simulator scenario: golden files, promtool, and the
declarations (every exported family is declared, every declared family is exported).

Goldens are the text format with the measured durations zeroed and the build labels
fixed.  After an intended change, rewrite them with::

    PF_EXPORTER_UPDATE_GOLDEN=1 python -m pytest tests/test_exposition.py
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import os
import platform
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from support.tooling import promtool_or_skip

from pf_exporter.collectors import COLLECTORS
from pf_exporter.exporter import (
    SELF_SPECS,
    VERSION,
    ExporterInfo,
    PfExporter,
    build_collectors,
    build_registry,
)
from pf_exporter.exposition import generate_text
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator, simulated_device

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PF_EXPORTER_UPDATE_GOLDEN") == "1"
# The golden of each scenario: every collector (states too); per-rule series only for
# "small" (the large one has 10 000 rules, 70 000 per-rule series).
CASES = {"small": True, "large": False, "ha-master": False}  # ha-master: a CARP/pfsync pair member


def exposition(scenario: str, per_rule: bool, release: str = "7.9") -> str:
    return _exposition(scenario, per_rule, release)


@cache
def _exposition(scenario: str, per_rule: bool, release: str) -> str:
    sim = Simulator(scenario, release=release, arch="amd64", seed=1)
    device = simulated_device(sim)
    features = frozenset({"limiters"}) if device.abi.has_limiters else frozenset()
    # the small golden also has every opt-in detail: per-address table counters, decoded states
    extra = argparse.Namespace(per_rule=per_rule, tables_addresses=per_rule, tables_addresses_include=".*",
                               tables_addresses_max=10_000, states_details=per_rule)
    exporter = PfExporter(PacketFilter.from_device(device, sim), build_collectors(COLLECTORS, features, args=extra),
                          ExporterInfo(device.abi.release, device.abi.arch, features))
    return generate_text(build_registry(exporter)).decode()


def normalise(text: str) -> str:
    text = re.sub(r"^(pf_scrape_collector_duration_seconds\{[^}]*\}) .*$", r"\1 0.0", text, flags=re.M)
    text = re.sub(r"^(pf_exporter_config_last_reload_success_timestamp_seconds) .*$", r"\1 0.0", text, flags=re.M)
    text = re.sub(r"^(process_[a-z_]+(?:\{[^}]*\})?) .*$", r"\1 0.0", text, flags=re.M)  # this process's own
    return text.replace(f'python="{platform.python_version()}"', 'python="X"').replace(
        f'version="{VERSION}"', 'version="X"')


def golden_path(scenario: str) -> Path:
    return GOLDEN / (f"{scenario}.prom.gz" if scenario == "large" else f"{scenario}.prom")


def read_golden(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


def write_golden(path: Path, text: str) -> None:
    data = text.encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("scenario", [pytest.param(c, marks=pytest.mark.slow) if c == "large" else c for c in CASES])
def test_golden_exposition(scenario: str) -> None:
    got = normalise(exposition(scenario, CASES[scenario]))
    path = golden_path(scenario)
    if UPDATE or not path.exists():
        write_golden(path, got)
        if not UPDATE:
            pytest.fail(f"{path.name} did not exist; written now, check it in")
    want = read_golden(path)
    if got != want:
        diff = "".join(list(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "now"))[:60])
        pytest.fail(f"exposition of {scenario} differs from {path.name} (PF_EXPORTER_UPDATE_GOLDEN=1 to accept):\n"
                    f"{diff}")


@pytest.mark.parametrize("scenario", [pytest.param(c, marks=pytest.mark.slow) if c == "large" else c for c in CASES])
def test_every_collector_succeeds(scenario: str) -> None:
    text = exposition(scenario, CASES[scenario])
    for name in COLLECTORS:
        assert f'pf_scrape_collector_success{{collector="{name}"}} 1.0' in text


@pytest.mark.parametrize(("scenario", "release"), [("small", "7.9"), ("large", "7.9"), ("small", "7.6"),
                                                   ("small", "current")])
def test_promtool_check_metrics_is_clean(scenario: str, release: str) -> None:
    promtool = promtool_or_skip()
    text = exposition(scenario, CASES[scenario], release)
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def exported_families(text: str) -> dict[str, set[str]]:
    """{sample name: label names} of an exposition."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
        assert m, line
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        out.setdefault(m.group(1), set()).update(labels)
    return out


def test_exported_families_are_exactly_the_declared_ones() -> None:
    """The README table and the landing page come from the declarations: they must match
    what the scenarios really export, label for label."""
    declared = {s.name: set(s.labels) for cls in COLLECTORS.values() for s in cls.specs}
    declared.update({s.name: set(s.labels) for s in SELF_SPECS})
    exported: dict[str, set[str]] = {}
    for scenario in CASES:
        for name, labels in exported_families(exposition(scenario, CASES[scenario])).items():
            exported.setdefault(name, set()).update(labels)
    for name, labels in exported.items():
        if name.startswith("process_"):
            continue  # the standard process metrics (pf_exporter.process), documented as one row
        assert name in declared, f"{name} is exported but not declared"
        assert labels == declared[name], f"{name}: exported labels {labels}, declared {declared[name]}"
    # pf_loginterface_* need `set loginterface`, which neither scenario sets.
    missing = set(declared) - set(exported) - {"pf_loginterface_packets_total", "pf_loginterface_bytes_total"}
    assert not missing, f"declared but exported by no scenario: {sorted(missing)}"


def test_old_releases_have_no_limiter_collector() -> None:
    text = exposition("small", True, "7.6")
    assert 'collector="limiters"' not in text
    assert "pf_state_limiter" not in text
    assert 'pf_exporter_build_info{abi="7.6/amd64"' in text
