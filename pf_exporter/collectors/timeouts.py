"""``pfctl -st``: pf's global timeouts."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, emit, gauge

# `set timeout adaptive.start/end` are state counts, not durations (pfctl -st prints "states").
ADAPTIVE = ("adaptive.start", "adaptive.end")


class TimeoutsCollector(Collector):
    name = "timeouts"
    description = "global timeouts (`pfctl -st`)"
    specs = (
        gauge("pf_timeout_seconds", "A global pf timeout, as `pfctl -st` names it", "timeout"),
        gauge("pf_timeout_adaptive_states", "Adaptive timeout scaling thresholds (state counts): scaling starts at "
              "adaptive.start states and reaches zero at adaptive.end", "timeout"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        for name, value in pf.timeouts().items():
            if name in ADAPTIVE:
                f["pf_timeout_adaptive_states"].add((name,), value)
            else:
                f["pf_timeout_seconds"].add((name,), value)
        return emit(f.values())
