"""carp(4): who is master of each vhid, advskew and advbase, the demotion counters of the groups
carp interfaces are in, the carp sysctls and statistics (SIOCGVH, SIOCGIFGATTR, sysctl
net.inet.carp.*).  No privilege, no /dev/pf; on a host without carp it exports nothing (and
succeeds).  Never writes: demotion is the admin API's and the library's (``carp_demote``)."""

from __future__ import annotations

from prometheus_client.core import Metric

from ..pf import types as pft
from .base import Collector, ScrapeView, counter, emit, flag, gauge

CARP_ERRORS = ("badif", "badttl", "hdrops", "badsum", "badver", "badlen", "badauth", "badvhid", "badaddrs",
               "onomem", "ostates")


class CarpCollector(Collector):
    name = "carp"
    description = "carp(4) vhid states, demotion counters, sysctls and statistics (`ifconfig carp`)"
    specs = (
        gauge("pf_carp_state", "1 for the vhid's current carp state (init, backup, master), 0 for the other two",
              "interface", "vhid", "state"),
        gauge("pf_carp_advskew", "The vhid's advertisement skew (advskew)", "interface", "vhid"),
        gauge("pf_carp_advbase_seconds", "The interface's advertisement base interval (advbase)", "interface"),
        gauge("pf_carp_info", "A carp interface, its parent and peer (always 1; peer \"\" when unset)",
              "interface", "carpdev", "peer"),
        gauge("pf_carp_demotion", "The carp demotion counter of an interface group with a carp member "
              "(`ifconfig -g group`)", "group"),
        gauge("pf_carp_allow", "sysctl net.inet.carp.allow (1: carp packets are accepted)"),
        gauge("pf_carp_preempt", "sysctl net.inet.carp.preempt (1: a better-placed host takes over as master)"),
        gauge("pf_carp_log_level", "sysctl net.inet.carp.log"),
        counter("pf_carp_packets_total", "carp advertisements received and sent", "direction", "family"),
        counter("pf_carp_errors_total", "carp packets dropped or not sent, by reason (the carpstats field)",
                "reason"),
        counter("pf_carp_preemptions_total", "Times this host preempted to become master (carps_preempt)"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        ifs = pf.carp_interfaces()
        for c in ifs:
            f["pf_carp_advbase_seconds"].add((c.name,), c.advbase)
            f["pf_carp_info"].add((c.name, c.carpdev, c.peer), 1)
            for v in c.vhosts:
                for state in pft.CARP_STATES:
                    f["pf_carp_state"].add((c.name, str(v.vhid), state), flag(v.state == state))
                f["pf_carp_advskew"].add((c.name, str(v.vhid)), v.advskew)
        if ifs:
            groups: list[str] = []
            for c in ifs:
                groups += [g for g in pf.interface_groups(c.name) if g not in groups and g != "all"]
            for g in groups:
                f["pf_carp_demotion"].add((g,), pf.group_demotion(g))
            settings = pf.carp_settings()
            f["pf_carp_allow"].add1(settings.allow)
            f["pf_carp_preempt"].add1(settings.preempt)
            f["pf_carp_log_level"].add1(settings.log)
            st = pf.carp_stats()
            for direction, family, key in (("in", "inet", "ipackets"), ("in", "inet6", "ipackets6"),
                                           ("out", "inet", "opackets"), ("out", "inet6", "opackets6")):
                f["pf_carp_packets_total"].add((direction, family), st[key])
            for reason in CARP_ERRORS:
                f["pf_carp_errors_total"].add((reason,), st[reason])
            f["pf_carp_preemptions_total"].add1(st["preempt"])
        return emit(f.values())
