#!/usr/bin/env python3
"""Builds the Grafana dashboards of the pf_exporter mixin (``pf-overview.json``, ``pf-rules.json``).

The JSON files are committed; this script is their source.  ``python dashboards/build.py`` rewrites
them, ``python dashboards/build.py --check`` exits 1 when a committed file differs from what it builds.
Stdlib only, so it runs anywhere Python does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 39  # Grafana 10.4 / 11.x
DS = {"type": "prometheus", "uid": "${datasource}"}
Json = dict[str, Any]


def sel(metric: str, matchers: str = "") -> str:
    """A vector selector restricted to the dashboard's job and instance (and extra matchers)."""
    extra = f",{matchers}" if matchers else ""
    return f'{metric}{{job=~"$job",instance=~"$instance"{extra}}}'


def rate(metric: str, matchers: str = "", window: str = "$__rate_interval") -> str:
    return f"rate({sel(metric, matchers)}[{window}])"


def target(expr: str, legend: str = "", instant: bool = False, ref: str = "A", table: bool = False) -> Json:
    t: Json = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref,
    }
    if table:
        t["format"] = "table"
    return t


def thresholds(*steps: tuple[float, str]) -> Json:
    return {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in steps],
    }


def value_map(mapping: dict[str, tuple[str, str]]) -> list[Json]:
    opts = {k: {"color": color, "index": i, "text": text} for i, (k, (text, color)) in enumerate(mapping.items())}
    return [{"options": opts, "type": "value"}]


def reduce_options() -> Json:
    return {"calcs": ["lastNotNull"], "fields": "", "values": False}


class Layout:
    """Places panels left to right in a 24-column grid, rows full width, and numbers them."""

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({
            "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "id": self._id(),
            "panels": [],
            "title": title,
            "type": "row",
        })
        self.y += 1

    def _newline(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def add(self, panel: Json, w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)


def timeseries(title: str, description: str, unit: str, targets: list[Json], *, stack: bool = False,
               minimum: float | None = 0, maximum: float | None = None, steps: tuple[tuple[float, str], ...] = (),
               calcs: tuple[str, ...] = ("mean", "max", "lastNotNull")) -> Json:
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "axisSoftMin": 0,
            "drawStyle": "line",
            "fillOpacity": 20 if stack else 8,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        },
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if steps:
        defaults["thresholds"] = thresholds(*steps)
        defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
    return {
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"calcs": list(calcs), "displayMode": "table", "placement": "bottom", "showLegend": True,
                       "sortBy": "Max", "sortDesc": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "title": title,
        "type": "timeseries",
    }


def stat(title: str, description: str, unit: str, targets: list[Json], *, text_mode: str = "value",
         mappings: list[Json] | None = None, steps: tuple[tuple[float, str], ...] = (), graph: bool = False,
         color_mode: str = "value") -> Json:
    defaults: Json = {"color": {"mode": "thresholds"}, "mappings": mappings or [], "unit": unit,
                      "thresholds": thresholds(*steps)}
    return {
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": reduce_options(),
            "textMode": text_mode,
            "wideLayout": True,
        },
        "targets": targets,
        "title": title,
        "type": "stat",
    }


def bargauge(title: str, description: str, unit: str, targets: list[Json], *, minimum: float | None = 0,
             maximum: float | None = None, steps: tuple[tuple[float, str], ...] = (),
             color_mode: str = "thresholds") -> Json:
    defaults: Json = {"color": {"mode": color_mode}, "unit": unit, "thresholds": thresholds(*steps)}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "displayMode": "gradient",
            "minVizHeight": 10,
            "minVizWidth": 0,
            "namePlacement": "left",
            "orientation": "horizontal",
            "reduceOptions": reduce_options(),
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        },
        "targets": targets,
        "title": title,
        "type": "bargauge",
    }


