"""Scenarios: what the simulated pf holds at start, loaded the way pfctl loads a ruleset
(one transaction over every anchor, tables defined inactive and committed with the rules).

* ``empty``: pf enabled, no rules, only the interfaces ``lo0`` and ``em0``.
* ``small``: a home/office firewall: em0 (egress), em1 (LAN), em2 (DMZ), vlan10/vlan20,
  wg0, lo0, pflog0, enc0 and their groups; ~40 labelled rules in the main ruleset and the
  anchors relayd/*, ftp-proxy/*, office and office/guests; 6 tables; an HFSC tree on em0
  with an fq_codel flow queue, and a plain fq_codel queue on em1; a few hundred states.
* ``large``: 10,000 rules in 1,000 labels across 50 anchors, 500 tables, 200 interfaces,
  64 queues and 100,000 states.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable

from ..abi import constants as C
from .ioctl_status import xcommit_kifs
from .kernel import PfKernel as Simulator
from .ktable import USERIOCTL, Addr, TableRequest
from .objects import SimKif, SimRule, SimSourceLimiter, SimState, SimStateLimiter, source_key
from .rulespec import build_rule
from .traffic import accumulate
from .wire import ntohs, set_cstr

TCPS_SYN_SENT, TCPS_ESTABLISHED, TCPS_FIN_WAIT_2, TCPS_TIME_WAIT = 2, 4, 9, 10
FLOWQUEUE, ROOTCLASS, DEFAULT = 0x0001, 0x0002, 0x1000


def _addr16(text: str) -> bytes:
    return ipaddress.ip_address(text).packed.ljust(16, b"\0")


class Loader:
    """Loads a scenario through the kernel's own functions (what the ioctls call)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.L = sim.layout
        self.rule_tickets: dict[str, int] = {}
        self.table_tickets: dict[str, int] = {}
        self.order: list[str] = []

    # interfaces --------------------------------------------------------------------
    def iface(self, name: str, groups: tuple[str, ...] = (), v4: tuple[str, ...] = (), v6: tuple[str, ...] = (),
              traffic: float = 0.0) -> SimKif:
        sim = self.sim
        k = sim.kif_get(name)
        k.has_ifp = True
        k.tzero = sim.clock.boottime + 12
        k.groups = ["all", *groups]
        for g in k.groups:
            gk = sim.kif_get(g)
            gk.is_group = True
            gk.tzero = sim.clock.boottime + 12
            gk.members.append(name)
        for a in v4:
            n = ipaddress.ip_interface(a)
            k.v4.append((n.ip.packed, n.network.prefixlen))
        for a in v6:
            n = ipaddress.ip_interface(a)
            k.v6.append((n.ip.packed, n.network.prefixlen))
        if traffic:
            r = self.rng
            for af in range(2):
                share = traffic if af == 0 else traffic * 0.15
                for d in range(2):
                    k.rates[af * 4 + d * 2] = share * r.uniform(0.8, 1.2)
                    k.rates[af * 4 + d * 2 + 1] = share * r.uniform(0.002, 0.02)
            k.bpp = r.uniform(400, 1100)
        return k

    def skip(self, name: str) -> None:
        """`set skip on <name>`: pfi_set_flags() then pfi_xcommit()."""
        sim = self.sim
        k = sim.kif_get(name)
        k.flags_new |= C.PFI_IFLAG_SKIP
        k.flagrefs = 1

    # transaction -------------------------------------------------------------------
    def begin(self, *anchors: str) -> None:
        for a in anchors:
            self.order.append(a)
            self.rule_tickets[a] = self.sim.begin_rules(a)
            self.table_tickets[a] = self.sim.tables.ina_begin(a)

    def table(self, anchor: str, name: str, addrs: list[str], flags: int = 0) -> None:
        req = TableRequest(name.encode().ljust(C.PF_TABLE_NAME_SIZE, b"\0"), anchor.encode().ljust(1024, b"\0"),
                           flags)
        entries = []
        for spec in addrs:
            neg = spec.startswith("!")
            net = ipaddress.ip_network(spec.lstrip("!"), strict=False)
            af = C.AF_INET if net.version == 4 else C.AF_INET6
            entries.append(Addr(af, net.network_address.packed.ljust(16, b"\0"), net.prefixlen, int(neg)))
        self.sim.tables.ina_define(req, entries, self.table_tickets[anchor],
                                   C.PFR_FLAG_ADDRSTOO | USERIOCTL)

    def rule(self, anchor: str, action: str = "pass", direction: str = "", *, call: str = "",
             **spec: object) -> SimRule:
        if not self.sim.abi.has_limiters:
            spec.pop("statelim", None)
            spec.pop("sourcelim", None)
        ur = build_rule(self.L, action, direction, **spec)  # type: ignore[arg-type]  # the scenario's specs are checked by build_rule
        return self.sim.add_rule(anchor, self.rule_tickets[anchor], ur, call)

    def queue(self, name: str, on: str, parent: str = "", bandwidth: int = 0, min: int = 0, max: int = 0,
              flows: int = 0, qlimit: int = 0, default: bool = False, root_class: bool = False) -> None:
        q = self.L.pfioc_queue()
        s = q.queue
        set_cstr(s, "qname", name)
        set_cstr(s, "parent", parent)
        set_cstr(s, "ifname", on)
        s.linkshare.m2.absolute = bandwidth
        s.realtime.m2.absolute = min
        s.upperlimit.m2.absolute = max
        if flows:
            s.flowqueue.flows = flows
            s.flowqueue.quantum = 1514
            s.flowqueue.target = 5_000_000
            s.flowqueue.interval = 100_000_000
            s.flags |= FLOWQUEUE
        if default:
            s.flags |= DEFAULT
        if root_class:
            s.flags |= ROOTCLASS
        s.qlimit = qlimit or 50
        self.sim.add_queue(self.rule_tickets[""], s)

    def statelim(self, id: int, name: str, limit: int, rate: tuple[int, int] = (0, 0)) -> None:
        if self.sim.abi.has_limiters:
            self.sim.statelims_inactive[id] = SimStateLimiter(id, name, limit, *rate)

    def sourcelim(self, id: int, name: str, entries: int, limit: int, **kw: object) -> None:
        if self.sim.abi.has_limiters:
            self.sim.sourcelims_inactive[id] = SimSourceLimiter(id, name, entries, limit, **kw)

    def commit(self, *, limits: dict[int, int] | None = None, timeouts: dict[int, int] | None = None,
               loginterface: str = "") -> None:
        sim = self.sim
        for a in self.order:
            sim.commit_rules(self.rule_tickets[a], a)
            sim.tables.ina_commit(a, self.table_tickets[a])
        for i, v in (limits or {}).items():
            sim.limits[i] = sim.limits_new[i] = v
        for i, v in (timeouts or {}).items():
            sim.timeouts[i] = sim.timeouts_new[i] = v
        xcommit_kifs(sim)
        sim.status_ifname = loginterface

    # traffic -------------------------------------------------------------------------
    def rates(self, weights: Callable[[SimRule], float] | None = None) -> None:
        """Give every active rule, table and queue a steady rate."""
        r = self.rng
        for rule in self.sim.iter_rules():
            w = weights(rule) if weights else 1.0
            rule.rate = w * r.uniform(5, 120)
            rule.pass_share = r.uniform(0.05, 0.9) if rule.action != C.PF_MATCH else 1.0
            rule.bpp = r.uniform(90, 1400)
        for kt in self.sim.tables.tables.values():
            kt.rate = r.uniform(0.5, 40)
            kt.bpp = r.uniform(60, 900)
            for e in kt.entries.values():
                e.rate = r.uniform(0, 2) if kt.flags & C.PFR_TFLAG_COUNTERS else 0.0
                e.bpp = kt.bpp
        for q in self.sim.queues:
            q.rate = r.uniform(50, 4000) if not q.flags & ROOTCLASS else 0.0
            q.drop_share = r.uniform(0, 0.01)
            q.bpp = r.uniform(200, 1400)
            q.class_handle = q.qid
            if q.flags & FLOWQUEUE:
                q.flows = r.randint(3, 40)
        for lim in self.sim.statelims.values():
            lim.growth = r.uniform(0.5, 6)
        for slim in self.sim.sourcelims.values():
            slim.growth = r.uniform(0.5, 6)

    def start(self, since_boot: int = 31) -> None:
        """pf was enabled at boot (rc(8) runs `pfctl -e`) and has been counting since."""
        sim = self.sim
        sim.running = True
        sim.since = since_boot
        sim.stateid = (sim.clock.boottime + since_boot) << 32
        accumulate(sim, float(sim.clock.uptime() - since_boot))


