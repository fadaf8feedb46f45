"""Aggregated counts of the state table (DIOCGETSTATES), never one series per state.

Off by default: walking 100k+ states costs a kernel copy of the whole table.  Memory
stays bounded: only the raw state buffer and a count per (interface, family, protocol,
direction) are kept; addresses are not decoded.
"""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, emit, gauge

# The names pfctl prints (getprotobynumber with OpenBSD's /etc/protocols) for the
# protocols pf keeps state for; anything else is shown by number.
PROTOCOL_NAMES = {
    1: "icmp", 2: "igmp", 4: "ipencap", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah",
    58: "ipv6-icmp", 103: "pim", 112: "carp", 132: "sctp", 240: "pfsync",
}


def protocol_name(number: int) -> str:
    return PROTOCOL_NAMES.get(number) or str(number)


class StatesCollector(Collector):
    name = "states"
    default_enabled = False
    description = "state table entries counted by interface, family, protocol and direction (`pfctl -ss`)"
    specs = (
        gauge("pf_state_entries", "States by interface (\"all\" for floating states), address family, protocol "
              "and the direction of the packet that created them", "interface", "family", "protocol", "direction"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        counts = pf.count_states()
        f = self.families()
        add = f["pf_state_entries"].add
        for (ifname, family, proto, direction), n in sorted(counts.items()):
            add((ifname, family, protocol_name(proto), direction), n)
        return emit(f.values())