def table(title: str, description: str, unit: str, targets: list[Json], columns: dict[str, tuple[str, str]],
          sort_by: str) -> Json:
    """An instant-query table: one row per label set, one column per query (``Value #<refId>``)."""
    rename = {f"Value #{ref}": name for ref, (name, _unit) in columns.items()}
    overrides = [
        {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": col_unit}]}
        for name, col_unit in columns.values()
    ]
    return {
        "description": description,
        "fieldConfig": {"defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}, "unit": unit},
                        "overrides": overrides},
        "options": {"cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""},
                    "showHeader": True, "sortBy": [{"desc": True, "displayName": sort_by}]},
        "targets": targets,
        "title": title,
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True},
                                           "renameByName": rename}},
        ],
        "type": "table",
    }


# --- template variables ------------------------------------------------------------------------

def datasource_variable() -> Json:
    # The import dialog fills ${DS_PROMETHEUS} (see __inputs); panels only ever use ${datasource}.
    return {
        "current": {"selected": False, "text": "Prometheus", "value": "${DS_PROMETHEUS}"},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False,
                   all_value: str | None = None) -> Json:
    v: Json = {
        "current": {},
        "datasource": DS,
        "definition": query,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": {"query": query, "refId": "StandardVariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }
    if all_value is not None:
        v["allValue"] = all_value
    return v


def job_instance_variables() -> list[Json]:
    return [
        datasource_variable(),
        query_variable("job", "Job", "label_values(pf_exporter_build_info, job)"),
        query_variable("instance", "Instance", 'label_values(pf_exporter_build_info{job=~"$job"}, instance)'),
    ]


