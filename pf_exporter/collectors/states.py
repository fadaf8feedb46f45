"""Aggregated counts of the state table (DIOCGETSTATES), never one series per state.

Off by default: walking 100k+ states costs a kernel copy of the whole table.  Memory
stays bounded: only the raw state buffer and a count per (interface, family, protocol,
direction) are kept; addresses are not decoded.  ``--collector.states.details`` decodes every
state instead (about twice the time: 1.4 s per 100,000 states on the simulator against 0.7 s)
to also count TCP states by their pair as ``pfctl -ss`` prints it and to find, per rule label,
the largest number of states one source address holds (one abuser, without a series per
address).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client.core import Metric

from ..pf import types as pft
from .base import Collector, ScrapeView, emit, gauge

protocol_name = pft.protocol_name  # as pfctl names protocols


def rule_labels(tree: dict[str, tuple[tuple[int, str, str], ...]]) -> dict[tuple[int | None, int], str]:
    """(anchor rule, rule) as a state names its rule -> the rule's label, where that is one label
    (pf names a state's rule by its number and the number of the anchor rule that led to its
    ruleset; rules two rulesets reach the same way are ambiguous and left out).  *tree* is
    :meth:`ScrapeView.rule_index`: path -> (number, label, anchor call) of each rule."""
    from ..ruleset.show import resolve_anchor  # only when details are asked for

    reached: dict[int | None, set[str]] = {None: {""}}
    for path, rules in tree.items():
        for number, _label, call in rules:
            if call:
                target = resolve_anchor(path, call.rstrip("*").rstrip("/"))
                paths = ({p for p in tree if p.startswith(target + "/") and "/" not in p[len(target) + 1:]}
                         if call.endswith("*") else {target})
                reached.setdefault(number, set()).update(paths)
    out: dict[tuple[int | None, int], str] = {}
    for anchor_rule, paths in reached.items():
        found: dict[int, set[str]] = {}
        for path in paths:
            for number, label, _call in tree.get(path, ()):
                found.setdefault(number, set()).add(label)
        for number, labels in found.items():
            if len(labels) == 1:
                out[(anchor_rule, number)] = labels.pop()
    return out


class StatesCollector(Collector):
    name = "states"
    default_enabled = False
    description = "state table entries counted by interface, family, protocol and direction (`pfctl -ss`)"
    specs = (
        gauge("pf_state_entries", "States by interface (\"all\" for floating states), address family, protocol "
              "and the direction of the packet that created them", "interface", "family", "protocol", "direction"),
        gauge("pf_state_tcp_entries", "TCP states by their peers' states as pfctl -ss prints them "
              "(--collector.states.details)", "state"),
        gauge("pf_state_source_max_entries", "The most states one source address holds among the states of the "
              "rules with this label (--collector.states.details)", "label"),
    )

    def __init__(self, details: bool = False) -> None:
        self.details = details
        self.uses_rule_index = details

    @classmethod
    def add_flags(cls, group: Any) -> None:
        group.add_argument("--collector.states.details", dest="states_details", action="store_true",
                           help="decode every state: TCP state pairs and the largest source per rule label "
                                "(about twice the cost of the counts)")

    @classmethod
    def from_args(cls, args: Any) -> StatesCollector:
        return cls(details=bool(getattr(args, "states_details", False)))

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        add = f["pf_state_entries"].add
        if not self.details:
            for (ifname, family, proto, direction), n in sorted(pf.count_states().items()):
                add((ifname, family, protocol_name(proto), direction), n)
            return emit(f.values())
        labels = rule_labels(pf.rule_index())
        counts: Counter[tuple[str, str, int, str]] = Counter()
        tcp: Counter[str] = Counter()
        per_source: Counter[tuple[str, pft.IPAddress]] = Counter()
        for s in pf.states():
            counts[(s.interface, s.family, s.protocol, s.direction)] += 1
            if s.protocol == 6:
                tcp[f"{pft.peer_state_name(6, s.src_state)}:{pft.peer_state_name(6, s.dst_state)}"] += 1
            if s.rule is not None:
                label = labels.get((s.anchor_rule, s.rule))
                if label is not None:
                    per_source[(label, s.source.address)] += 1
        for (ifname, family, proto, direction), n in sorted(counts.items()):
            add((ifname, family, protocol_name(proto), direction), n)
        for state, n in sorted(tcp.items()):
            f["pf_state_tcp_entries"].add((state,), n)
        most: dict[str, int] = {}
        for (label, _addr), n in per_source.items():
            most[label] = max(most.get(label, 0), n)
        for label, n in sorted(most.items()):
            f["pf_state_source_max_entries"].add((label,), n)
        return emit(f.values())
