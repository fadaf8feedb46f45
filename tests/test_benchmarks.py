"""benchmarks/scrape.py: the replay (benchmarks/replay.py) stands in for the kernel faithfully, and
the script runs end to end on a tiny scenario and reports every figure docs/performance.md shows.
No timing is asserted: the numbers belong to the machine, the fields to the script."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "scrape.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scrape", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scrape"] = module
    spec.loader.exec_module(module)
    return module


def _run(*args: str, timeout: int = 120) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _read_all(pf: PacketFilter) -> tuple:
    return (pf.status(), dict(pf.limits()), dict(pf.timeouts()), pf.interfaces(), pf.tables(),
            list(pf.iter_rulesets()), pf.queues(), pf.state_limiters(), pf.source_limiters())


def test_replay_answers_what_the_simulator_answered(tmp_path: Path) -> None:
    bench = _bench()
    bench.record("small", tmp_path)
    sim = Simulator("small")  # the same seed: the same pf the recording saw
    replay = bench.ReplayTransport(tmp_path, sim.abi)
    replayed = PacketFilter.from_device(Device(sim.abi, replay))
    assert _read_all(replayed) == _read_all(PacketFilter.from_device(Device(sim.abi, sim.open())))
    assert replay.misses == 0 and replay.count > 0 and replay.seconds > 0


def test_replay_refuses_a_request_it_never_saw(tmp_path: Path) -> None:
    bench = _bench()
    bench.record("small", tmp_path)
    abi = Simulator("small").abi
    reader = PacketFilter.from_device(Device(abi, bench.ReplayTransport(tmp_path, abi)))
    with pytest.raises(sys.modules["replay"].ReplayMiss, match="no recorded answer for DIOCRGETASTATS"):
        reader.table_addresses("spamd")


@pytest.mark.slow
def test_benchmark_reports_every_figure(tmp_path: Path) -> None:
    out_json = tmp_path / "results.json"
    out = _run("--scenarios", "small", "--per-rule", "small", "--scrapes", "3", "--concurrency", "4", "--rounds",
               "1", "--floor-iterations", "1", "--cache", str(tmp_path / "cache"), "--json", str(out_json))
    for column in ("scrape p50 ms", "p95 ms", "samples", "kernel ms", "gzip ms", "generate_latest ms", "ratio",
                   "text p50 ms", "exporter ms", "us/rule", "ioctls/scrape", "peak RSS MB"):
        assert column in out
    assert "small: scrape " in out and "gzip " in out and "Python per rule beyond the ioctl" in out
    assert "4 concurrent scrapes x 1 rounds -> kernel walks per round" in out
    assert "0 errors" in out
    data = json.loads(out_json.read_text())
    runs = {r["name"]: r for r in data["results"]}
    assert set(runs) == {"small", "small per-rule"}
    small, per_rule = runs["small"], runs["small per-rule"]
    for r in (small, per_rule):
        assert r["samples"] > 0 and r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"]
        assert r["ioctls_per_scrape"] > 0 and r["walks_per_scrape"] == 1.0
        assert r["peak_rss_mb"] > 0 and r["generate_latest_ms"] > 0 and r["floor_ratio"] > 0
        assert r["gzip_ms"] > 0 and r["text_p50_ms"] > 0 and r["replay_ms"] > 0
        assert r["failed"] == []
    assert per_rule["samples"] > small["samples"]  # the per-rule series are there
    assert small["concurrent"]["served"] == 4 and small["concurrent"]["errors"] == []
    assert 1 <= sum(small["concurrent"]["walks_per_round"]) <= 4  # counted (sharing is the exporter tests' job)


@pytest.mark.slow
def test_soak_mode_prints_rss_at_start_and_end(tmp_path: Path) -> None:
    out = _run("--soak", "20", "--soak-scenario", "small", "--cache", str(tmp_path))
    assert "scrapes      0  RSS" in out and "scrapes     20  RSS" in out
    assert "RSS at start" in out and "growth" in out


def test_curve_scenarios_have_the_rule_counts_they_are_named_for(tmp_path: Path) -> None:
    bench = _bench()
    assert bench.record("rules-1k", tmp_path)["rules"] == 1044  # small's 44 + 5 anchors of 200


def test_bad_numbers_are_refused_with_the_flag_named() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--scrapes", "0"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and "--scrapes must be at least 1" in proc.stderr


def test_table_addresses_benchmark_prints_its_figures() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "table_addresses.py"), "--addresses", "2000",
                           "--cap", "500", "--scrapes", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "table of 2,000 addresses, cap 500: 6,5" in proc.stdout  # 500 x 13 series + the table's own
    for figure in ("kernel", "collector", "encode (pf_exporter)", "generate_latest", "encode / floor"):
        assert figure in proc.stdout
