"""End to end, high availability: four simulated exporters as two carp pairs scraped by a real
Prometheus with the shipped rules (`for:` shortened to seconds).  Pair "edge" (ha-master +
ha-backup) is healthy until its master is demoted through the admin API: then no member is master
(PfCarpNoMaster) and the old master reports a failover (PfCarpFailover).  Pair "lab" (two
ha-splitbrain members) is split brain from the start (PfCarpSplitBrain)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_e2e_prometheus import (
    Deadline,
    Process,
    exporter_cli_or_skip,
    free_port,
    http_get,
    prometheus_or_skip,
    shortened_rules,
    start,
)

BUDGET_SECONDS = 60
TOKEN = "e2e-failover-3c9d1e7a5b2f4c60"
pytestmark = pytest.mark.timeout(BUDGET_SECONDS + 15)


def _alerts(url: str) -> list[dict[str, Any]]:
    status, body = http_get(f"{url}/api/v1/alerts")
    assert status == 200, body[:300]
    return [a for a in json.loads(body)["data"]["alerts"] if a["state"] == "firing"]


def _wait(url: str, deadline: Deadline, want: Any, what: str) -> list[dict[str, Any]]:
    firing: list[dict[str, Any]] = []
    while deadline.left() > 0:
        firing = _alerts(url)
        if want(firing):
            return firing
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen in time; firing: {sorted(a['labels']['alertname'] for a in firing)}")


def _named(firing: list[dict[str, Any]], name: str, pair: str) -> list[dict[str, Any]]:
    return [a for a in firing if a["labels"]["alertname"] == name and a["labels"].get("ha_pair") == pair]


@pytest.mark.slow
def test_pairs_failover_and_split_brain(tmp_path: Path) -> None:
    prometheus = prometheus_or_skip()
    exporter_cli_or_skip()
    deadline = Deadline(BUDGET_SECONDS)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"failover:{TOKEN} carp,read\n")
    os.chmod(tokens, 0o600)
    admin_port = free_port()
    members = {"edge": [("ha-master", True), ("ha-backup", False)], "lab": [("ha-splitbrain", False)] * 2}
    started: list[Process] = []
    targets: dict[str, list[str]] = {}
    master_target = ""
    try:
        for pair, roles in members.items():
            for i, (scenario, admin) in enumerate(roles):
                target = f"127.0.0.1:{free_port()}"
                argv = [sys.executable, "-m", "pf_exporter", "--simulate", "--simulate.scenario", scenario,
                        "--web.listen-address", target]
                if admin:
                    argv += ["--admin.listen-address", f"127.0.0.1:{admin_port}", "--admin.token-file", str(tokens)]
                    master_target = target
                p = start(f"{pair}-{i}", argv, tmp_path / f"{pair}-{i}.log")
                started.append(p)
                targets.setdefault(pair, []).append(target)
        for p, target in zip(started, [t for ts in targets.values() for t in ts], strict=True):
            p.wait_ready(f"http://{target}/metrics", deadline)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in shortened_rules(tmp_path)],
            "scrape_configs": [{"job_name": "pf", "static_configs": [
                {"targets": ts, "labels": {"ha_pair": pair}} for pair, ts in targets.items()]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start("prometheus", [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                                      f"--storage.tsdb.path={tmp_path / 'data'}",
                                      f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                       tmp_path / "prometheus.log")
        started.append(server)
        server.wait_ready(f"{url}/-/ready", deadline)

        # the lab pair is split brain; the edge pair is healthy meanwhile
        firing = _wait(url, deadline, lambda f: len(_named(f, "PfCarpSplitBrain", "lab")) >= 2, "lab split brain")
        assert not _named(firing, "PfCarpNoMaster", "edge") and not _named(firing, "PfCarpSplitBrain", "edge")

        # demote the edge master through the admin API: no master left, and a failover on it
        req = urllib.request.Request(f"http://127.0.0.1:{admin_port}/api/v1/carp/demote",
                                     data=json.dumps({"group": "carp", "by": 50}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["demotion"] == 50
        firing = _wait(url, deadline, lambda f: _named(f, "PfCarpNoMaster", "edge")
                       and any(a["labels"]["alertname"] == "PfCarpFailover" and a["labels"]["instance"] == master_target
                               for a in f), "no master and failover on edge")
        no_master = _named(firing, "PfCarpNoMaster", "edge")
        assert {a["labels"]["instance"] for a in no_master} == set(targets["edge"])
        assert {(a["labels"]["interface"], a["labels"]["vhid"]) for a in no_master} == {("carp0", "1"), ("carp0", "2"),
                                                                                     ("carp1", "3")}
    finally:
        for p in reversed(started):
            p.stop()
