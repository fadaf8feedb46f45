"""pfsync(4): its statistics (sysctl net.inet.pfsync.stats) and each pfsync interface's settings
(SIOCGETPFSYNC).  No privilege, no /dev/pf; on a host without pfsync it exports nothing."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, counter, emit, flag, gauge

PFSYNC_ERRORS = ("badif", "badttl", "hdrops", "badver", "badact", "badlen", "badauth", "stale", "badval",
                 "badstate", "onomem", "oerrors")


class PfsyncCollector(Collector):
    name = "pfsync"
    description = "pfsync(4) packets, errors and interface settings (`ifconfig pfsync0`, `netstat -s -p pfsync`)"
    specs = (
        counter("pf_pfsync_packets_total", "pfsync packets received and sent", "direction", "family"),
        counter("pf_pfsync_errors_total", "pfsync packets dropped or not sent, by reason (the pfsyncstats field)",
                "reason"),
        gauge("pf_pfsync_info", "A pfsync interface, its sync device and peer (always 1)",
              "interface", "syncdev", "syncpeer"),
        gauge("pf_pfsync_maxupdates", "Updates of one state pfsync collects before it sends them (maxupd)",
              "interface"),
        gauge("pf_pfsync_defer", "1 when the pfsync interface defers packets until the peer has the state",
              "interface"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        ifs = pf.pfsync_interfaces()
        for p in ifs:
            f["pf_pfsync_info"].add((p.name, p.syncdev, p.syncpeer), 1)
            f["pf_pfsync_maxupdates"].add((p.name,), p.maxupdates)
            f["pf_pfsync_defer"].add((p.name,), flag(p.defer))
        if ifs:
            st = pf.pfsync_stats()
            for direction, family, key in (("in", "inet", "ipackets"), ("in", "inet6", "ipackets6"),
                                           ("out", "inet", "opackets"), ("out", "inet6", "opackets6")):
                f["pf_pfsync_packets_total"].add((direction, family), st[key])
            for reason in PFSYNC_ERRORS:
                f["pf_pfsync_errors_total"].add((reason,), st[reason])
        return emit(f.values())
