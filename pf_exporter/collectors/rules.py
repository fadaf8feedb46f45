"""``pfctl -sl`` / ``pfctl -vsr``: rule counters, aggregated by (anchor, label) by default.

Rule numbers change on every ruleset reload, labels do not: series keyed by label survive
reloads and stay bounded.  Rules without a label count too, per anchor under ``label=""``, so
the label families add up to all of pf's rule traffic.  Per-rule series
(``--collector.rules.per-rule``) are for debugging rulesets, at one series set per rule, with
``pf_rule_info`` giving each rule's text to join on.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

from prometheus_client.core import Metric

from ..pf import Ruleset
from ..pf.types import RuleCounters, protocol_name
from .base import Collector, Family, KeptLabels, ScrapeView, counter, emit, gauge, sum_labels

_L = ("anchor", "label")
_R = ("anchor", "number", "label", "action", "direction")


class RulesCollector(Collector):
    name = "rules"
    description = (
        "rule counters aggregated by (anchor, label) like `pfctl -sl`; per rule with --collector.rules.per-rule"
    )
    label_specs = (
        counter("pf_label_evaluations_total", "Evaluations of the rules carrying the label", *_L),
        counter("pf_label_packets_total", "Packets matched by the rules carrying the label, by packet direction",
                *_L, "direction"),
        counter("pf_label_bytes_total", "Bytes matched by the rules carrying the label, by packet direction",
                *_L, "direction"),
        gauge("pf_label_states", "Current states created by the rules carrying the label", *_L),
        counter("pf_label_states_created_total", "States created by the rules carrying the label", *_L),
        gauge("pf_label_rules", "How many rules carry the label", *_L),
        gauge("pf_rules", "Rules in the ruleset; anchor is \"\" for the main ruleset", "anchor"),
        gauge("pf_anchors", "Anchors (rulesets other than the main one)"),
    )
    rule_specs = (
        counter("pf_rule_evaluations_total", "Evaluations of the rule (direction: the rule's own, \"\" for both)",
                *_R),
        counter("pf_rule_packets_total", "Packets matched by the rule, by packet direction", *_R, "packet_direction"),
        counter("pf_rule_bytes_total", "Bytes matched by the rule, by packet direction", *_R, "packet_direction"),
        gauge("pf_rule_states", "Current states created by the rule", *_R),
        counter("pf_rule_states_created_total", "States created by the rule", *_R),
        gauge("pf_rule_info", "The rule as pfctl -sr prints it (1); join on anchor and number",
              "anchor", "number", "label", "action", "direction", "interface", "af", "proto", "quick", "rule"),
    )
    specs = label_specs + rule_specs

    def __init__(self, per_rule: bool = False) -> None:
        self.per_rule = per_rule
        self._rule_keys: KeptLabels[tuple[tuple[object, ...], str], tuple[tuple[Any, ...], ...]] = KeptLabels()

    @classmethod
    def add_flags(cls, group: Any) -> None:
        group.add_argument("--collector.rules.per-rule", dest="per_rule", action="store_true",
                           help="also export one series set per rule (pf_rule_*); high cardinality, for debugging")

    @classmethod
    def from_args(cls, args: Any) -> RulesCollector:
        return cls(per_rule=bool(getattr(args, "per_rule", False)))

    def collect(self, pf: ScrapeView) -> list[Metric]:
        # One pass over the rule tree, one ruleset held at a time (10k+ rules must not all be alive).
        f = self.families()
        nrules = f["pf_rules"].add
        anchors = 0
        labels: dict[tuple[str, str], tuple[int, ...]] = {}
        if self.per_rule:
            per_rule = self._per_rule(f)
            for rs in pf.rulesets(texts=True):  # the main ruleset ("") and every anchor
                anchors += rs.path != ""
                nrules((rs.path,), len(rs.rules))
                for label, row in sum_labels(rs.rules).items():  # label "": the anchor's unlabelled rules
                    labels[(rs.path, label)] = row
                per_rule(rs)
        else:
            for lt in pf.label_totals():  # summed straight from the kernel's answers
                anchors += lt.path != ""
                nrules((lt.path,), lt.rules)
                for label, row in lt.labels.items():
                    labels[(lt.path, label)] = row
        f["pf_anchors"].add1(anchors)
        evals, packets = f["pf_label_evaluations_total"], f["pf_label_packets_total"]
        nbytes, states = f["pf_label_bytes_total"], f["pf_label_states"]
        created, count = f["pf_label_states_created_total"], f["pf_label_rules"]
        for key, a in labels.items():
            evals.add(key, a[0])
            in_out = ((*key, "in"), (*key, "out"))
            packets.keys += in_out
            packets.values += a[1:3]
            nbytes.keys += in_out
            nbytes.values += a[3:5]
            states.add(key, a[5])
            created.add(key, a[6])
            count.add(key, a[7])
        return emit(f.values())

    def _per_rule(self, f: dict[str, Family]) -> Callable[[Ruleset], None]:
        """Adds one ruleset's per-rule series (several per rule, 10k+ rules).  Each rule's label
        tuples are built once and reused while the rule is unchanged (kept from one scrape to the
        next, keyed by the rule's identity, a slice of RuleCounters, and its text:
        :class:`KeptLabels`); the one Python loop per rule finds them, the families' lists are
        then extended a ruleset at a time by C loops (map, itemgetter, chain)."""
        info, evals, packets, nbytes, states, created = (
            f[n] for n in ("pf_rule_info", "pf_rule_evaluations_total", "pf_rule_packets_total",
                           "pf_rule_bytes_total", "pf_rule_states", "pf_rule_states_created_total"))
        kept = self._rule_keys
        kept.start()
        get = kept.get
        pairs = itertools.chain.from_iterable

        def add(rs: Ruleset) -> None:
            path, rules = rs.path, rs.rules
            texts = rs.texts or ("",) * len(rules)
            found = [get((r[:_IDENTITY], text), _rule_keys, path, r, text)
                     for r, text in zip(rules, texts, strict=True)]
            info.keys.extend(map(_INFO, found))
            info.values.extend(itertools.repeat(1, len(found)))
            keys = list(map(_KEY, found))
            in_out = list(pairs(map(_IN_OUT, found)))
            evals.keys.extend(keys)
            evals.values.extend(map(_EVALUATIONS, rules))
            packets.keys.extend(in_out)
            packets.values.extend(pairs(map(_PACKETS, rules)))
            nbytes.keys.extend(in_out)
            nbytes.values.extend(pairs(map(_BYTES, rules)))
            states.keys.extend(keys)
            states.values.extend(map(_STATES, rules))
            created.keys.extend(keys)
            created.values.extend(map(_CREATED, rules))

        return add


_IDENTITY = RuleCounters._fields.index("evaluations")  # the fields before the counters say which rule it is
_EVALUATIONS, _PACKETS, _BYTES, _STATES, _CREATED = (
    operator.itemgetter(*map(RuleCounters._fields.index, names)) for names in (
        ("evaluations",), ("packets_in", "packets_out"), ("bytes_in", "bytes_out"), ("states_current",),
        ("states_total",)))
_INFO, _KEY, _IN_OUT = (operator.itemgetter(i) for i in range(3))  # of what _rule_keys returns


def _rule_keys(path: str, r: RuleCounters, text: str) -> tuple[tuple[Any, ...], ...]:
    """(pf_rule_info's labels, the other families' labels, (those with packet direction in, out))."""
    key = (path, str(r.number), r.label, r.action, r.direction)
    info = (*key, r.interface, r.family, protocol_name(r.protocol) if r.protocol else "",
            "true" if r.quick else "false", text)
    return info, key, ((*key, "in"), (*key, "out"))