def dashboard(uid: str, title: str, description: str, panels: list[Json], variables: list[Json],
              links: list[Json]) -> Json:
    panel_types = sorted({p["type"] for p in panels if p["type"] != "row"})
    names = {"bargauge": "Bar gauge", "stat": "Stat", "table": "Table", "timeseries": "Time series"}
    return {
        "__inputs": [{
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "Prometheus that scrapes pf_exporter",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }],
        "__elements": {},
        "__requires": (
            [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
             {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}]
            + [{"type": "panel", "id": t, "name": names[t], "version": ""} for t in panel_types]
        ),
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": links,
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["pf", "openbsd", "firewall", "pf_exporter"],
        "templating": {"list": variables},
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def link_to(uid: str, title: str) -> Json:
    return {"asDropdown": False, "icon": "dashboard", "includeVars": True, "keepTime": True, "tags": [],
            "targetBlank": False, "title": title, "tooltip": "", "type": "link", "url": f"/d/{uid}"}


# --- the overview ------------------------------------------------------------------------------

OVERVIEW_UID = "pf-exporter-overview"
RULES_UID = "pf-exporter-rules"
OVERVIEW_ROWS = ("Status", "Limits", "States", "Traffic by interface", "Drops", "Rules and labels", "Tables",
                 "Queues", "High availability", "Exporter health")


def overview() -> Json:
    lay = Layout()
    running_map = value_map({"0": ("Disabled", "red"), "1": ("Running", "green")})
    ok_map = value_map({"0": ("FAILED", "red"), "1": ("OK", "green")})

    lay.row("Status")
    lay.add(stat("pf", "Whether pf is enabled (pfctl -e / pfctl -d).", "none",
                 [target(sel("pf_running"), instant=True)], mappings=running_map, color_mode="background"), 4, 4)
    lay.add(stat("Enabled for", "How long pf has been enabled, as `pfctl -si` shows it.", "s",
                 [target(sel("pf_enabled_seconds"), instant=True)]), 4, 4)
    lay.add(stat("States", "Entries in the state table (`pfctl -si`: current entries).", "short",
                 [target(sel("pf_states"))], graph=True), 4, 4)
    lay.add(stat("Source nodes", "Source-tracking nodes (`pfctl -si`: src-nodes current entries).", "short",
                 [target(sel("pf_src_nodes"))], graph=True), 4, 4)
    lay.add(stat("Release", "OpenBSD release whose pf ABI the exporter speaks.", "none",
                 [target(sel("pf_info"), "{{release}}", instant=True)], text_mode="name"), 3, 4)
    lay.add(stat("Ruleset checksum", "MD5 of the loaded ruleset (`pfctl -si -v`); changes on every reload.",
                 "none", [target(sel("pf_info"), "{{ruleset_checksum}}", instant=True)], text_mode="name"), 5, 4)

    lay.row("Limits")
    usage = f'{sel("pf_limit_used")} / ({sel("pf_limit")} > 0)'
    lay.add(bargauge("Limit usage", "Usage of every pf memory limit (`pfctl -sm`) that pf reports a current value "
                     "for. Orange from 80 %, red from 95 %: a full limit drops packets.", "percentunit",
                     [target(usage, "{{limit}}", instant=True)], maximum=1, steps=((0.8, "orange"), (0.95, "red"))),
            8, 8)
    lay.add(timeseries("Limit usage over time", "Usage of every pf limit; the dashed lines are the alert "
                       "thresholds (80 % warning, 95 % critical for the state table).", "percentunit",
                       [target(usage, "{{limit}}")], maximum=1, steps=((0.8, "orange"), (0.95, "red"))), 10, 8)
    lay.add(bargauge("Hard limits", "The configured hard limits (`set limit` in pf.conf, `pfctl -sm`).", "short",
                     [target(sel("pf_limit"), "{{limit}}", instant=True)], color_mode="continuous-BlPu"), 6, 8)

    lay.row("States")
    lay.add(timeseries("States and source nodes", "State table entries and source-tracking nodes, with the "
                       "state limit for reference.", "short",
                       [target(sel("pf_states"), "states"), target(sel("pf_src_nodes"), "src-nodes", ref="B"),
                        target(sel("pf_limit", 'limit="states"'), "states limit", ref="C")]), 8, 8)
    lay.add(timeseries("State inserts and removals", "State table inserts and removals per second "
                       "(`pfctl -si`: state table inserts/removals). Inserts above removals means the table grows.",
                       "ops", [target(rate("pf_state_operations_total", 'operation=~"inserts|removals"'),
                                      "{{operation}}")]), 8, 8)
    lay.add(timeseries("State searches", "State table lookups per second, a proxy for packets pf inspects.", "ops",
                       [target(rate("pf_state_operations_total", 'operation="searches"'), "{{operation}}")]), 8, 8)
    lay.add(timeseries("Source node operations", "Source node searches, inserts and removals per second.", "ops",
                       [target(rate("pf_src_node_operations_total"), "{{operation}}")]), 8, 8)
    lay.add(timeseries("States by interface", "States bound to each interface or group (`pfctl -sI -v`).",
                       "short", [target(sel("pf_interface_states", 'interface=~"$interface"'), "{{interface}}")]),
            8, 8)
    lay.add(timeseries("Limit counters", "pf's limit counters per second (`pfctl -si -v`: max-src-states, "
                       "synfloods detected, ...): how often per-rule and per-source limits were hit.", "cps",
                       [target(rate("pf_limit_counters_total"), "{{counter}}")]), 8, 8)
    lay.add(timeseries("Half-open states and syncookies", "Half-open TCP states against the start watermark of "
                       "`set syncookies adaptive` (above it pf answers SYNs with syncookies: a SYN flood), "
                       "syncookies in flight, and whether syncookies are active (`pfctl -si -v`).", "short",
                       [target(sel("pf_states_halfopen"), "half-open states"),
                        target(sel("pf_syncookies_watermark_states", 'level="high"'), "syncookies start", ref="B"),
                        target(sel("pf_syncookies_inflight"), "syncookies in flight", ref="C"),
                        target(sel("pf_syncookies_active"), "syncookies active (1)", ref="D")]), 24, 7)
    lay.add(timeseries("TCP states", "TCP states by their peers' states as `pfctl -ss` prints them (needs "
                       "--collector.states --collector.states.details): many SYN_SENT:CLOSED is a scan or a flood.",
                       "short", [target(sel("pf_state_tcp_entries"), "{{state}}")], stack=True), 8, 8)
    lay.add(timeseries("Largest source per label", "The most states one source address holds among each label's "
                       "states (--collector.states.details): one abuser stands out without a series per address.",
                       "short", [target(f'topk(10, {sel("pf_state_source_max_entries")})', "{{label}}")]), 8, 8)
    lay.add(timeseries("Source nodes by label", "Source-tracking nodes per rule label, and the most states one "
                       "source holds (--collector.srcnodes).", "short",
                       [target(sel("pf_src_node_entries"), "{{label}} nodes"),
                        target(sel("pf_src_node_max_states"), "{{label}} max states", ref="B")]), 8, 8)

    lay.row("Traffic by interface")
    on_if = 'interface=~"$interface"'
    by_if = "sum by (interface, family, action)"
    packets = rate("pf_interface_packets_total", on_if)
    lay.add(timeseries("Packets by interface", "Packets per second through each interface or group, split by "
                       "address family and pass/block (`pfctl -sI -v`).", "pps",
                       [target(f"{by_if} ({packets})", "{{interface}} {{family}} {{action}}")]), 12, 9)
    lay.add(timeseries("Bytes by interface", "Bytes per second through each interface or group, split by address "
                       "family and pass/block.", "Bps",
                       [target(f'{by_if} ({rate("pf_interface_bytes_total", on_if)})',
                               "{{interface}} {{family}} {{action}}")]), 12, 9)
    blocked = rate("pf_interface_packets_total", on_if + ',action="block"')
    lay.add(timeseries("Blocked share by interface", "Fraction of packets blocked per interface and direction "
                       "(empty while an interface carries no traffic).", "percentunit",
                       [target(f"sum by (interface, direction) ({blocked}) / sum by (interface, direction) ({packets})",
                               "{{interface}} {{direction}}")], maximum=1), 12, 8)
    lay.add(timeseries("Rules by interface", "Rules referring to each interface or group.", "short",
                       [target(sel("pf_interface_rules", on_if), "{{interface}}")]), 12, 8)

    lay.row("Drops")
    drops = sel("pf_counters_total", 'counter!="match"')
    lay.add(timeseries("Drop reasons", "pf's reason counters per second (`pfctl -si`: Counters) except `match`. "
                       "memory, state-insert, state-limit, src-limit and congestion have alerts.", "pps",
                       [target(f"rate({drops}[$__rate_interval])", "{{counter}}")]), 16, 9)
    lay.add(bargauge("Drops in range", "How many packets each reason counter recorded in the selected time range.",
                     "short", [target(f"increase({drops}[$__range])",
                                      "{{counter}}", instant=True)], color_mode="continuous-YlRd"), 8, 9)

    lay.row("Rules and labels")
    for what, unit, metric in (("bytes", "Bps", "bytes"), ("packets", "pps", "packets"),
                               ("evaluations", "ops", "evaluations")):
        lay.add(bargauge(f"Top labels by {what}", f"The ten rule labels with the most {what} per second over 5 "
                         "minutes (recording rule), summed over the rules that carry the label.", unit,
                         [target(f"topk(10, {sel(f'anchor_label:pf_label_{metric}:rate5m')})",
                                 "{{anchor}}/{{label}}", instant=True)], color_mode="continuous-BlPu"), 8, 8)
    lay.add(timeseries("Rules by anchor", "Rules loaded in the main ruleset and in each anchor.", "short",
                       [target(sel("pf_rules"), "{{anchor}}")]), 16, 7)
    lay.add(stat("Anchors", "Anchors in the ruleset tree. The rules dashboard drills down per label.", "short",
                 [target(sel("pf_anchors"))], graph=True), 8, 7)

    lay.row("Tables")
    lay.add(bargauge("Table sizes", "Addresses in each table (`pfctl -vsT`); growth of overload tables shows "
                     "abusive sources.", "short",
                     [target(f'topk(15, {sel("pf_table_addresses")})', "{{anchor}}/{{table}}", instant=True)],
                     color_mode="continuous-BlPu"), 8, 9)
    lookups = f'sum by (anchor, table) ({rate("pf_table_evaluations_total")})'
    matched = rate("pf_table_evaluations_total", 'result="match"')
    lay.add(timeseries("Table hit rate", "Share of table lookups that matched an address (empty while a table "
                       "is not consulted).", "percentunit",
                       [target(f"sum by (anchor, table) ({matched}) / {lookups}", "{{anchor}}/{{table}}")],
                       maximum=1), 8, 9)
    lay.add(timeseries("Table lookups", "Table lookups per second, by match/nomatch.", "ops",
                       [target(rate("pf_table_evaluations_total"), "{{anchor}}/{{table}} {{result}}")]), 8, 9)
    lay.add(timeseries("Table packets", "Packets per second counted by table entries, by action "
                       "(pass, block, xpass).", "pps",
                       [target(f'sum by (anchor, table, action) ({rate("pf_table_packets_total")})',
                               "{{anchor}}/{{table}} {{action}}")]), 12, 8)
    lay.add(timeseries("Table bytes", "Bytes per second counted by table entries, by action.", "Bps",
                       [target(f'sum by (anchor, table, action) ({rate("pf_table_bytes_total")})',
                               "{{anchor}}/{{table}} {{action}}")]), 12, 8)

    lay.add(table("Top table addresses", "The addresses with the most traffic in the tables whose per-address "
                  "counters are exported (--collector.tables.addresses; tables with the `counters` flag).", "Bps",
                  [target(f'topk(20, sum by (anchor, table, address) ({rate("pf_table_address_bytes_total")}))',
                          instant=True, table=True)], {"A": ("Bytes/s", "Bps")}, sort_by="Bytes/s"), 12, 8)
    lay.add(stat("Addresses left out", "Addresses of the selected tables not exported because of "
                 "--collector.tables.addresses.max (0: all exported).", "short",
                 [target(sel("pf_table_address_omitted"), instant=True)], steps=((1, "orange"),)), 12, 8)

    lay.row("Queues")
    lay.add(timeseries("Queue throughput", "Bits per second sent by each queue (`pfctl -vsq`) against its "
                       "configured bandwidth (exported in bytes/s, shown in bits/s as pf.conf sets it).", "bps",
                       [target(f'8 * {rate("pf_queue_bytes_total")}', "{{interface}} {{queue}}"),
                        target(f'8 * {sel("pf_queue_bandwidth_bytes_per_second")}',
                               "{{interface}} {{queue}} bandwidth", ref="B")]), 12, 9)
    lay.add(timeseries("Queue drops", "Packets per second each queue dropped (queue full).", "pps",
                       [target(rate("pf_queue_dropped_packets_total"), "{{interface}} {{queue}}")]), 12, 9)
    lay.add(timeseries("Queue length", "Packets waiting in each queue, against the queue limit (qlimit).",
                       "short", [target(sel("pf_queue_length"), "{{interface}} {{queue}}"),
                                 target(sel("pf_queue_limit"), "{{interface}} {{queue}} limit", ref="B")]), 12, 8)
    lay.add(timeseries("Queue dropped bytes", "Bytes per second each queue dropped.", "Bps",
                       [target(rate("pf_queue_dropped_bytes_total"), "{{interface}} {{queue}}")]), 12, 8)

    lay.row("High availability")
    master = 'state="master"'
    lay.add(timeseries("Masters per vhid", "carp masters of each vhid across the pair (grouped by the ha_pair label "
                       "set in relabelling, else by interface and vhid): 1 is healthy, 0 no master, 2 split brain.",
                       "short", [target('job_ha_pair_interface_vhid:pf_carp_masters:sum{job=~"$job"}',  # the pair's
                                        "{{ha_pair}} {{interface}} vhid {{vhid}}")]), 8, 8)
    lay.add(timeseries("Master by firewall", "Which firewall is carp master of each vhid (1: master).", "short",
                       [target(sel("pf_carp_state", 'state="master"'), "{{instance}} {{interface}} vhid {{vhid}}")]),
            8, 8)
    lay.add(timeseries("Failovers", "Changes of carp master state per firewall over the last hour.", "short",
                       [target(f'sum by (instance) (changes({sel("pf_carp_state", master)}[1h]))', "{{instance}}")]),
            8, 8)
    lay.add(timeseries("carp demotion", "The carp demotion counter of each group (`ifconfig -g carp`): above 0 this "
                       "firewall does not become master (planned failover, a link down, a pfsync bulk update).",
                       "short", [target(sel("pf_carp_demotion"), "{{instance}} {{group}}")]), 8, 8)
    lay.add(timeseries("pfsync traffic", "pfsync packets per second, sent and received.", "pps",
                       [target(f'sum by (instance, direction) ({rate("pf_pfsync_packets_total")})',
                               "{{instance}} {{direction}}")]), 8, 8)
    lay.add(timeseries("pfsync and carp errors", "pfsync and carp packets dropped or not sent per second, by reason.",
                       "pps", [target(f'sum by (instance, reason) ({rate("pf_pfsync_errors_total")})',
                                      "pfsync {{instance}} {{reason}}"),
                               target(f'sum by (instance, reason) ({rate("pf_carp_errors_total")})',
                                      "carp {{instance}} {{reason}}", ref="B")]), 8, 8)

    lay.row("Exporter health")
    lay.add(stat("Target up", "Whether Prometheus could scrape the exporter.", "none",
                 [target(sel("up"), "{{instance}}", instant=True)], mappings=value_map({
                     "0": ("DOWN", "red"), "1": ("UP", "green")}), color_mode="background"), 4, 6)
    lay.add(stat("Collectors", "Result of each collector in the last scrape; a failed collector exports none of "
                 "its series (see the exporter's log).", "none",
                 [target(sel("pf_scrape_collector_success"), "{{collector}}", instant=True)],
                 mappings=ok_map, text_mode="value_and_name", color_mode="background"), 10, 6)
    lay.add(timeseries("Collector duration", "Time each collector needed per scrape.", "s",
                       [target(sel("pf_scrape_collector_duration_seconds"), "{{collector}}")], stack=True), 10, 6)
    lay.add(timeseries("Exporter CPU and memory", "CPU seconds per second the exporter uses, and its resident "
                       "memory (process_* metrics).", "short",
                       [target(rate("process_cpu_seconds_total"), "CPU (cores)"),
                        target(f'{sel("process_resident_memory_bytes")} / 2^20', "resident MiB", ref="B")]), 12, 6)
    lay.add(stat("pf last enabled or disabled", "When pf was last switched on or off (pfctl -e / -d).",
                 "dateTimeFromNow",
                 [target(f'1000 * {sel("pf_status_changed_timestamp_seconds")}', instant=True)]), 12, 6)

    return dashboard(OVERVIEW_UID, "pf / Overview",
                     "OpenBSD pf: limits, states, traffic, drops, labels, tables, queues (pf_exporter)",
                     lay.panels,
                     job_instance_variables() + [query_variable(
                         "interface", "Interface",
                         'label_values(pf_interface_packets_total{job=~"$job",instance=~"$instance"}, interface)',
                         multi=True, include_all=True, all_value=".*")],
                     [link_to(RULES_UID, "pf / Rules and labels")])


# --- the rules / labels drill-down -------------------------------------------------------------

RULES_ROWS = ("Ruleset", "Labels", "Label traffic", "Label states")


def rules() -> Json:
    lay = Layout()
    al = 'anchor=~"$anchor",label=~"$label"'

    lay.row("Ruleset")
    lay.add(bargauge("Rules by anchor", "Rules in the main ruleset and each anchor (`pfctl -a '*' -sr`).",
                     "short", [target(sel("pf_rules", 'anchor=~"$anchor"'), "{{anchor}}", instant=True)],
                     color_mode="continuous-BlPu"), 10, 7)
    lay.add(stat("Anchors", "Anchors in the ruleset tree.", "short", [target(sel("pf_anchors"))], graph=True), 4, 7)
    lay.add(stat("Ruleset checksum", "MD5 of the loaded ruleset; it changes on every `pfctl -f`.", "none",
                 [target(sel("pf_info"), "{{ruleset_checksum}}", instant=True)], text_mode="name"), 5, 7)
    lay.add(stat("Rulesets in range", "Distinct ruleset checksums seen in the time range: 1 means no reload.",
                 "short", [target(f'count by (job, instance) (count_over_time({sel("pf_info")}[$__range]))',
                                  instant=True)], steps=((2, "blue"),)), 5, 7)

    lay.row("Labels")
    sums = {
        "A": ("Evaluations/s", "ops", "evaluations"),
        "B": ("Packets/s", "pps", "packets"),
        "C": ("Bytes/s", "Bps", "bytes"),
    }
    targets = [target(sel(f"anchor_label:pf_label_{m}:rate5m", al), instant=True, ref=ref, table=True)
               for ref, (_n, _u, m) in sums.items()]
    targets += [target(sel("pf_label_states", al), instant=True, ref="D", table=True),
                target(sel("pf_label_rules", al), instant=True, ref="E", table=True)]
    columns = {ref: (name, unit) for ref, (name, unit, _m) in sums.items()}
    columns |= {"D": ("States", "short"), "E": ("Rules", "short")}
    lay.add(table("Labels", "Every rule label with its rate over 5 minutes (recording rules) and its current "
                  "states; rules that share a label are summed, so the series survive ruleset reloads.", "short",
                  targets, columns, sort_by="Bytes/s"), 24, 10)

    lay.row("Label traffic")
    lay.add(timeseries("Evaluations by label", "How often the rules with each label were evaluated, per second.",
                       "ops", [target(rate("pf_label_evaluations_total", al), "{{anchor}}/{{label}}")]), 8, 9)
    lay.add(timeseries("Packets by label", "Packets per second matched by the rules with each label, by direction.",
                       "pps", [target(rate("pf_label_packets_total", al), "{{anchor}}/{{label}} {{direction}}")]),
            8, 9)
    lay.add(timeseries("Bytes by label", "Bytes per second matched by the rules with each label, by direction.",
                       "Bps", [target(rate("pf_label_bytes_total", al), "{{anchor}}/{{label}} {{direction}}")]),
            8, 9)

    lay.row("Label states")
    lay.add(timeseries("States by label", "States currently created by the rules with each label.", "short",
                       [target(sel("pf_label_states", al), "{{anchor}}/{{label}}")]), 8, 8)
    lay.add(timeseries("States created by label", "States created per second by the rules with each label.",
                       "ops", [target(rate("pf_label_states_created_total", al), "{{anchor}}/{{label}}")]), 8, 8)
    lay.add(timeseries("Rules per label", "How many rules carry each label (changes on reload).", "short",
                       [target(sel("pf_label_rules", al), "{{anchor}}/{{label}}")]), 8, 8)

    return dashboard(RULES_UID, "pf / Rules and labels",
                     "OpenBSD pf: rules, anchors and per-label counters (pf_exporter)",
                     lay.panels,
                     job_instance_variables() + [
                         query_variable("anchor", "Anchor",
                                        'label_values(pf_rules{job=~"$job",instance=~"$instance"}, anchor)',
                                        multi=True, include_all=True, all_value=".*"),
                         query_variable("label", "Label",
                                        'label_values(pf_label_rules{job=~"$job",instance=~"$instance",'
                                        'anchor=~"$anchor"}, label)',
                                        multi=True, include_all=True, all_value=".*"),
                     ],
                     [link_to(OVERVIEW_UID, "pf / Overview")])


DASHBOARDS = {"pf-overview.json": overview, "pf-rules.json": rules}


def render(model: Json) -> str:
    return json.dumps(model, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare the committed files; exit 1 on drift")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run `python dashboards/build.py` and commit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
