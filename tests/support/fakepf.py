"""A stand-in for the pf library with hand-built values, for collector and exporter tests."""

from __future__ import annotations

import ipaddress
from collections import Counter

from prometheus_client.core import Metric

from pf_exporter.pf import types as model

PFRES = ("match", "bad-offset", "state-mismatch")


LCNT = ("max states per rule", "max-src-states")


FCNT = ("searches", "inserts", "removals")


def make_status(**over: object) -> model.Status:
    values: dict[str, object] = dict(
        running=True, since=100, enabled_seconds=3600, states=42, states_halfopen=3, src_nodes=5, fragments=7,
        debug=3, hostid=0xDEADBEEF, reass=1, stateid=99, syncookies_active=False, syncookies_mode="adaptive",
        syncookies_inflight=(2, 1), loginterface="em0", checksum="0123456789abcdef0123456789abcdef",
        counters={n: i * 10 for i, n in enumerate(PFRES)},
        limit_counters={n: i + 1 for i, n in enumerate(LCNT)},
        state_operations={"searches": 1000, "inserts": 50, "removals": 8},
        src_node_operations={"searches": 4, "inserts": 5, "removals": 6},
        fragment_operations={"searches": 7, "inserts": 8, "removals": 9},
        loginterface_packets={("inet", "in", "pass"): 11, ("inet", "in", "block"): 12},
        loginterface_bytes={("inet", "in"): 1300, ("inet6", "out"): 1400},
    )
    values.update(over)
    return model.Status(**values)  # type: ignore[arg-type]


def make_rule(anchor: str, number: int, label: str, **over: object) -> model.RuleCounters:
    values: dict[str, object] = dict(
        anchor=anchor, number=number, action="pass", direction="in", quick=False, log=False, interface="",
        family="", protocol=0, label=label, anchor_call="", evaluations=10, packets_in=1, packets_out=2,
        bytes_in=100, bytes_out=200, states_current=3, states_total=4, src_nodes=0, max_states=0,
    )
    values.update(over)
    return model.RuleCounters(**values)  # type: ignore[arg-type]


def make_queue(name: str, parent: str = "", flow: model.FlowQueueStats | None = None) -> model.Queue:
    return model.Queue(
        interface="em0", name=name, parent=parent, bandwidth=10_000_000, min_bandwidth=1_000_000,
        max_bandwidth=20_000_000, flags=0, qlimit=50, flowqueue=flow is not None,
        stats=model.QueueStats(packets=10, bytes=1000, dropped_packets=1, dropped_bytes=100, length=2, limit=50),
        flow_stats=flow,
    )


def make_state(i: int, interface: str = "em0", family: str = "inet", protocol: int = 6,
               direction: str = "out") -> tuple[str, str, int, str]:
    """A state as the states collector counts it: (interface, family, protocol, direction)."""
    return (interface, family, protocol, direction)


