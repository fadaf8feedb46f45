"""The Prometheus rules of the mixin: the alerts, each with a runbook_url to its section of the runbooks the
exporter serves, checked by promtool and unit-tested (firing and not firing) by `promtool test rules`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.tooling import load_dashboard_module, promtool_or_skip

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"


mixin = load_dashboard_module("mixin")

# What issue 5 asks to be paged or told about, with severities.
EXPECTED_ALERTS = {
    "PfStateTableNearlyFull": "warning",  # state table >= 80 % for 5m
    "PfStateTableFull": "critical",  # >= 95 %
    "PfLimitNearlyExhausted": "warning",  # any other limit
    "PfDisabled": "critical",
    "PfCollectorFailing": "warning",
    "PfExporterDown": "warning",
    "PfMemoryDrops": "warning",
    "PfStateInsertFailures": "warning",
    "PfStateLimitDrops": "warning",
    "PfSrcLimitDrops": "warning",
    "PfQueueDrops": "warning",
    "PfCongestion": "warning",
    "PfRulesetChanged": "info",
    "PfSynflood": "warning",  # adaptive syncookies switched on
    "PfExporterConfigReloadFailed": "warning",  # a SIGHUP kept the old configuration
    "PfCarpNoMaster": "critical",  # no member of a pair is master of a vhid
    "PfCarpSplitBrain": "critical",  # more than one is
    "PfCarpFailover": "info",  # the master moved
    "PfCarpDemoted": "warning",  # demoted for longer than a bulk update takes
    "PfsyncErrors": "warning",
    "PfsyncNotSending": "warning",  # states change, pfsync sends nothing
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool_or_skip(), *args], capture_output=True, text=True, timeout=60, cwd=DASHBOARDS)


@pytest.mark.parametrize("rules_file", mixin.ALERT_FILES + mixin.RECORDING_FILES)
def test_promtool_check_rules_accepts_the_rules_file(rules_file):
    result = promtool("check", "rules", rules_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("test_file", mixin.RULE_TEST_FILES)
def test_promtool_unit_tests_pass(test_file):
    result = promtool("test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_are_the_ones_the_issue_asks_for_with_their_severities():
    assert {a["alert"]: a["labels"]["severity"] for a in mixin.alerts()} == EXPECTED_ALERTS


def test_state_table_alerts_use_the_issue_thresholds():
    by_name = {a["alert"]: a for a in mixin.alerts()}
    warning, critical = by_name["PfStateTableNearlyFull"], by_name["PfStateTableFull"]
    assert warning["expr"].endswith(">= 0.80") and warning["for"] == "5m"
    assert critical["expr"].endswith(">= 0.95")
    assert 'limit!="states"' in by_name["PfLimitNearlyExhausted"]["expr"]


def test_every_alert_has_a_summary_a_description_and_a_runbook_url_to_its_section():
    from pf_exporter import runbooks

    sections = runbooks.sections()
    for a in mixin.alerts():
        notes = a["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, a["alert"]
        assert "{{ $labels.instance }}" in notes["summary"], f"{a['alert']}: say which firewall"
        assert "\n" not in notes["summary"], f"{a['alert']}: the summary is one line"
        assert re.search(r"\{\{ (\$value|\$labels\.\w+)", notes["description"]), f"{a['alert']}: describe values"
        assert notes["runbook_url"] == f"http://{{{{ $labels.instance }}}}/runbooks#{runbooks.anchor(a['alert'])}"
        text = sections[a["alert"]]  # the section exists
        command = r"`(pfctl|rcctl|vmstat|netstat|top|curl|grep|ifconfig|tcpdump|sysctl) [^`]+`"
        assert re.search(command, text), f"{a['alert']}: say what to run"
        assert len(text) > 250, f"{a['alert']}: the runbook says what it means and what to do, step by step"
    assert set(sections) == {a["alert"] for a in mixin.alerts()}, "a runbook section for every alert, and no other"


def test_the_runbook_links_work_on_a_running_exporter(serve) -> None:
    """Every alert's runbook_url, rendered for an exporter, names an element of the page it serves."""
    import http.client

    s = serve()
    host, port = s.addresses[0]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/runbooks")
    r = conn.getresponse()
    page = r.read().decode()
    conn.close()
    assert r.status == 200 and r.getheader("Content-Type", "").startswith("text/html")
    for a in mixin.alerts():
        url = a["annotations"]["runbook_url"].replace("{{ $labels.instance }}", f"{host}:{port}")
        path, _, fragment = url.partition(f"http://{host}:{port}")[2].partition("#")
        assert path == "/runbooks" and f'id="{fragment}"' in page, a["alert"]
    assert "`" not in page


def test_alerts_that_page_wait_before_firing():
    for a in mixin.alerts():
        if a["labels"]["severity"] != "info":
            assert re.fullmatch(r"\d+m", a.get("for", "")), f"{a['alert']} fires on a single evaluation"


def unit_test_cases() -> list[dict[str, Any]]:
    return [case for f in mixin.RULE_TEST_FILES for group in mixin.load_yaml(f)["tests"]
            for case in group.get("alert_rule_test", [])]


def test_every_alert_is_unit_tested_both_firing_and_not_firing():
    cases = unit_test_cases()
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    names = set(EXPECTED_ALERTS)
    assert names - firing == set(), f"never tested firing: {sorted(names - firing)}"
    assert names - quiet == set(), f"never tested not firing: {sorted(names - quiet)}"
    assert (firing | quiet) - names == set(), "tests for alerts that do not exist"


def test_firing_cases_pin_the_rendered_annotations():
    for c in unit_test_cases():
        for alert in c["exp_alerts"]:
            assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}, c["alertname"]
            assert "{{" not in str(alert["exp_annotations"]), f"{c['alertname']}: expected text is rendered"


def test_every_recording_rule_is_named_level_metric_operation_and_unit_tested():
    tested = " ".join(case["expr"] for f in mixin.RULE_TEST_FILES for group in mixin.load_yaml(f)["tests"]
                      for case in group.get("promql_expr_test", []))
    for r in mixin.recording_rules():
        level, metric, operation = r["record"].split(":")
        assert level and metric.startswith("pf_") and operation, r["record"]
        assert r["record"] in tested, f"{r['record']} has no promql_expr_test"


def test_every_recording_rule_is_used_by_a_dashboard():
    queries = " ".join(q.expr for f in mixin.DASHBOARD_FILES for q in mixin.panel_queries(mixin.load_dashboard(f)))
    for r in mixin.recording_rules():
        assert r["record"] in queries, f"{r['record']} is recorded for nothing"