# --- state generation -----------------------------------------------------------------

Net = tuple[int, int, int]  # (first address as an integer, number of addresses, address length in bytes)


class _Flow:
    """What connections matching one rule look like (computed once per rule)."""

    __slots__ = ("rule", "anchor", "af", "proto", "direction", "src", "dst", "dport", "kif", "rdr", "rdr_port", "nat",
                 "log")
    rule: SimRule
    anchor: SimRule | None  # the anchor rule that led to the rule's ruleset (st->anchor)
    af: int
    proto: int
    direction: int
    src: tuple[list[Net], list[Net]]  # the rule's source networks, (inet, inet6)
    dst: tuple[list[Net], list[Net]]
    dport: int
    kif: str
    rdr: bytes | None
    rdr_port: int
    nat: bytes | None
    log: int




class StateMaker:
    """Makes plausible connections for the pass rules that keep state."""

    COMMON_PORTS = (443, 443, 443, 80, 53, 22, 993, 123, 25, 8080, 5222, 51820)

    def __init__(self, sim: Simulator, lan: dict[str, str]) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.lan = {k: _net(v) for k, v in lan.items()}  # interface -> network its hosts come from
        rules = [r for r in sim.iter_rules() if r.action == C.PF_PASS and r.kr.keep_state]
        self.flows = [self._flow(r) for r in rules]
        total = 0.0
        self.cum: list[float] = []
        for r in rules:
            total += r.rate or 1.0
            self.cum.append(total)

    def _nets(self, rule: SimRule, where: str) -> list[Net]:
        ra = getattr(rule.kr, where)
        if ra.neg:
            return []
        if ra.addr.type == C.PF_ADDR_ADDRMASK:
            mask = bytes(ra.addr.v.a.mask)
            if any(mask):
                n = 4 if rule.af == C.AF_INET else 16
                bits = sum(bin(b).count("1") for b in mask[:n])
                return [(int.from_bytes(bytes(ra.addr.v.a.addr)[:n], "big"), 1 << (n * 8 - bits), n)]
        if ra.addr.type == C.PF_ADDR_TABLE:
            for w, kt in rule.tables:
                if w == where:
                    return [(int.from_bytes(e.addr[:4 if e.af == C.AF_INET else 16], "big"),
                             1 << ((32 if e.af == C.AF_INET else 128) - e.net), 4 if e.af == C.AF_INET else 16)
                            for e in kt.entries.values() if not e.neg]
        return []

    def _flow(self, rule: SimRule) -> _Flow:
        f = _Flow()
        f.rule = rule
        f.anchor = self.sim.calling_rule(rule.ruleset)  # st->anchor: the anchor rule that led to the rule
        f.af = rule.af
        f.proto = rule.proto
        f.direction = rule.direction or C.PF_IN
        src, dst = self._nets(rule, "src"), self._nets(rule, "dst")
        f.src = ([n for n in src if n[2] == 4], [n for n in src if n[2] == 16])  # per family
        f.dst = ([n for n in dst if n[2] == 4], [n for n in dst if n[2] == 16])
        kr = rule.kr
        f.dport = ntohs(kr.dst.port[0]) if kr.dst.port_op == C.PF_OP_EQ else 0
        k = self.sim.kifs.get(rule.ifname)
        f.kif = rule.ifname if kr.rule_flag & C.PFRULE_IFBOUND and k is not None and not k.is_group else "all"
        f.rdr = bytes(kr.rdr.addr.v.a.addr) if kr.rdr.addr.type == C.PF_ADDR_ADDRMASK else None
        f.rdr_port = kr.rdr.proxy_port[0]
        f.nat = bytes(kr.nat.addr.v.a.addr) if kr.nat.addr.type == C.PF_ADDR_ADDRMASK else None
        f.log = 1 if rule.log else 0
        return f

    def _host(self, nets: list[Net], af: int) -> bytes:
        """A host address inside one of *nets* (all of family *af*), or a public one."""
        r = self.rng
        if nets:
            base, size, n = nets[int(r.random() * len(nets))]
            off = 1 + int(r.random() * (min(size, 1 << 16) - 2)) if size > 2 else 0
            return (base + off).to_bytes(n, "big").ljust(16, b"\0")
        if af == C.AF_INET6:
            return bytes([0x20, 0x01, 0x0d, 0xb8]) + r.randbytes(12)
        return bytes([_PUBLIC[int(r.random() * len(_PUBLIC))]]) + r.randbytes(3) + bytes(12)

    def make(self, age: int | None = None) -> SimState | None:
        if not self.flows:
            return None
        r = self.rng
        f = self.flows[bisect.bisect(self.cum, r.random() * self.cum[-1])] if len(self.flows) > 1 else self.flows[0]
        rule = f.rule
        af = f.af or (C.AF_INET6 if r.random() < 0.1 else C.AF_INET)
        proto = f.proto or r.choices((C.IPPROTO_TCP, C.IPPROTO_UDP, C.IPPROTO_ICMP), (70, 25, 5))[0]
        if af == C.AF_INET6 and proto == C.IPPROTO_ICMP:
            proto = C.IPPROTO_ICMPV6
        if af == C.AF_INET and proto == C.IPPROTO_ICMPV6:
            proto = C.IPPROTO_ICMP
        direction = f.direction
        fi = 0 if af == C.AF_INET else 1
        inside = self.lan.get(rule.ifname) if af == C.AF_INET else None
        src_nets = f.src[fi] or ([inside] if inside and direction == C.PF_IN else [])
        client, server = self._host(src_nets, af), self._host(f.dst[fi], af)
        dport = f.dport or r.choice(self.COMMON_PORTS)
        sport = r.randrange(1024, 65536)
        if proto in (C.IPPROTO_ICMP, C.IPPROTO_ICMPV6):
            sport, dport = r.randrange(1, 65536), 0
        if direction == C.PF_IN:
            wire = ((client, sport), (server, dport))
            stack = wire
            if f.rdr is not None:
                stack = ((client, sport), (f.rdr, f.rdr_port or dport))
        else:
            stack = ((server, dport), (client, sport))
            wire = stack
            if f.nat is not None and af == C.AF_INET:
                wire = ((server, dport), (f.nat, r.randrange(50000, 65536)))
        if proto == C.IPPROTO_TCP:
            roll = r.random()
            if roll < 0.9:
                peers, timeout = (TCPS_ESTABLISHED, TCPS_ESTABLISHED), C.PFTM_TCP_ESTABLISHED
            elif roll < 0.95:
                peers, timeout = (TCPS_SYN_SENT, 0), C.PFTM_TCP_OPENING
            else:
                peers, timeout = (TCPS_FIN_WAIT_2, TCPS_TIME_WAIT), C.PFTM_TCP_CLOSING
        elif proto == C.IPPROTO_UDP:
            peers, timeout = (C.PFUDPS_MULTIPLE, C.PFUDPS_MULTIPLE), C.PFTM_UDP_MULTIPLE
        elif proto in (C.IPPROTO_ICMP, C.IPPROTO_ICMPV6):
            peers, timeout = (0, 0), C.PFTM_ICMP_ERROR_REPLY
        else:
            peers, timeout = (C.PFOTHERS_MULTIPLE, C.PFOTHERS_MULTIPLE), C.PFTM_OTHER_MULTIPLE
        st = self.sim.new_state(
            rule, f.kif, af, proto, direction, wire, stack, peers=peers, timeout=timeout,
            rate=r.uniform(0.05, 30), bpp=r.uniform(80, 1200), age=r.randrange(0, 3600) if age is None else age,
            lifetime=r.expovariate(1 / 600.0) + 5, log=f.log, anchor=f.anchor,
        )
        return st

    def fill(self, n: int) -> None:
        for _ in range(n):
            self.make()


