"""``pfctl -vsq``: queue statistics (DIOCGETQUEUE + DIOCGETQSTATS), HFSC and fq_codel."""

from __future__ import annotations

import math

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, counter, emit, gauge

_Q = ("interface", "queue", "parent")


class QueuesCollector(Collector):
    name = "queues"
    description = "queues and their statistics (`pfctl -vsq`); parent is \"\" for a root queue"
    specs = (
        counter("pf_queue_packets_total", "Packets sent from the queue", *_Q),
        counter("pf_queue_bytes_total", "Bytes sent from the queue", *_Q),
        counter("pf_queue_dropped_packets_total", "Packets dropped by the queue", *_Q),
        counter("pf_queue_dropped_bytes_total", "Bytes dropped by the queue", *_Q),
        gauge("pf_queue_length", "Packets waiting in the queue", *_Q),
        gauge("pf_queue_limit", "Maximum packets the queue holds (qlimit)", *_Q),
        # pf configures bandwidth in bits per second; exported in bytes, the base unit (promtool insists).
        gauge("pf_queue_bandwidth_bytes_per_second", "Target bandwidth of the queue (0: unset)", *_Q),
        gauge("pf_queue_min_bandwidth_bytes_per_second", "Guaranteed (realtime) bandwidth of the queue (0: unset)",
              *_Q),
        gauge("pf_queue_max_bandwidth_bytes_per_second", "Bandwidth ceiling of the queue (0: unset)", *_Q),
        gauge("pf_queue_flows", "fq_codel: flows with packets waiting", *_Q),
        gauge("pf_queue_flow_delay_seconds", "fq_codel: mean queueing delay of the last packet of each active flow",
              *_Q),
        gauge("pf_queue_flow_delay_stddev_seconds", "fq_codel: standard deviation of that delay across flows", *_Q),
        gauge("pf_queue_codel_target_seconds", "fq_codel: the CoDel target delay", *_Q),
        gauge("pf_queue_codel_interval_seconds", "fq_codel: the CoDel interval", *_Q),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        a = {name: fam.add for name, fam in f.items()}
        for q in pf.queues():
            key = (q.interface, q.name, q.parent)
            st = q.stats
            a["pf_queue_packets_total"](key, st.packets)
            a["pf_queue_bytes_total"](key, st.bytes)
            a["pf_queue_dropped_packets_total"](key, st.dropped_packets)
            a["pf_queue_dropped_bytes_total"](key, st.dropped_bytes)
            a["pf_queue_length"](key, st.length)
            a["pf_queue_limit"](key, st.limit)
            a["pf_queue_bandwidth_bytes_per_second"](key, q.bandwidth / 8)
            a["pf_queue_min_bandwidth_bytes_per_second"](key, q.min_bandwidth / 8)
            a["pf_queue_max_bandwidth_bytes_per_second"](key, q.max_bandwidth / 8)
            fs = q.flow_stats
            if fs is not None:
                a["pf_queue_flows"](key, fs.flows)
                # fqcodel_pf_qstats sums each active flow's delay in microseconds (and its square).
                mean = fs.delay_sum / fs.flows if fs.flows else 0.0
                var = fs.delay_sum_squares / fs.flows - mean * mean if fs.flows else 0.0
                a["pf_queue_flow_delay_seconds"](key, mean / 1e6)
                a["pf_queue_flow_delay_stddev_seconds"](key, math.sqrt(max(var, 0.0)) / 1e6)
                a["pf_queue_codel_target_seconds"](key, fs.target_ns / 1e9)
                a["pf_queue_codel_interval_seconds"](key, fs.interval_ns / 1e9)
        return emit(f.values())
