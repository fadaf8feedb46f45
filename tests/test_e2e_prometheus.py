"""End to end with a real Prometheus: the shipped alert rules page on a state table filled to 85 %, and every
dashboard query (template variables substituted) returns data from a live `pf_exporter --simulate`.

Prometheus (Debian's `prometheus` package) runs on a loopback port with a throw-away config and data
directory, scrapes every second and evaluates a copy of the rules whose `for:` is shortened to seconds.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.tooling import load_dashboard_module, tool_or_skip

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"
BUDGET_SECONDS = 50  # the whole test, start-up included
SHORT_FOR = "2s"
JOB = "pf"

pytestmark = pytest.mark.timeout(BUDGET_SECONDS + 10)


mixin = load_dashboard_module("mixin")


def prometheus_or_skip() -> str:
    return tool_or_skip("prometheus", "apt-get install -y prometheus")


def exporter_cli_or_skip() -> None:
    if importlib.util.find_spec("pf_exporter.cli") is None:
        pytest.skip("pf_exporter.cli does not exist yet (issue 3)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_ready(self, url: str, deadline: Deadline) -> None:
        """Until ``url`` answers 200; fails with the process's output if it exits or the deadline passes."""
        while deadline.left() > 0:
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited with code {self.popen.returncode} before serving:\n{self.output()}")
            if http_get(url, timeout=1)[0] == 200:
                return
            time.sleep(0.2)
        pytest.fail(f"{self.name} did not answer {url} in time:\n{self.output()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start(name: str, argv: list[str], log: Path) -> Process:
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    return Process(name, popen, log)


def shortened_rules(tmp: Path) -> list[Path]:
    """Copies of the shipped rule files, with every `for:` cut to seconds so the test sees alerts fire."""
    out = []
    for name in mixin.ALERT_FILES + mixin.RECORDING_FILES:
        doc = mixin.load_yaml(name)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = SHORT_FOR
        path = tmp / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(path)
    return out


@dataclass
class Stack:
    exporter_target: str
    prometheus_url: str
    deadline: Deadline

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url)
        assert status == 200, f"GET {url}: HTTP {status} {body[:500]!r}"
        reply = json.loads(body)
        assert reply["status"] == "success", reply
        return reply["data"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    prometheus = prometheus_or_skip()
    exporter_cli_or_skip()
    deadline = Deadline(BUDGET_SECONDS)
    exporter_port, prometheus_port = free_port(), free_port()
    target = f"127.0.0.1:{exporter_port}"
    started: list[Process] = []
    try:
        exporter = start("pf_exporter", [
            # ha-master: the small firewall as a member of a carp/pfsync pair
            sys.executable, "-m", "pf_exporter", "--simulate", "--simulate.scenario", "ha-master",
            "--simulate.state-fill", "0.85", "--web.listen-address", target,
            # the opt-in details, so every dashboard panel has data
            "--collector.states", "--collector.states.details", "--collector.srcnodes", "--collector.tables.addresses",
        ], tmp_path / "exporter.log")
        started.append(exporter)
        exporter.wait_ready(f"http://{target}/metrics", deadline)

        rule_files = shortened_rules(tmp_path)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        url = f"http://127.0.0.1:{prometheus_port}"
        server = start("prometheus", [
            prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn",
        ], tmp_path / "prometheus.log")
        started.append(server)
        server.wait_ready(f"{url}/-/ready", deadline)
        yield Stack(target, url, deadline)
    finally:
        for p in reversed(started):
            p.stop()


@pytest.mark.slow
def test_the_state_table_alert_fires_and_every_dashboard_query_returns_data(stack: Stack):
    # 1. Prometheus pages: the state table is 85 % full (>= 80 %, < 95 %).
    firing: list[dict[str, Any]] = []
    while stack.deadline.left() > 0:
        firing = [a for a in stack.alerts() if a["state"] == "firing"]
        if any(a["labels"]["alertname"] == "PfStateTableNearlyFull" for a in firing):
            break
        time.sleep(0.5)
    names = sorted(a["labels"]["alertname"] for a in firing)
    assert "PfStateTableNearlyFull" in names, (
        f"PfStateTableNearlyFull did not fire in time; firing: {names}; "
        f"usage: {stack.api('query', query='pf_limit_used / pf_limit')}")
    alert = next(a for a in firing if a["labels"]["alertname"] == "PfStateTableNearlyFull")
    assert alert["labels"].items() >= {"job": JOB, "instance": stack.exporter_target, "limit": "states",
                                       "severity": "warning"}.items()
    assert 0.84 <= float(alert["value"]) < 0.95
    assert re.fullmatch(rf"pf state table on {stack.exporter_target} is 8\d(\.\d+)?% full\.",
                        alert["annotations"]["summary"]), alert["annotations"]
    assert not {"PfStateTableFull", "PfDisabled", "PfCollectorFailing", "PfExporterDown"} & set(names), names
    # its runbook link, as Prometheus rendered it, opens the alert's section on the exporter
    runbook = alert["annotations"]["runbook_url"]
    assert runbook == f"http://{stack.exporter_target}/runbooks#pfstatetablenearlyfull"
    with urllib.request.urlopen(runbook.partition("#")[0], timeout=10) as r:
        assert 'id="pfstatetablenearlyfull"' in r.read().decode()

    # 2. Every template variable finds values and every panel query returns data.
    values = {"job": JOB, "instance": stack.exporter_target, "interface": ".*", "anchor": ".*", "label": ".*"}
    overrides = {"__rate_interval": "15s", "__interval": "2s", "__range": "5m"}
    empty = []
    for name in mixin.DASHBOARD_FILES:
        d = mixin.load_dashboard(name)
        for v in mixin.variables(d)[1:]:
            selector, label = mixin.parse_label_values(mixin.variable_query(v))
            found = stack.api(f"label/{label}/values", **{"match[]": mixin.substitute(selector, values)})
            if not found:
                empty.append(f"{d['title']}: variable ${v['name']} has no values")
        for q in mixin.panel_queries(d):
            expr = mixin.substitute(q.expr, {**values, **overrides})
            if not stack.api("query", query=expr)["result"]:
                empty.append(f"{q}: no data for {expr}")
    assert not empty, "\n".join(empty)
