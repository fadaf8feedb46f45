"""``pfctl -sI -v``: per-interface (and interface group) counters (DIOCIGETIFACES)."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, counter, emit, flag, gauge

_KEY = ("interface", "family", "direction", "action")


class InterfacesCollector(Collector):
    name = "interfaces"
    description = "interfaces and interface groups (`pfctl -sI -v`)"
    specs = (
        gauge("pf_interface_info", "Every interface pf knows; kind is \"group\" for interface groups (egress, all, "
              "...) and \"interface\" otherwise (always 1)", "interface", "kind"),
        gauge("pf_interface_skip", "1 when pf skips the interface (`set skip on`)", "interface"),
        counter("pf_interface_packets_total", "Packets passed or blocked on the interface", *_KEY),
        counter("pf_interface_bytes_total", "Bytes passed or blocked on the interface", *_KEY),
        gauge("pf_interface_states", "States bound to the interface", "interface"),
        gauge("pf_interface_rules", "Rules referring to the interface", "interface"),
        gauge("pf_interface_routes", "Route-to references to the interface", "interface"),
        gauge("pf_interface_src_nodes", "Source tracking entries referring to the interface", "interface"),
        gauge("pf_interface_cleared_timestamp_seconds", "When the interface's counters were last cleared (Unix time)",
              "interface"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        info, skip = f["pf_interface_info"].add, f["pf_interface_skip"].add
        packets, nbytes = f["pf_interface_packets_total"].add, f["pf_interface_bytes_total"].add
        states, rules = f["pf_interface_states"].add, f["pf_interface_rules"].add
        routes, src_nodes = f["pf_interface_routes"].add, f["pf_interface_src_nodes"].add
        cleared = f["pf_interface_cleared_timestamp_seconds"].add
        for i in pf.interfaces():
            name = (i.name,)
            info((i.name, "group" if i.is_group else "interface"), 1)
            skip(name, flag(i.skip))
            for (family, direction, action), v in i.packets.items():
                packets((i.name, family, direction, action), v)
            for (family, direction, action), v in i.bytes.items():
                nbytes((i.name, family, direction, action), v)
            states(name, i.states)
            rules(name, i.rules)
            routes(name, i.routes)
            src_nodes(name, i.src_nodes)
            cleared(name, i.cleared)
        return emit(f.values())