_PUBLIC = (23, 31, 52, 104, 142, 151, 172, 185, 198)


def _net(text: str) -> Net:
    n = ipaddress.ip_network(text, strict=False)
    return (int(n.network_address), n.num_addresses, 4 if n.version == 4 else 16)


def _state_count(sim: Simulator, default: int, fill: float | None) -> int:
    if fill is None:
        return default
    return int(round(fill * sim.limits[C.PF_LIMIT_STATES]))


# --- scenarios ----------------------------------------------------------------------------

def build_empty(sim: Simulator, state_fill: float | None) -> None:
    ld = Loader(sim)
    ld.iface("lo0", ("lo",), ("127.0.0.1/8",), ("::1/128", "fe80::1/64"))
    ld.iface("em0", ("egress",), ("198.51.100.7/24",), traffic=0.0)
    ld.skip("lo")
    ld.begin("")
    ld.commit()
    ld.start()
    n = _state_count(sim, 0, state_fill)
    if n:
        ld.begin("")
        ld.rule("", "pass", label="")
        ld.commit()
        ld.rates()
        maker = StateMaker(sim, {"em0": "198.51.100.0/24"})
        maker.fill(n)
        sim.state_target = n
        sim.state_spawner = lambda s: maker.make(age=0)


def build_small(sim: Simulator, state_fill: float | None) -> None:
    ld = Loader(sim)
    ld.iface("em0", ("egress",), ("203.0.113.2/24",), ("2001:db8:0:1::2/64",), traffic=900)
    ld.iface("em1", (), ("192.168.1.1/24",), ("fd00:1::1/64",), traffic=700)
    ld.iface("em2", (), ("192.168.2.1/24",), traffic=120)
    ld.iface("vlan10", ("vlan",), ("10.10.0.1/24",), traffic=150)
    ld.iface("vlan20", ("vlan",), ("10.20.0.1/24",), traffic=60)
    ld.iface("wg0", ("wg",), ("10.99.0.1/24",), traffic=40)
    ld.iface("lo0", ("lo",), ("127.0.0.1/8",), ("::1/128", "fe80::1/64"), traffic=5)
    ld.iface("pflog0", ("pflog",))
    ld.iface("enc0", ("enc",))
    ld.skip("lo")
    anchors = ("", "relayd", "relayd/web", "ftp-proxy", "ftp-proxy/21345.1", "office", "office/guests")
    ld.begin(*anchors)
    P, CONST = C.PFR_TFLAG_PERSIST, C.PFR_TFLAG_CONST
    ld.table("", "bruteforce", ["198.51.100.23", "203.0.113.77", "192.0.2.144", "185.220.101.4",
                                "45.155.205.233", "2001:db8:bad::1"], P | C.PFR_TFLAG_COUNTERS)
    ld.table("", "spamd", [f"192.0.2.{i}" for i in range(10, 34)] + ["198.51.100.0/28"], P)
    ld.table("", "private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"], CONST)
    ld.table("", "martians", ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "192.0.2.0/24", "198.18.0.0/15",
                              "224.0.0.0/3", "::/128", "fe80::/10"], CONST)
    ld.table("", "admins", ["192.168.1.10", "192.168.1.11", "10.99.0.2"], P)
    ld.table("office/guests", "guests", ["10.20.0.0/24", "!10.20.0.1"], P)
    ld.queue("rootq", "em0", bandwidth=100_000_000, max=100_000_000, qlimit=100, root_class=True)
    ld.queue("std", "em0", "rootq", bandwidth=60_000_000, flows=1024, qlimit=1024, default=True)
    ld.queue("ssh", "em0", "rootq", bandwidth=10_000_000, min=5_000_000)
    ld.queue("voip", "em0", "rootq", bandwidth=20_000_000, min=10_000_000, qlimit=30)
    ld.queue("bulk", "em0", "rootq", bandwidth=10_000_000, max=50_000_000)
    ld.queue("lanq", "em1", bandwidth=1_000_000_000, flows=1024, qlimit=1024, default=True)
    ld.statelim(1, "web", 2000, (200, 10))
    ld.statelim(2, "ssh", 64)
    ld.sourcelim(1, "clients", 10000, 128, rate_limit=50, rate_seconds=1, overload_table="bruteforce",
                 overload_hwm=100, overload_lwm=80, inet_prefix=32, inet6_prefix=64)
    R = ld.rule
    R("", "match", "in", label="scrub", scrub_max_mss=1440, keep_state=False)
    R("", "block", log=True, label="default-deny")
    R("", "block", "in", quick=True, on="egress", src="<martians>", label="martians")
    R("", "block", "in", quick=True, src="<bruteforce>", label="bruteforce")
    R("", "block", "in", quick=True, log=True, on="egress", af="inet6", src="fd00::/8", label="ula-spoof")
    R("", "match", "out", on="egress", af="inet", src="!<private>", nat_to=None, label="egress-tag", tag="EGRESS",
      keep_state=False)
    R("", "pass", "out", quick=True, on="egress", af="inet", src="192.168.0.0/16", nat_to="203.0.113.2",
      label="nat-lan", queue="std")
    R("", "pass", "out", quick=True, on="egress", af="inet", src="10.0.0.0/8", nat_to="203.0.113.2",
      label="nat-office")
    R("", "pass", "out", quick=True, on="egress", label="egress-out")
    R("", "pass", "in", on="egress", af="inet", proto="tcp", dst="203.0.113.2", dport=22, label="ssh-in",
      max_src_conn=10, overload="bruteforce", queue="ssh", sourcelim=1)
    R("", "pass", "in", on="egress", af="inet", proto="tcp", dst="203.0.113.2", dport=80,
      rdr_to="192.168.2.10", label="web-in", statelim=1)
    R("", "pass", "in", on="egress", af="inet", proto="tcp", dst="203.0.113.2", dport=443,
      rdr_to="192.168.2.10", label="web-in", statelim=1)
    R("", "pass", "in", on="egress", af="inet6", proto="tcp", dst="2001:db8:0:1::80", dport=(80, 443),
      label="web6-in")
    R("", "pass", "in", on="egress", proto="udp", dport=51820, label="wireguard")
    R("", "pass", "in", on="egress", af="inet", proto="icmp", label="ping")
    R("", "pass", "in", on="egress", af="inet6", proto="icmp6", label="icmp6")
    R("", "pass", "in", on="egress", af="inet", proto="tcp", src="<spamd>", dport=25, rdr_to="127.0.0.1",
      rdr_port=8025, label="spamd")
    R("", "pass", "in", on="egress", af="inet", proto="udp", dport=(33434, 33534), label="traceroute",
      log=True)
    R("", "pass", "in", on="em1", af="inet", src="192.168.1.0/24", label="lan-in")
    R("", "pass", "in", on="em1", af="inet6", label="lan6-in")
    R("", "pass", "in", quick=True, on="em1", af="inet", proto="tcp", src="<admins>", dst="192.168.1.1", dport=22,
      label="admin-ssh", queue="ssh")
    R("", "block", "in", quick=True, log=True, on="em1", proto="tcp", dport=23, label="telnet", return_rst=True)
    R("", "pass", "in", on="em2", af="inet", src="192.168.2.0/24", dst="!<private>", label="dmz-out")
    R("", "block", "in", on="em2", dst="<private>", label="dmz-isolate")
    R("", "pass", "in", on="em2", af="inet", proto="udp", dst="192.168.1.1", dport=53, label="dmz-dns")
    R("", "pass", "in", on="wg0", af="inet", src="10.99.0.0/24", label="wg-in", if_bound=True)
    R("", "anchor", call="relayd/*")
    R("", "anchor", call="ftp-proxy/*")
    R("", "anchor", "in", on="vlan", call="office")
    R("", "pass", "out", on="em1", label="lan-out")
    R("", "pass", "out", on="em2", label="dmz-out-to")
    R("", "pass", "out", on="vlan", label="vlan-out")
    R("", "pass", "out", on="wg0", label="wg-out", if_bound=True)
    R("", "pass", "out", quick=True, af="inet6", proto="icmp6", label="icmp6-out")
    R("relayd/web", "pass", "in", quick=True, on="egress", af="inet", proto="tcp", dst="203.0.113.2", dport=8443,
      rdr_to="192.168.2.11", rdr_port=443, label="relayd-web")
    R("relayd/web", "pass", "out", quick=True, on="em2", af="inet", proto="tcp", dst="192.168.2.11", dport=443,
      label="relayd-web-out")
    R("ftp-proxy/21345.1", "pass", "in", quick=True, on="em1", af="inet", proto="tcp", src="192.168.1.20",
      dst="198.51.100.80", dport=(49152, 49200))
    R("ftp-proxy/21345.1", "pass", "out", quick=True, on="egress", af="inet", proto="tcp", src="203.0.113.2",
      dst="198.51.100.80", dport=(49152, 49200), nat_to="203.0.113.2")
    R("office", "pass", "in", on="vlan10", af="inet", src="10.10.0.0/24", label="office-in")
    R("office", "pass", "in", quick=True, on="vlan10", af="inet", proto="tcp", src="10.10.0.0/24",
      dst="192.168.2.10", dport=445, label="office-files")
    R("office", "anchor", "in", on="vlan20", call="guests")
    R("office/guests", "pass", "in", on="vlan20", af="inet", src="<guests>", dst="!<private>",
      label="guests-internet", if_bound=True)
    R("office/guests", "pass", "in", quick=True, on="vlan20", af="inet", proto="udp", src="<guests>",
      dst="10.20.0.1", dport=53, label="guests-dns")
    R("office/guests", "block", "in", quick=True, log=True, on="vlan20", dst="<private>", label="guests-isolate")
    ld.commit(limits={C.PF_LIMIT_STATES: 10000}, timeouts={C.PFTM_TCP_ESTABLISHED: 7200},
              loginterface="em0")
    ld.rates()
    ld.start()
    lan = {"em1": "192.168.1.0/24", "em2": "192.168.2.0/24", "vlan10": "10.10.0.0/24", "vlan20": "10.20.0.0/24",
           "wg0": "10.99.0.0/24", "egress": None}
    maker = StateMaker(sim, {k: v for k, v in lan.items() if v})
    n = _state_count(sim, 340, state_fill)
    maker.fill(n)
    sim.state_target = n
    sim.state_spawner = lambda s: maker.make(age=0)
    _limiter_usage(sim)


