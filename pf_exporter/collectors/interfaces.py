"""``pfctl -sI -v``: per-interface (and interface group) counters (DIOCIGETIFACES)."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, KeptLabels, ScrapeView, counter, emit, flag, gauge

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

    def __init__(self) -> None:
        # each interface's label tuples of the packet/byte families, kept while the interface exists
        self._keys: KeptLabels[tuple[object, ...], tuple[tuple[tuple[str, ...], ...], ...]] = KeptLabels()

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        info, skip = f["pf_interface_info"].add, f["pf_interface_skip"].add
        packets, nbytes = f["pf_interface_packets_total"], f["pf_interface_bytes_total"]
        states, rules = f["pf_interface_states"].add, f["pf_interface_rules"].add
        routes, src_nodes = f["pf_interface_routes"].add, f["pf_interface_src_nodes"].add
        cleared = f["pf_interface_cleared_timestamp_seconds"].add
        self._keys.start()
        for i in pf.interfaces():
            name = (i.name,)
            packet_keys, byte_keys = tuple(i.packets), tuple(i.bytes)
            counters = self._keys.get((i.name, packet_keys, byte_keys), _interface_keys, i.name, packet_keys, byte_keys)
            info((i.name, "group" if i.is_group else "interface"), 1)
            skip(name, flag(i.skip))
            packets.keys.extend(counters[0])
            packets.values.extend(i.packets.values())
            nbytes.keys.extend(counters[1])
            nbytes.values.extend(i.bytes.values())
            states(name, i.states)
            rules(name, i.rules)
            routes(name, i.routes)
            src_nodes(name, i.src_nodes)
            cleared(name, i.cleared)
        return emit(f.values())


def _interface_keys(name: str, packet_keys: tuple[tuple[str, str, str], ...],
                    byte_keys: tuple[tuple[str, str, str], ...]) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """The interface's label tuples of pf_interface_packets_total and pf_interface_bytes_total (one
    set for both when they count the same keys, as pf's always do: kept, they are memory)."""
    packets = tuple((name, *k) for k in packet_keys)
    return packets, packets if byte_keys == packet_keys else tuple((name, *k) for k in byte_keys)