class FakePf:
    """A stand-in for :class:`pf_exporter.pf.PacketFilter`; ``fail`` names methods that raise."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.fail = set(fail)
        self.calls: list[str] = []
        self.state_list = [make_state(1), make_state(2), make_state(3, protocol=17, direction="in"),
                           make_state(4, interface="all", family="inet6", protocol=58)]

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise OSError(5, f"{name} failed on purpose")

    def status(self) -> model.Status:
        self._call("status")
        return make_status()

    def limits(self) -> dict[str, int]:
        self._call("limits")
        return {"states": 100000, "src-nodes": 10000, "frags": 65536, "tables": 1000, "table-entries": 200000,
                "pktdelay-pkts": 10000, "anchors": 512}

    def syncookie_watermarks(self) -> tuple[int, int]:
        self._call("syncookie_watermarks")
        return 25_000, 12_500

    def timeouts(self) -> dict[str, int]:
        self._call("timeouts")
        return {"tcp.first": 120, "tcp.established": 86400, "adaptive.start": 60000, "adaptive.end": 120000,
                "interval": 10}

    def interfaces(self) -> list[model.Interface]:
        self._call("interfaces")
        counts = {("inet", "in", "pass"): 5, ("inet6", "out", "block"): 6}
        return [
            model.Interface(name="em0", is_group=False, skip=False, packets=counts, bytes={k: v * 100 for k, v in
                            counts.items()}, cleared=1700000000, states=4, rules=2, routes=0, src_nodes=1),
            model.Interface(name="egress", is_group=True, skip=False, packets={}, bytes={}, cleared=1700000001,
                            states=0, rules=3, routes=0, src_nodes=0),
            model.Interface(name="lo0", is_group=False, skip=True, packets={}, bytes={}, cleared=1700000002,
                            states=0, rules=0, routes=0, src_nodes=0),
        ]

    def tables(self) -> list[model.Table]:
        self._call("tables")
        return [
            model.Table(anchor="", name="bruteforce", flags=frozenset({"persist", "active"}), addresses=3,
                        packets={("in", "block"): 7, ("in", "xpass"): 1}, bytes={("in", "block"): 700},
                        matches=20, nomatches=30, cleared=1700000100, rule_references=2, anchor_references=0),
            model.Table(anchor="relayd", name="web", flags=frozenset({"active"}), addresses=2, packets={}, bytes={},
                        matches=0, nomatches=0, cleared=1700000200, rule_references=1, anchor_references=1),
        ]

    def anchors(self) -> list[str]:
        self._call("anchors")
        return ["relayd", "relayd/web"]

    def iter_rulesets(self, anchors=None, *, texts=False):  # type: ignore[no-untyped-def]
        self._call("rulesets")
        rulesets = {
            "": (make_rule("", 0, ""), make_rule("", 1, "ssh"), make_rule("", 2, "ssh", direction="out"),
                 make_rule("", 3, "web", action="block", direction="")),
            "relayd": (make_rule("relayd", 0, "ssh"),),
            "relayd/web": (),
        }
        def text(rules):  # type: ignore[no-untyped-def]
            return tuple(f"{r.action} {r.direction or 'all'} label \"{r.label}\"" for r in rules) if texts else ()

        yield model.Ruleset("", rulesets[""], text(rulesets[""]))
        for path in self.anchors() if anchors is None else anchors:
            yield model.Ruleset(path, rulesets[path], text(rulesets[path]))

    def queues(self) -> list[model.Queue]:
        self._call("queues")
        flow = model.FlowQueueStats(flows=2, target_ns=5_000_000, interval_ns=100_000_000, delay_sum=3000,
                                    delay_sum_squares=5_000_000)
        return [make_queue("root"), make_queue("std", parent="root"), make_queue("fq", flow=flow)]

    def state_limiters(self) -> list[model.StateLimiter]:
        self._call("state_limiters")
        return [model.StateLimiter(id=1, name="web", description="web servers", limit=1000, rate_limit=100,
                                   rate_seconds=10, inuse=12, admitted=500, hardlimited=3, ratelimited=4)]

    def source_limiters(self) -> list[model.SourceLimiter]:
        self._call("source_limiters")
        return [model.SourceLimiter(
            id=2, name="per-src", description="", entries=10000, limit=50, rate_limit=0, rate_seconds=0,
            overload_table="", overload_hwm=0, overload_lwm=0, inet_prefix=32, inet6_prefix=64, nentries=7,
            inuse=30, addrallocs=70, addrnomem=0, admitted=400, addrlimited=1, hardlimited=2, ratelimited=0)]

    def count_states(self) -> Counter[tuple[str, str, int, str]]:
        self._call("states")
        return Counter(self.state_list)

    def carp_interfaces(self) -> list[model.CarpInterface]:
        self._call("carp_interfaces")
        return [model.CarpInterface("carp0", "em0", 1, "192.0.2.2", 0,
                                    (model.CarpVhost(1, 0, "master"), model.CarpVhost(2, 100, "backup")))]

    def pfsync_interfaces(self) -> list[model.PfsyncInterface]:
        self._call("pfsync_interfaces")
        return [model.PfsyncInterface("pfsync0", "em2", "", 128, True)]

    def carp_stats(self) -> dict[str, int]:
        self._call("carp_stats")
        from pf_exporter.collectors.carp import CARP_ERRORS

        return {"ipackets": 10, "ipackets6": 0, "opackets": 20, "opackets6": 1, "preempt": 2,
                **{k: 0 for k in CARP_ERRORS}, "badauth": 3}

    def pfsync_stats(self) -> dict[str, int]:
        self._call("pfsync_stats")
        from pf_exporter.collectors.pfsync import PFSYNC_ERRORS

        return {"ipackets": 5, "ipackets6": 0, "opackets": 7, "opackets6": 0, **{k: 0 for k in PFSYNC_ERRORS}}

    def carp_settings(self) -> model.CarpSettings:
        self._call("carp_settings")
        return model.CarpSettings(1, 1, 2)

    def interface_groups(self, interface: str) -> list[str]:
        return ["all", "carp"]

    def group_demotion(self, group: str) -> int:
        return 0

    def source_nodes(self) -> list[model.SourceNode]:
        self._call("source_nodes")
        addr = ipaddress.ip_address("192.0.2.9")
        return [model.SourceNode("inet", addr, ipaddress.ip_address("0.0.0.0"), 1, "filter", 3, 2, 1.5, 10, 60, 0,
                                 (5, 6), (500, 600))]


def samples(metrics: list[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} for every exported sample."""
    out = {}
    for m in metrics:
        for s in m.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(metrics: list[Metric], name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]
