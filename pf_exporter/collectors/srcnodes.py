"""``pfctl -sS``: source tracking, aggregated per rule label (DIOCGETSRCNODES).

Off by default: the kernel copies every node.  Never one series per address: per label, how
many nodes, and the most states and the highest connection rate one source holds.  A node names
its rule by number only; the label is taken from the main ruleset's rule of that number (nodes
of rules in anchors are counted under the label of the main-ruleset rule with the same number,
or ``""``).
"""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, emit, gauge


class SourceNodesCollector(Collector):
    name = "srcnodes"
    default_enabled = False
    uses_rule_index = True
    description = "source-tracking nodes per rule label (`pfctl -sS -v`), opt in"
    specs = (
        gauge("pf_src_node_entries", "Source-tracking nodes, by the label of the rule that created them", "label"),
        gauge("pf_src_node_max_states", "The most states one source-tracking node holds, per rule label", "label"),
        gauge("pf_src_node_max_connection_rate", "The highest connection rate (per rate period) one source holds, "
              "per rule label", "label"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        nodes = pf.source_nodes()
        f = self.families()
        labels: dict[int, str] = {}
        if nodes:
            labels = {number: label for number, label, _call in pf.rule_index().get("", ())}
        count: dict[str, int] = {}
        states: dict[str, int] = {}
        rate: dict[str, float] = {}
        for n in nodes:
            label = labels.get(n.rule, "") if n.rule is not None else ""
            count[label] = count.get(label, 0) + 1
            states[label] = max(states.get(label, 0), n.states)
            rate[label] = max(rate.get(label, 0.0), n.rate)
        for label in sorted(count):
            f["pf_src_node_entries"].add((label,), count[label])
            f["pf_src_node_max_states"].add((label,), states[label])
            f["pf_src_node_max_connection_rate"].add((label,), rate[label])
        return emit(f.values())
