"""``pfctl -sm``: pf's hard limits, next to how much of each is in use."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, emit, gauge


class LimitsCollector(Collector):
    name = "limits"
    description = "hard limits (`pfctl -sm`) and their current usage"
    specs = (
        gauge("pf_limit", "Hard limit of a pf memory pool, as `pfctl -sm` names it", "limit"),
        gauge("pf_limit_used", "Current usage of a limited pool, where pf tells it (pf_limit_used / pf_limit "
              "is the fill ratio)", "limit"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        limits = pf.limits()
        for name, value in limits.items():
            f["pf_limit"].add((name,), value)
        status = pf.status()
        tables = pf.tables()
        used = {
            "states": status.states,
            "src-nodes": status.src_nodes,
            "frags": status.fragments,  # pf_status.fragments counts pf_frent_pl entries (pf_norm.c)
            "tables": len(tables),
            "table-entries": sum(t.addresses for t in tables),
            "anchors": len(pf.anchors()),
        }
        # pktdelay-pkts has no counter pf exports, so it gets no pf_limit_used series.
        for name in limits:
            if name in used:
                f["pf_limit_used"].add((name,), used[name])
        return emit(f.values())
