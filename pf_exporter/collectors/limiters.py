"""OpenBSD 7.9+ state and source limiters (DIOCGETNSTATELIM / DIOCGETNSOURCELIM)."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, counter, emit, gauge

_S = ("id", "limiter")


class LimitersCollector(Collector):
    name = "limiters"
    description = "state and source limiters with their counters (OpenBSD 7.9+)"
    requires = "limiters"
    specs = (
        gauge("pf_state_limiter_limit", "Most states the state limiter admits", *_S),
        gauge("pf_state_limiter_states", "States the state limiter currently holds", *_S),
        gauge("pf_state_limiter_rate_limit", "States the limiter admits per rate period (0: no rate limit)", *_S),
        gauge("pf_state_limiter_rate_period_seconds", "The limiter's rate period", *_S),
        counter("pf_state_limiter_admitted_total", "States the state limiter admitted", *_S),
        counter("pf_state_limiter_hardlimited_total", "States refused because the limit was reached", *_S),
        counter("pf_state_limiter_ratelimited_total", "States refused because the rate was exceeded", *_S),
        gauge("pf_source_limiter_entries_limit", "Most source addresses the source limiter tracks", *_S),
        gauge("pf_source_limiter_entries", "Source addresses the source limiter currently tracks", *_S),
        gauge("pf_source_limiter_limit", "Most states per source address", *_S),
        gauge("pf_source_limiter_states", "States currently held under the source limiter", *_S),
        gauge("pf_source_limiter_rate_limit", "States per source admitted per rate period (0: no rate limit)", *_S),
        gauge("pf_source_limiter_rate_period_seconds", "The limiter's rate period", *_S),
        counter("pf_source_limiter_address_allocations_total", "Source entries allocated", *_S),
        counter("pf_source_limiter_address_nomem_total", "Source entries that could not be allocated (no memory)",
                *_S),
        counter("pf_source_limiter_admitted_total", "States the source limiter admitted", *_S),
        counter("pf_source_limiter_addrlimited_total", "States refused because the source table was full", *_S),
        counter("pf_source_limiter_hardlimited_total", "States refused because the per-source limit was reached",
                *_S),
        counter("pf_source_limiter_ratelimited_total", "States refused because the per-source rate was exceeded",
                *_S),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        a = {name: fam.add for name, fam in f.items()}
        for sl in pf.state_limiters():
            key = (str(sl.id), sl.name)
            a["pf_state_limiter_limit"](key, sl.limit)
            a["pf_state_limiter_states"](key, sl.inuse)
            a["pf_state_limiter_rate_limit"](key, sl.rate_limit)
            a["pf_state_limiter_rate_period_seconds"](key, sl.rate_seconds)
            a["pf_state_limiter_admitted_total"](key, sl.admitted)
            a["pf_state_limiter_hardlimited_total"](key, sl.hardlimited)
            a["pf_state_limiter_ratelimited_total"](key, sl.ratelimited)
        for so in pf.source_limiters():
            key = (str(so.id), so.name)
            a["pf_source_limiter_entries_limit"](key, so.entries)
            a["pf_source_limiter_entries"](key, so.nentries)
            a["pf_source_limiter_limit"](key, so.limit)
            a["pf_source_limiter_states"](key, so.inuse)
            a["pf_source_limiter_rate_limit"](key, so.rate_limit)
            a["pf_source_limiter_rate_period_seconds"](key, so.rate_seconds)
            a["pf_source_limiter_address_allocations_total"](key, so.addrallocs)
            a["pf_source_limiter_address_nomem_total"](key, so.addrnomem)
            a["pf_source_limiter_admitted_total"](key, so.admitted)
            a["pf_source_limiter_addrlimited_total"](key, so.addrlimited)
            a["pf_source_limiter_hardlimited_total"](key, so.hardlimited)
            a["pf_source_limiter_ratelimited_total"](key, so.ratelimited)
        return emit(f.values())
