"""``process_*`` metrics, as every Prometheus exporter has them (client_python's names).

On Linux, prometheus_client's ProcessCollector reads ``/proc``.  Elsewhere (OpenBSD) this
module's own: CPU seconds from getrusage(2) (``os.times``), open descriptors from ``/dev/fd``,
the descriptor limit from getrlimit(2), the start time taken when the exporter started, and the
peak resident set (``process_max_resident_memory_bytes``: ru_maxrss) — the current resident and
virtual sizes would need kern.proc's ``struct kinfo_proc``, which this project does not declare
yet, so those two are left out there.  ``--web.disable-exporter-metrics`` leaves all of these
(and the ``pf_exporter_*`` families) out, as node_exporter's flag does.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

STARTED = time.time()


class ProcessMetrics:
    """A registry collector for this process."""

    def __init__(self) -> None:
        self._linux = None
        if sys.platform.startswith("linux") and os.path.isdir("/proc/self"):
            from prometheus_client import ProcessCollector

            self._linux = ProcessCollector(registry=None)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        if self._linux is not None:
            yield from self._linux.collect()
            return
        t = os.times()
        cpu = CounterMetricFamily("process_cpu_seconds", "Total user and system CPU time spent in seconds.")
        cpu.add_metric([], t.user + t.system)
        yield cpu
        yield _gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", STARTED)
        try:
            yield _gauge("process_open_fds", "Number of open file descriptors.", len(os.listdir("/dev/fd")))
        except OSError:
            pass
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        yield _gauge("process_max_fds", "Maximum number of open file descriptors.", float(soft))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on OpenBSD and Linux
        yield _gauge("process_max_resident_memory_bytes", "Peak resident memory size in bytes (ru_maxrss).", peak)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, help_text)
    g.add_metric([], value)
    return g
