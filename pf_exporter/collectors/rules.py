"""``pfctl -sl`` / ``pfctl -vsr``: rule counters, aggregated by (anchor, label) by default.

Rule numbers change on every ruleset reload, labels do not: series keyed by label survive
reloads and stay bounded.  Rules without a label count too, per anchor under ``label=""``, so
the label families add up to all of pf's rule traffic.  Per-rule series
(``--collector.rules.per-rule``) are for debugging rulesets, at one series set per rule, with
``pf_rule_info`` giving each rule's text to join on.
"""

from __future__ import annotations

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
        self._rule_keys: KeptLabels[tuple[tuple[object, ...], str], tuple[tuple[str, ...], ...]] = KeptLabels()

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
        """Adds one ruleset's per-rule series: label tuples and values straight onto the families' lists
        (several per rule, 10k+ rules).  Each rule's label tuples are built once and reused while
        the rule is unchanged (kept from one scrape to the next, keyed by the rule's identity,
        a slice of RuleCounters, and its text: :class:`KeptLabels`)."""
        fams = [f[n] for n in ("pf_rule_info", "pf_rule_evaluations_total", "pf_rule_packets_total",
                                "pf_rule_bytes_total", "pf_rule_states", "pf_rule_states_created_total")]
        (info_k, evals_k, packets_k, bytes_k, states_k, created_k) = (x.keys.append for x in fams)
        (info_v, evals_v, packets_v, bytes_v, states_v, created_v) = (x.values.append for x in fams)
        kept = self._rule_keys
        kept.start()

        def add(rs: Ruleset) -> None:
            path = rs.path
            texts = rs.texts or ("",) * len(rs.rules)
            for r, text in zip(rs.rules, texts, strict=True):
                info_key, key, k_in, k_out = kept.get((r[:_IDENTITY], text), _rule_keys, path, r, text)
                info_k(info_key)
                info_v(1)
                evals_k(key)
                evals_v(r.evaluations)
                packets_k(k_in)
                packets_v(r.packets_in)
                packets_k(k_out)
                packets_v(r.packets_out)
                bytes_k(k_in)
                bytes_v(r.bytes_in)
                bytes_k(k_out)
                bytes_v(r.bytes_out)
                states_k(key)
                states_v(r.states_current)
                created_k(key)
                created_v(r.states_total)

        return add


_IDENTITY = RuleCounters._fields.index("evaluations")  # the fields before the counters say which rule it is


def _rule_keys(path: str, r: RuleCounters, text: str) -> tuple[tuple[str, ...], ...]:
    """(pf_rule_info's labels, the other families' labels, with packet direction in, out)."""
    key = (path, str(r.number), r.label, r.action, r.direction)
    info = (*key, r.interface, r.family, protocol_name(r.protocol) if r.protocol else "",
            "true" if r.quick else "false", text)
    return info, key, (*key, "in"), (*key, "out")
