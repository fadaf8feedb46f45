"""The Grafana dashboards of the mixin (dashboards/*.json) import into current Grafana and only query
metrics the exporter exports, with labels and label values it really uses."""

from __future__ import annotations

import functools
import gzip
import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.tooling import load_dashboard_module, promtool_or_skip

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"


mixin = load_dashboard_module("mixin")
build = load_dashboard_module("build")

# --- what the exporter exports ------------------------------------------------------------------
# Metric -> {label: the values seen}.  Every series also carries the target labels job and instance.
Exported = Mapping[str, Mapping[str, frozenset[str]]]
TARGET_LABELS = frozenset({"job", "instance", "ha_pair"})  # ha_pair: set in relabelling (docs/dashboards.md)
# The full exposition of both simulator scenarios.  tests/test_exposition.py keeps these files
# byte-identical to what the exporter renders (all collectors, per-rule series for "small").
GOLDEN = ROOT / "tests" / "golden"
SCENARIO_EXPOSITIONS = (GOLDEN / "small.prom", GOLDEN / "large.prom.gz", GOLDEN / "ha-master.prom")
# What Prometheus adds to every target.
PROMETHEUS_SYNTHETIC: Exported = {"up": {}}


def metrics_from_exposition(*texts: str) -> dict[str, dict[str, frozenset[str]]]:
    """Metric -> {label: values seen} from Prometheus text expositions (merged)."""
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[str, dict[str, set[str]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = seen.setdefault(sample.name, {})
                for k, v in sample.labels.items():
                    labels.setdefault(k, set()).add(v)
    return {name: {k: frozenset(v) for k, v in labels.items()} for name, labels in seen.items()}


def off_by_default() -> set[str]:
    """Families only a non-default flag exports: the collectors disabled by default, per-rule series."""
    from pf_exporter.collectors import COLLECTORS

    off = {s.name for c in COLLECTORS.values() if not c.default_enabled for s in c.specs}
    return off | {s.name for s in COLLECTORS["rules"].rule_specs}  # --collector.rules.per-rule


@functools.cache
def exported_metrics() -> Exported:
    """What the exporter exports with its default collectors, in either simulator scenario."""
    texts = [(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()).decode()
             for p in SCENARIO_EXPOSITIONS]
    off = off_by_default()
    return {k: v for k, v in metrics_from_exposition(*texts).items() if k not in off}


def test_the_lint_knows_the_default_exposition_of_both_scenarios():
    known = exported_metrics()
    assert {"pf_states", "pf_limit_used", "pf_label_bytes_total", "pf_queue_length", "pf_table_addresses",
            "pf_scrape_collector_success", "pf_exporter_build_info"} <= set(known)
    assert not any(name.startswith("pf_rule_") for name in known), "per-rule series are off by default"
    assert known["pf_limit"]["limit"] == {"states", "src-nodes", "frags", "tables", "table-entries",
                                          "pktdelay-pkts", "anchors"}


# --- the dashboards ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=mixin.DASHBOARD_FILES)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return mixin.load_dashboard(request.param)


def data_panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in mixin.panels(d) if p["type"] != "row"]


def test_the_committed_json_is_what_build_py_generates():
    assert build.main(["--check"]) == 0, "run `python dashboards/build.py` and commit the JSON"


def test_a_dashboard_is_an_importable_json_model(dashboard):
    assert dashboard["schemaVersion"] >= 39, "recent Grafana schema (10.4+)"
    assert dashboard["uid"] and dashboard["title"].startswith("pf / ")
    assert dashboard["id"] is None, "an exported model has no database id"
    assert dashboard["__inputs"] == [{
        "name": "DS_PROMETHEUS", "label": "Prometheus", "description": "Prometheus that scrapes pf_exporter",
        "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}]
    required = {(r["type"], r["id"]) for r in dashboard["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    assert {("panel", p["type"]) for p in data_panels(dashboard)} <= required, "__requires lists every panel type"
    json.dumps(dashboard, allow_nan=False)  # strict JSON: no NaN/Infinity


def test_the_dashboards_have_distinct_uids_and_link_to_each_other():
    models = [mixin.load_dashboard(f) for f in mixin.DASHBOARD_FILES]
    uids = {d["uid"] for d in models}
    assert len(uids) == len(models)
    for d in models:
        assert {link["url"] for link in d["links"]} == {f"/d/{u}" for u in uids - {d['uid']}}
        assert all(link["includeVars"] and link["keepTime"] for link in d["links"])


def test_panel_ids_are_unique_and_panels_tile_the_grid_without_overlap(dashboard):
    ids = [p["id"] for p in mixin.panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    assert all(isinstance(i, int) and i > 0 for i in ids)
    cells: dict[tuple[int, int], str] = {}
    for p in mixin.panels(dashboard):
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]


def test_every_panel_has_a_title_description_unit_and_queries(dashboard):
    for p in data_panels(dashboard):
        assert p["title"] and p["description"], p
        assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']!r} has no unit"
        assert p["targets"], f"{p['title']!r} has no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]


def walk(node: Any, path: str = "$") -> list[tuple[str, Any]]:
    """Every (path, value) in a JSON model."""
    out = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            out += walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += walk(v, f"{path}[{i}]")
    return out


VIA_VARIABLE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTIN = {"type": "grafana", "uid": "-- Grafana --"}  # the built-in annotations, not a data source


def test_the_datasource_is_only_reached_through_the_variable(dashboard):
    for path, value in walk(dashboard):
        if path.endswith(".datasource"):
            assert value in (VIA_VARIABLE, GRAFANA_BUILTIN), f"{path} = {value!r}: use {VIA_VARIABLE}"
    for p in data_panels(dashboard):
        assert p["datasource"] == VIA_VARIABLE and all(t["datasource"] == VIA_VARIABLE for t in p["targets"])
    ds_input = [path for path, v in walk(dashboard) if isinstance(v, str) and "${DS_PROMETHEUS}" in v]
    assert ds_input == ["$.templating.list[0].current.value"], "only the datasource variable names the import input"


def test_template_variables_are_datasource_job_instance_then_the_dashboards_own(dashboard):
    vs = mixin.variables(dashboard)
    assert [(v["name"], v["type"]) for v in vs[:3]] == [("datasource", "datasource"), ("job", "query"),
                                                        ("instance", "query")]
    assert vs[0]["query"] == "prometheus"
    for v in vs[1:]:
        assert v["type"] == "query" and v["datasource"] == VIA_VARIABLE
        assert mixin.variable_query(v) == v["definition"]
        mixin.parse_label_values(mixin.variable_query(v))
        if v.get("includeAll"):
            assert v["allValue"] == ".*", f"${v['name']}: All must also match series without the label"


def test_every_variable_used_is_defined_and_every_defined_variable_is_used(dashboard):
    defined = {v["name"] for v in mixin.variables(dashboard)}
    texts = [q.expr for q in mixin.panel_queries(dashboard)] + [mixin.variable_query(v)
                                                                for v in mixin.variables(dashboard)]
    used = set().union(*(mixin.variable_refs(t) for t in texts))
    assert used - defined <= set(mixin.GRAFANA_BUILTINS), f"undefined: {used - defined - set(mixin.GRAFANA_BUILTINS)}"
    assert defined - used == {"datasource"}, f"defined but unused: {defined - used - {'datasource'}}"


def test_every_panel_query_is_scoped_to_the_selected_job_and_instance(dashboard):
    for q in mixin.panel_queries(dashboard):
        for s in mixin.selectors(q.expr):
            assert s.matcher("job") == mixin.Matcher("job", "=~", "$job"), f"{q}: {s}"
            if s.metric.startswith("job_ha_pair_"):
                continue  # recorded across the members of a pair: no instance label, by design
            assert s.matcher("instance") == mixin.Matcher("instance", "=~", "$instance"), f"{q}: {s}"


def test_the_overview_has_the_panel_groups_the_issue_lists():
    d = mixin.load_dashboard("pf-overview.json")
    rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
    assert rows == ["Status", "Limits", "States", "Traffic by interface", "Drops", "Rules and labels", "Tables",
                    "Queues", "High availability", "Exporter health"]
    titles = {p["title"] for p in data_panels(d)}
    assert {"pf", "Enabled for", "Limit usage", "States and source nodes", "State inserts and removals",
            "Packets by interface", "Bytes by interface", "Drop reasons", "Top labels by bytes",
            "Top labels by packets", "Top labels by evaluations", "Table sizes", "Table hit rate",
            "Queue throughput", "Queue drops", "Queue length", "Collectors"} <= titles


def test_limit_usage_is_shown_in_percent_with_the_alert_thresholds():
    d = mixin.load_dashboard("pf-overview.json")
    usage = next(p for p in data_panels(d) if p["title"] == "Limit usage")
    defaults = usage["fieldConfig"]["defaults"]
    assert (defaults["unit"], defaults["min"], defaults["max"]) == ("percentunit", 0, 1)
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 0.8, 0.95]
    assert "{{limit}}" in usage["targets"][0]["legendFormat"]


def test_the_rules_dashboard_drills_down_by_anchor_and_label():
    d = mixin.load_dashboard("pf-rules.json")
    assert [v["name"] for v in mixin.variables(d)] == ["datasource", "job", "instance", "anchor", "label"]
    per_label = [q for q in mixin.panel_queries(d)
                 if any(s.metric and "label" in s.metric for s in mixin.selectors(q.expr))]
    assert per_label
    for q in per_label:
        for s in mixin.selectors(q.expr):
            assert s.matcher("anchor") and s.matcher("label"), f"{q} ignores $anchor/$label"


# --- every metric is one the exporter exports ---------------------------------------------------

def recorded_metrics(exported: Exported) -> Exported:
    """The recording rules' outputs with the labels they keep (their inputs' minus `without`/outside `by`)."""
    out: dict[str, dict[str, frozenset[str]]] = {}
    for r in mixin.recording_rules():
        labels: dict[str, frozenset[str]] = {}
        for m in mixin.metric_names(r["expr"]):
            labels.update(exported.get(m, {}))
        if by := re.search(r"\bby\s*\(([^)]*)\)", r["expr"]):
            keep = {x.strip() for x in by.group(1).split(",")}
            labels = {k: v for k, v in labels.items() if k in keep}
        for without in re.findall(r"\bwithout\s*\(([^)]*)\)", r["expr"]):
            for x in without.split(","):
                labels.pop(x.strip(), None)
        out[r["record"]] = labels
    return out


def _literal_alternatives(regex: str) -> list[str] | None:
    return regex.split("|") if re.fullmatch(r"[\w. -]+(\|[\w. -]+)*", regex) else None


def problems_in(expr: str, where: str, known: Exported) -> list[str]:
    """Why ``expr`` would not work against ``known`` (empty when it would)."""
    problems = []
    label_union: set[str] = set(TARGET_LABELS)
    for s in mixin.selectors(expr):
        if s.metric is None:
            problems.append(f"{where}: a selector without a metric name: {s}")
            continue
        if s.metric not in known:
            problems.append(f"{where}: {s.metric} is not exported")
            continue
        labels = known[s.metric]
        label_union |= set(labels)
        for m in s.matchers:
            if m.label in TARGET_LABELS:
                continue
            if m.label not in labels:
                problems.append(f"{where}: {s.metric} has no label {m.label!r} (it has {sorted(labels)})")
                continue
            values = labels[m.label]
            if "$" in m.value:
                continue
            wanted = [m.value] if m.op in ("=", "!=") else _literal_alternatives(m.value) or []
            for w in wanted:
                if w not in values:
                    problems.append(f"{where}: {s.metric}{{{m.label}={w!r}}} is never exported "
                                    f"(values: {sorted(values)})")
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in filter(None, (x.strip() for x in group.split(","))):
            if label not in label_union:
                problems.append(f"{where}: grouping by {label!r}, which none of its metrics has")
    return problems


OPT_IN_FLAG = re.compile(r"--collector\.[a-z.-]+")


def opt_in_problems(where: str, expr: str, description: str) -> list[str]:
    """A panel may use a metric only a non-default flag exports if its description names the flag."""
    from pf_exporter.collectors import COLLECTORS

    off = {s.name for c in COLLECTORS.values() if not c.default_enabled for s in c.specs}
    opt_in = {"pf_table_address_packets_total", "pf_table_address_bytes_total", "pf_table_address_omitted",
              "pf_table_address_cleared_timestamp_seconds", "pf_state_tcp_entries", "pf_state_source_max_entries"}
    used = set(mixin.metric_names(expr)) & (off | opt_in)
    if used and not OPT_IN_FLAG.search(description):
        return [f"{where}: {sorted(used)} need a --collector flag, which the panel's description must name"]
    return []


def all_promql(known: Exported) -> list[tuple[str, str, set[str]]]:
    """(where, expr, labels a legend may use) for every PromQL expression shipped in dashboards/."""
    out = []
    for f in mixin.DASHBOARD_FILES:
        d = mixin.load_dashboard(f)
        for p in data_panels(d):
            for t in p["targets"]:
                legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
                where = f"{d['title']}: {p['title']!r} {t['refId']}"
                if opt_in_problems(where, t["expr"], p.get("description", "")):
                    continue  # reported by test_opt_in_panels_name_their_flag
                out.append((where, t["expr"], legend))
        for v in mixin.variables(d)[1:]:
            selector, label = mixin.parse_label_values(mixin.variable_query(v))
            out.append((f"{d['title']}: variable ${v['name']}", selector, {label}))
    for r in mixin.alerts():
        out.append((f"alert {r['alert']}", r["expr"], set()))
    for r in mixin.recording_rules():
        out.append((f"recording rule {r['record']}", r["expr"], set()))
    return out


def test_opt_in_panels_name_their_flag():
    problems = []
    for f in mixin.DASHBOARD_FILES:
        d = mixin.load_dashboard(f)
        for p in data_panels(d):
            for t in p["targets"]:
                problems += opt_in_problems(f"{d['title']}: {p['title']!r}", t["expr"], p.get("description", ""))
    assert not problems, "\n".join(problems)


def test_every_query_uses_only_exported_metrics_labels_and_label_values():
    # with the opt-in flags too (the small golden has every collector and detail on); a panel that
    # needs one says so (test_opt_in_panels_name_their_flag)
    texts = [(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()).decode()
             for p in SCENARIO_EXPOSITIONS]
    from pf_exporter.collectors import COLLECTORS

    per_rule = {s.name for s in COLLECTORS["rules"].rule_specs}
    everything = {k: v for k, v in metrics_from_exposition(*texts).items() if k not in per_rule}
    known = {**exported_metrics(), **everything, **PROMETHEUS_SYNTHETIC}
    known = {**known, **recorded_metrics(known)}
    problems = []
    for where, expr, legend in all_promql(known):
        problems += problems_in(expr, where, known)
        labels = set(TARGET_LABELS).union(*(known.get(m, {}) for m in mixin.metric_names(expr)))
        problems += [f"{where}: legend/variable label {x!r} is on none of its metrics" for x in legend - labels]
    assert not problems, "\n".join(problems)


def test_the_lint_catches_unknown_metrics_labels_and_values():
    known = {**exported_metrics(), **PROMETHEUS_SYNTHETIC}
    assert problems_in('rate(pf_counters_total{counter="state-mismatch"}[5m])', "ok", known) == []
    assert problems_in("pf_state_count", "x", known) == ["x: pf_state_count is not exported"]
    assert problems_in('pf_counters_total{reason="memory"}', "x", known)[0].startswith(
        "x: pf_counters_total has no label 'reason'")
    assert "never exported" in problems_in('pf_limit{limit="state"}', "x", known)[0]
    assert "never exported" in problems_in('pf_state_operations_total{operation=~"inserts|deletes"}', "x", known)[0]
    assert "grouping by 'iface'" in problems_in("sum by (iface) (pf_interface_states)", "x", known)[0]


def test_the_promql_reader_finds_selectors_behind_functions_groupings_and_offsets():
    expr = ('sum by (job, anchor) (rate(pf_label_bytes_total{label=~"a|b",anchor!=""}[$__rate_interval])) '
            '/ on (job) group_left (x) (pf_info offset 5m) and topk(3, up{job="pf"})')
    assert [(s.metric, [(m.label, m.op, m.value) for m in s.matchers]) for s in mixin.selectors(expr)] == [
        ("pf_label_bytes_total", [("label", "=~", "a|b"), ("anchor", "!=", "")]),
        ("pf_info", []),
        ("up", [("job", "=", "pf")]),
    ]
    with pytest.raises(ValueError, match="unknown PromQL function rat"):
        mixin.selectors("rat(pf_states[5m])")


def test_metrics_from_exposition_reads_names_labels_and_values():
    text = ('# HELP pf_counters_total Packets by reason\n# TYPE pf_counters_total counter\n'
            'pf_counters_total{counter="match"} 10.0\npf_counters_total{counter="memory"} 0.0\n'
            '# HELP pf_states States\n# TYPE pf_states gauge\npf_states 3.0\n')
    assert metrics_from_exposition(text) == {
        "pf_counters_total": {"counter": frozenset({"match", "memory"})},
        "pf_states": {},
    }


def test_the_lint_leaves_out_what_only_non_default_flags_export():
    off = off_by_default()
    assert "pf_rule_packets_total" in off and "pf_state_entries" in off
    assert "pf_label_packets_total" not in off


# --- the queries parse -------------------------------------------------------------------------

SAMPLE_VALUES = {"job": "pf", "instance": "fw1:9100", "interface": ".*", "anchor": ".*", "label": ".*"}


def test_every_panel_query_is_valid_promql(tmp_path):
    promtool = promtool_or_skip()
    queries = [q for f in mixin.DASHBOARD_FILES for q in mixin.panel_queries(mixin.load_dashboard(f))]
    group = {"name": "dashboard-queries", "rules": [
        {"record": f"dashboard_query_{i}", "expr": mixin.substitute(q.expr, SAMPLE_VALUES)}
        for i, q in enumerate(queries)]}
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