def build_large(sim: Simulator, state_fill: float | None) -> None:
    ld = Loader(sim)
    rng = sim.rng
    for i in range(4):
        ld.iface(f"em{i}", ("egress",) if i == 0 else (), (f"198.51.{100 + i}.1/24",), traffic=3000)
    ld.iface("lo0", ("lo",), ("127.0.0.1/8",), ("::1/128", "fe80::1/64"))
    ld.iface("pflog0", ("pflog",))
    ld.iface("enc0", ("enc",))
    vlans = [f"vlan{100 + i}" for i in range(193)]
    for i, v in enumerate(vlans):
        ld.iface(v, ("vlan",), (f"10.{i // 250}.{i % 250}.1/24",), traffic=rng.uniform(5, 200))
    ld.skip("lo")
    children = [f"hosting/c{i:02d}" for i in range(49)]
    ld.begin("", "hosting", *children)
    table_names = ("web", "db", "mail", "dns", "admins", "monitor", "backup", "blocked", "partners", "vpn")

    def addrs(base: int, n: int = 20) -> list[str]:
        return [f"172.{16 + base // 256}.{base % 256}.{j + 1}" for j in range(n)]

    for j, name in enumerate(table_names):
        ld.table("", name, addrs(j), C.PFR_TFLAG_PERSIST | (C.PFR_TFLAG_COUNTERS if j % 3 == 0 else 0))
    for c, child in enumerate(children):
        for j, name in enumerate(table_names):
            ld.table(child, name, addrs(10 + c * 10 + j), C.PFR_TFLAG_PERSIST)
    for e in range(4):
        ld.queue(f"root{e}", f"em{e}", bandwidth=1_000_000_000, max=1_000_000_000, qlimit=100, root_class=True)
        for q in range(15):
            ld.queue(f"q{e}_{q:02d}", f"em{e}", f"root{e}", bandwidth=60_000_000, min=1_000_000 * (q % 4),
                     flows=1024 if q == 0 else 0, default=q == 0, qlimit=200)
    ld.statelim(1, "tenants", 50000, (5000, 1))
    ld.sourcelim(1, "per-client", 100000, 256, inet_prefix=32, inet6_prefix=64)
    labels = [f"svc{n:04d}" for n in range(1000)]
    ports = (22, 25, 53, 80, 123, 443, 587, 993, 3306, 5432, 8080, 8443)
    label_i = 0
    # main: 199 filter rules and the call into hosting/*
    R = ld.rule
    R("", "block", log=True, label=labels[0])
    for k in range(198):
        label = labels[(label_i := label_i + 1) // 10]
        R("", "pass", "in" if k % 2 else "out", on=f"em{k % 4}", af="inet", proto="tcp" if k % 3 else "udp",
          dst=f"<{table_names[k % 10]}>", dport=ports[k % len(ports)], label=label, queue=f"q{k % 4}_{k % 15:02d}")
    R("", "anchor", "in", call="hosting/*", label=labels[0])
    for c, child in enumerate(children):
        v = vlans[c * 3 % len(vlans)]
        for k in range(200):
            label_i += 1
            label = labels[min(label_i // 10, 999)]
            if k == 0:
                R(child, "block", "in", on=v, log=True, label=label)
                continue
            R(child, "pass", "in" if k % 4 else "out", quick=k % 7 == 0, on=vlans[(c * 3 + k) % len(vlans)],
              af="inet", proto=("tcp", "udp", "tcp", "icmp")[k % 4], src="10.0.0.0/8",
              dst=f"<{table_names[k % 10]}>", dport=None if k % 4 == 3 else ports[k % len(ports)], label=label,
              max_states=5000 if k % 50 == 0 else 0, statelim=1 if k % 97 == 0 else 0)
    ld.commit(limits={C.PF_LIMIT_STATES: 200000, C.PF_LIMIT_TABLES: 5000, C.PF_LIMIT_SRC_NODES: 50000},
              loginterface="egress")
    ld.rates()
    ld.start()
    lan = {v: f"10.{i // 250}.{i % 250}.0/24" for i, v in enumerate(vlans)}
    maker = StateMaker(sim, lan)
    n = _state_count(sim, 100_000, state_fill)
    maker.fill(n)
    sim.state_target = n
    sim.state_spawner = lambda s: maker.make(age=0)
    _limiter_usage(sim)


def _limiter_usage(sim: Simulator) -> None:
    """Limiters account the states of the rules that use them."""
    if not sim.abi.has_limiters:
        return
    use: dict[int, int] = {}
    for st in sim.states.values():
        if st.rule is not None and st.rule.kr.statelim.id:
            use[st.rule.kr.statelim.id] = use.get(st.rule.kr.statelim.id, 0) + 1
    for lim in sim.statelims.values():
        lim.inuse = use.get(lim.id, 0)
        lim.admitted = float(lim.inuse * 40)
        lim.hardlimited = float(lim.inuse // 20)
    for slim in sim.sourcelims.values():
        slim.sources = {}
        for st in sim.states.values():
            if st.rule is not None and st.rule.kr.sourcelim.id == slim.id:
                key = source_key(st.af, st.rdomain, st.src, slim.inet_prefix, slim.inet6_prefix)
                e = slim.sources.setdefault(key, [0, 0, 0, 0])
                e[0] += 1
                e[1] += 25
        if not slim.sources:  # a few clients seen earlier that have no state now
            for i in range(3):
                addr = bytes([198, 51, 100, 20 + i]) + bytes(12)
                slim.sources[(C.AF_INET, 0, addr)] = [0, 40 + i, i, 0]
        slim.nsources = len(slim.sources)
        slim.inuse = sum(e[0] for e in slim.sources.values())
        slim.addrallocs = float(slim.nsources * 3)
        slim.admitted = float(sum(e[1] for e in slim.sources.values()))



def _ha(role: str) -> Callable[[Simulator, float | None], None]:
    """The small firewall as one member of a CARP/pfsync pair (simulator/net.py)."""
    def build(sim: Simulator, state_fill: float | None) -> None:
        from .net import build_ha

        build_small(sim, state_fill)
        build_ha(sim.net, role)

    return build


SCENARIOS: dict[str, Callable[[Simulator, float | None], None]] = {
    "empty": build_empty,
    "small": build_small,
    "large": build_large,
    "ha-master": _ha("master"),
    "ha-backup": _ha("backup"),
    "ha-splitbrain": _ha("splitbrain"),
}
