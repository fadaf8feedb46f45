"""Reads the pf_exporter mixin: dashboard panels and their queries, template variables, rule files,
and the metric selectors inside PromQL expressions.  Stdlib + PyYAML; used by the tests and by anyone
checking a modified dashboard (``python dashboards/mixin.py`` lists every query with its metrics).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DASHBOARD_FILES = ("pf-overview.json", "pf-rules.json")
ALERT_FILES = ("prometheus_alerts.yml",)
RECORDING_FILES = ("prometheus_rules.yml",)
RULE_TEST_FILES = ("tests/prometheus_alerts_test.yml", "tests/prometheus_rules_test.yml")

Json = dict[str, Any]


# --- dashboards --------------------------------------------------------------------------------

def load_dashboard(name: str) -> Json:
    return json.loads((HERE / name).read_text())


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, including those nested in collapsed rows, rows included."""
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.panel!r} {self.ref}"


def panel_queries(dashboard: Json) -> list[Query]:
    return [Query(dashboard["title"], p.get("title", ""), t.get("refId", ""), t["expr"], bool(t.get("instant")))
            for p in panels(dashboard) if p.get("type") != "row" for t in p.get("targets", [])]


def variables(dashboard: Json) -> list[Json]:
    return list(dashboard.get("templating", {}).get("list", []))


def variable_query(variable: Json) -> str:
    q = variable.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else str(q)


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<expr>.*\S)\s*,\s*)?(?P<label>\w+)\s*\)\s*$", re.S)


def parse_label_values(query: str) -> tuple[str, str]:
    """``label_values(<series selector>, <label>)`` -> (selector, label); ValueError for anything else."""
    m = LABEL_VALUES.match(query)
    if not m or not m.group("expr"):
        raise ValueError(f"not a label_values(<selector>, <label>) query: {query!r}")
    return m.group("expr"), m.group("label")


GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h", "__range_s": "3600",
                    "__interval_ms": "30000"}
VARIABLE_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def variable_refs(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE_REF.finditer(text)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replaces Grafana variables ($x, ${x}, ${x:fmt}, [[x]]) with ``values`` (builtins have defaults)."""
    known = {**GRAFANA_BUILTINS, **values}

    def repl(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        if name not in known:
            raise KeyError(f"variable ${name} has no value (in {expr!r})")
        return known[name]

    return VARIABLE_REF.sub(repl, expr)


# --- rule files --------------------------------------------------------------------------------

def load_yaml(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text())


def rules(*files: str) -> list[Json]:
    return [r for f in files for g in load_yaml(f)["groups"] for r in g["rules"]]


def alerts() -> list[Json]:
    return rules(*ALERT_FILES)


def recording_rules() -> list[Json]:
    return rules(*RECORDING_FILES)


# --- PromQL ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[Matcher, ...]

    def matcher(self, label: str) -> Matcher | None:
        return next((m for m in self.matchers if m.label == label), None)


AGGREGATIONS = frozenset("sum min max avg group stddev stdvar count count_values bottomk topk quantile".split())
FUNCTIONS = frozenset("""
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp
    floor histogram_count histogram_fraction histogram_quantile histogram_sum holt_winters hour idelta increase
    irate label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi
    predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_desc
    sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year""".split())
LABEL_LIST_KEYWORDS = frozenset("by without on ignoring group_left group_right".split())
KEYWORDS = frozenset("and or unless bool offset atan2 inf nan".split())

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$\w+|\[\[\w+\]\])
  | (?P<number>\d[\w.]*|\.\d[\w.]*)
  | (?P<ident>[A-Za-z_:][\w:]*)
  | (?P<brace>\{)
  | (?P<bracket>\[)
  | (?P<punct>==|!=|>=|<=|=~|!~|[()\],}\-+*/%^<>=@])
""", re.X)
_MATCHER = re.compile(r"""\s*(?P<label>[A-Za-z_]\w*)\s*(?P<op>=~|!~|!=|=)\s*
                          (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(?:,|$)""", re.X)


def _unquote(s: str) -> str:
    body = s[1:-1]
    return body if s[0] == "`" else re.sub(r"\\(.)", r"\1", body)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read PromQL at {expr[pos:pos + 20]!r} in {expr!r}")
        kind = m.lastgroup or ""
        if kind == "brace" or kind == "bracket":
            close = "}" if kind == "brace" else "]"
            end = pos + 1
            while end < len(expr) and expr[end] != close:  # strings may hold the closing character
                if expr[end] in "\"'`":
                    s = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`').match(expr, end)
                    if not s:
                        raise ValueError(f"unterminated string in {expr!r}")
                    end = s.end()
                else:
                    end += 1
            if end >= len(expr):
                raise ValueError(f"unbalanced {expr[pos]!r} in {expr!r}")
            out.append((kind, expr[pos + 1:end]))
            pos = end + 1
            continue
        if kind != "space":
            out.append((kind, m.group()))
        pos = m.end()
    return out


def _matchers(body: str, expr: str) -> tuple[Matcher, ...]:
    found: list[Matcher] = []
    pos = 0
    body = body.strip().rstrip(",")
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if not m:
            raise ValueError(f"cannot read label matchers {{{body}}} in {expr!r}")
        found.append(Matcher(m["label"], m["op"], _unquote(m["value"])))
        pos = m.end()
    return tuple(found)


def selectors(expr: str) -> list[Selector]:
    """The vector selectors in a PromQL expression: metric name (None for ``{__name__=...}``) and matchers.

    Raises ValueError on an unknown function or unreadable input, so typos fail loudly.
    """
    toks = _tokens(expr)
    found: list[Selector] = []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "brace":  # a selector without a metric name
            found.append(Selector(None, _matchers(text, expr)))
        elif kind == "ident":
            word = text.lower()
            if word in LABEL_LIST_KEYWORDS:
                if nxt == ("punct", "("):
                    depth, i = 0, i + 1
                    while i < len(toks):
                        depth += {"(": 1, ")": -1}.get(toks[i][1], 0) if toks[i][0] == "punct" else 0
                        if depth == 0:
                            break
                        i += 1
            elif word in KEYWORDS or word in AGGREGATIONS:
                pass
            elif nxt == ("punct", "("):
                if text not in FUNCTIONS:
                    raise ValueError(f"unknown PromQL function {text}() in {expr!r}")
            else:
                matchers: tuple[Matcher, ...] = ()
                if nxt[0] == "brace":
                    matchers = _matchers(nxt[1], expr)
                    i += 1
                found.append(Selector(text, matchers))
        i += 1
    return found


def metric_names(expr: str) -> set[str]:
    return {s.metric for s in selectors(expr) if s.metric}


def main() -> int:
    for name in DASHBOARD_FILES:
        d = load_dashboard(name)
        for q in panel_queries(d):
            print(f"{q}: {', '.join(sorted(metric_names(q.expr)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
