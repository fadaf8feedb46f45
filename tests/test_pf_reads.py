"""The pf library's reads against the simulator, for every supported release: what it decodes
equals what the simulator holds; rule walks never leak tickets; a ruleset changing under a walk
is retried, then reported; variable-size reads grow their buffers as the kernel asks."""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import struct
from types import MappingProxyType

import pytest
from conftest import RELEASES

from pf_exporter.abi import constants as C
from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter, PfBusy, PfError
from pf_exporter.pf import types as model
from pf_exporter.simulator import Simulator, SimulatorUnsupported

ACTIONS = {C.PF_PASS: "pass", C.PF_DROP: "block", C.PF_MATCH: "match", C.PF_SCRUB: "scrub", C.PF_NAT: "nat",
           C.PF_RDR: "rdr", C.PF_BINAT: "binat"}
FLAGS = {C.PFR_TFLAG_PERSIST: "persist", C.PFR_TFLAG_CONST: "const", C.PFR_TFLAG_COUNTERS: "counters",
         C.PFR_TFLAG_ACTIVE: "active", C.PFR_TFLAG_INACTIVE: "inactive", C.PFR_TFLAG_REFERENCED: "referenced",
         C.PFR_TFLAG_REFDANCHOR: "refdanchor"}
FAM = {0: "", C.AF_INET: "inet", C.AF_INET6: "inet6"}


# --- what the simulator holds, as model values (computed from its objects, not its structs) ---------

def expected_status(sim: Simulator) -> model.Status:
    kif = sim.kifs.get(sim.status_ifname)
    members = [] if kif is None else [m for m in sim.kif_members(kif) if m.has_ifp]
    pk, by = {}, {}
    for af, fam in enumerate(("inet", "inet6")):
        for d, dirname in enumerate(("in", "out")):
            for a, act in enumerate(("pass", "block")):
                pk[(fam, dirname, act)] = sum(int(m.packets[af * 4 + d * 2 + a]) for m in members)
            by[(fam, dirname)] = sum(int(m.bytes[af * 4 + d * 2 + a]) for m in members for a in range(2))
    up = sim.clock.uptime()
    return model.Status(
        running=sim.running, since=sim.since, enabled_seconds=up - sim.since if sim.running else 0,
        changed=sim.clock.now() - (up - sim.since),
        states=len(sim.states), states_halfopen=sim.states_halfopen, src_nodes=len(sim.src_nodes),
        fragments=sim.fragments,
        debug=sim.debug, hostid=sim.hostid, reass=sim.reass, stateid=sim.stateid,
        syncookies_active=sim.syncookies_active, syncookies_mode="never", syncookies_inflight=(0, 0),
        loginterface=sim.status_ifname, checksum=sim.chksum.hex(),
        counters={n: int(v) for n, v in zip(C.PFRES_NAMES, sim.counters, strict=True)},
        limit_counters={n: int(v) for n, v in zip(C.LCNT_NAMES, sim.lcounters, strict=True)},
        state_operations={n: int(v) for n, v in zip(C.FCNT_NAMES, sim.fcounters, strict=True)},
        src_node_operations={n: int(v) for n, v in zip(C.FCNT_NAMES, sim.scounters, strict=True)},
        fragment_operations={n: int(v) for n, v in zip(C.FCNT_NAMES, sim.ncounters, strict=True)},
        loginterface_packets=pk, loginterface_bytes=by)


def expected_interfaces(sim: Simulator) -> list[model.Interface]:
    out = []
    for k in sim.ordered_kifs():
        keys = [(fam, d, a) for fam in ("inet", "inet6") for d in ("in", "out") for a in ("pass", "block")]
        out.append(model.Interface(
            name=k.name, is_group=k.is_group, skip=bool(k.flags & C.PFI_IFLAG_SKIP),
            packets={key: int(v) for key, v in zip(keys, k.packets, strict=True)},
            bytes={key: int(v) for key, v in zip(keys, k.bytes, strict=True)}, cleared=k.tzero, states=k.states,
            rules=k.rules, routes=k.routes, src_nodes=k.srcnodes))
    return out


def expected_tables(sim: Simulator) -> list[model.Table]:
    out = []
    for kt in sim.tables.ordered():
        if not kt.active:
            continue
        keys = [(d, a) for d in ("in", "out") for a in model.TABLE_ACTIONS]
        out.append(model.Table(
            anchor=kt.anchor, name=kt.name, flags=frozenset(n for b, n in FLAGS.items() if kt.flags & b),
            addresses=len(kt.entries), packets={k: int(v) for k, v in zip(keys, kt.packets, strict=True)},
            bytes={k: int(v) for k, v in zip(keys, kt.bytes, strict=True)}, matches=int(kt.match),
            nomatches=int(kt.nomatch), cleared=kt.tzero, rule_references=kt.refcnt[0],
            anchor_references=kt.refcnt[1]))
    return out


def expected_rulesets(sim: Simulator) -> list[model.Ruleset]:
    out = []
    for rs in sim.all_rulesets():
        rules = []
        for r in rs.active:
            call = sim.anchor_call_string(rs, r)
            kr = r.kr
            rules.append(model.RuleCounters(
                anchor=rs.path, number=r.nr, action="anchor" if call else ACTIONS[r.action],
                direction={0: "", 1: "in", 2: "out"}[r.direction], quick=bool(r.quick), log=bool(r.log),
                interface=("!" if kr.ifnot else "") + r.ifname, family=FAM[r.af], protocol=r.proto,
                label=r.label, anchor_call=call, evaluations=int(r.evaluations), packets_in=int(r.packets[0]),
                packets_out=int(r.packets[1]), bytes_in=int(r.bytes[0]), bytes_out=int(r.bytes[1]),
                states_current=r.states_cur, states_total=r.states_tot, src_nodes=r.src_nodes,
                max_states=kr.max_states))
        out.append(model.Ruleset(rs.path, tuple(rules)))
    return out


def expected_queues(sim: Simulator) -> list[model.Queue]:
    out = []
    for q in sim.queues:
        s = q.spec
        out.append(model.Queue(
            interface=q.ifname, name=q.qname, parent=q.parent, bandwidth=s.linkshare.m2.absolute,
            min_bandwidth=s.realtime.m2.absolute, max_bandwidth=s.upperlimit.m2.absolute, flags=q.flags,
            qlimit=q.qlimit, flowqueue=bool(q.flags & 1),
            stats=model.QueueStats(int(q.xmit_packets), int(q.xmit_bytes), int(q.drop_packets), int(q.drop_bytes),
                                   q.qlength, q.qlimit),
            flow_stats=model.FlowQueueStats(q.flows, s.flowqueue.target, s.flowqueue.interval, q.delaysum,
                                            q.delaysumsq) if q.fq_stats() else None))
    return out


def expected_limiters(sim: Simulator) -> tuple[list[model.StateLimiter], list[model.SourceLimiter]]:
    st = [model.StateLimiter(s.id, s.name, "", s.limit, s.rate_limit, s.rate_seconds, s.inuse, int(s.admitted),
                             int(s.hardlimited), int(s.ratelimited)) for _, s in sorted(sim.statelims.items())]
    so = [model.SourceLimiter(
        s.id, s.name, "", s.entries, s.limit, s.rate_limit, s.rate_seconds, s.overload_table, s.overload_hwm,
        s.overload_lwm, s.inet_prefix, s.inet6_prefix, s.nsources, s.inuse, int(s.addrallocs), int(s.addrnomem),
        int(s.admitted), int(s.addrlimited), int(s.hardlimited), int(s.ratelimited))
        for _, s in sorted(sim.sourcelims.items())]
    return st, so


def decode_states_independently(sim: Simulator) -> list[model.State]:
    """A second decoder, attribute by attribute through the ABI layer's ctypes struct."""
    L = sim.layout
    esize = ctypes.sizeof(L.pfsync_state)
    ps = L.pfioc_states(ps_len=esize * len(sim.states))
    buf = (ctypes.c_char * ps.ps_len)()
    ps.ps_u.psu_buf = ctypes.addressof(buf)
    fd = sim.open(False)
    fd.ioctl(sim.abi.request("DIOCGETSTATES").number, ps)
    fd.close()

    def n32(v):
        return struct.unpack(">I", struct.pack("<I", v))[0]

    def n16(v):
        return struct.unpack(">H", struct.pack("<H", v))[0]

    out = []
    for i in range(ps.ps_len // esize):
        s = L.pfsync_state.from_buffer_copy(buf, i * esize)
        n = 16 if s.af == C.AF_INET6 else 4

        def key(k, n=n):
            addrs = tuple(ipaddress.ip_address(bytes(k.addr[j])[:n]) for j in range(2))
            return model.StateKey(FAM[k.af], addrs, (n16(k.port[0]), n16(k.port[1])))

        wire, stack = key(s.key[0]), key(s.key[1])
        if s.direction == C.PF_OUT:  # pfctl -k: the stack key's addr[1] is the source going out
            src, dst = model.Endpoint(stack.addresses[1], stack.ports[1]), model.Endpoint(stack.addresses[0],
                                                                                         stack.ports[0])
        else:
            src, dst = model.Endpoint(wire.addresses[0], wire.ports[0]), model.Endpoint(wire.addresses[1],
                                                                                       wire.ports[1])
        rule, anchor = n32(s.rule), n32(s.anchor)
        out.append(model.State(
            id=struct.unpack(">Q", struct.pack("<Q", s.id))[0], creator_id=n32(s.creatorid),
            interface=s.ifname.decode(), family=FAM[s.af], protocol=s.proto,
            direction={1: "in", 2: "out"}[s.direction], wire=wire, stack=stack, source=src, destination=dst,
            src_state=s.src.state, dst_state=s.dst.state,
            packets=tuple(n32(s.packets[d][0]) << 32 | n32(s.packets[d][1]) for d in range(2)),
            bytes=tuple(n32(s.bytes[d][0]) << 32 | n32(s.bytes[d][1]) for d in range(2)),
            rule=None if rule == 0xFFFFFFFF else rule, anchor_rule=None if anchor == 0xFFFFFFFF else anchor,
            creation=n32(s.creation), expire=n32(s.expire), timeout=s.timeout))
    return out


# --- the matrix ---------------------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_pf_decodes_exactly_what_the_simulator_holds(release, sim_device):
    dev = sim_device(release=release, scenario="small", seed=3)
    sim = dev.transport.sim
    sim.advance(17)
    r = PacketFilter.from_device(dev)
    assert r.status() == expected_status(sim)
    assert r.limits() == dict(zip(C.LIMIT_NAMES, sim.limits, strict=True))
    assert r.timeouts() == {name: sim.timeouts[i] for i, name in C.TIMEOUT_NAMES.items()}
    got_ifaces = r.interfaces()
    assert got_ifaces == expected_interfaces(sim)
    assert r.tables() == expected_tables(sim)
    assert list(r.iter_rulesets()) == expected_rulesets(sim)
    assert r.anchors() == [rs.path for rs in sim.all_rulesets()][1:]
    assert r.queues() == expected_queues(sim)
    assert (r.state_limiters(), r.source_limiters()) == expected_limiters(sim)
    if release in ("7.6", "7.7", "7.8"):
        assert r.state_limiters() == [] and r.source_limiters() == []
    else:
        assert [s.name for s in r.state_limiters()] == ["web", "ssh"]
    states = list(r.states())
    assert states == decode_states_independently(sim)
    assert {s.id for s in states} == set(sim.states)
    assert sim.open_tickets() == 0


def test_rules_carry_the_counters_and_details_pfctl_shows(pf, sim):
    rules = {r.label: r for r in pf.rule_counters("") if r.label}
    ssh = rules["ssh-in"]
    assert (ssh.action, ssh.direction, ssh.interface, ssh.family, ssh.protocol) == ("pass", "in", "egress", "inet", 6)
    assert rules["telnet"].action == "block" and rules["telnet"].quick and rules["telnet"].log
    calls = [r for r in pf.rule_counters("") if r.action == "anchor"]
    assert [c.anchor_call for c in calls] == ["relayd/*", "ftp-proxy/*", "office"]
    web = [r for r in pf.rule_counters("") if r.label == "web-in"]
    assert len(web) == 2 and sum(r.states_current for r in web) == sum(
        1 for s in sim.states.values() if s.rule.label == "web-in")


def test_table_addresses_with_and_without_stats(pf):
    guests = pf.table_addresses("guests", "office/guests")
    assert [str(a) for a in guests] == ["10.20.0.0/24", "!10.20.0.1"]
    plain = pf.table_addresses("martians", counters=False)
    assert "fe80::/10" in {str(a) for a in plain} and all(a.packets == {} for a in plain)
    bf = pf.table_addresses("bruteforce")
    assert all(set(a.packets) == {(d, x) for d in ("in", "out") for x in ("block", "match", "pass")} for a in bf)
    assert sum(a.packets[("in", "pass")] for a in bf) > 0


def test_status_times_come_from_the_simulated_clock(sim, pf):
    st = pf.status()
    assert st.enabled_seconds == sim.clock.uptime() - 31
    sim.advance(100)
    assert pf.status().enabled_seconds == st.enabled_seconds + 100
    sim.running = False
    assert pf.status().enabled_seconds == 0


def test_rulesets_stream_one_at_a_time_and_skip_anchors_removed_since_the_tree_was_read(sim, pf, device):
    assert list(pf.iter_rulesets()) == expected_rulesets(sim)
    anchors = pf.anchors()
    got = list(pf.iter_rulesets(["gone/meanwhile", *anchors]))
    assert got == expected_rulesets(sim)  # the vanished anchor is left out, the others are all there
    assert sim.open_tickets() == 0
    with pytest.raises(PfError):  # any other failure of an anchor's walk still fails the walk
        sim.inject("DIOCGETRULE", errno.EIO, after=0)
        list(pf.iter_rulesets(anchors))


@pytest.mark.slow
def test_the_large_scenario_reads_whole(large_sim):
    sim = large_sim
    dev = Device(sim.abi, sim.open(False))
    r = PacketFilter.from_device(dev)
    rulesets = list(r.iter_rulesets())
    assert len(rulesets) == 51 and sum(len(rs.rules) for rs in rulesets) == 10_000
    assert len({ru.label for rs in rulesets for ru in rs.rules}) == 1000
    assert rulesets == expected_rulesets(sim)
    assert len(r.tables()) == 500
    assert len([i for i in r.interfaces() if not i.is_group]) == 200
    assert len(r.queues()) == 64
    assert r.state_count() == len(sim.states) == 100_000
    assert sum(1 for _ in r.states(limit=1000)) == 1000
    assert sim.open_tickets() == 0
    dev.close()


# --- tickets, retries ---------------------------------------------------------------------------

def test_no_ticket_leaks_after_a_thousand_walks_including_failing_ones(sim, device):
    r = PacketFilter.from_device(device)
    failures = 0
    for i in range(1000):
        if i % 10 == 3:
            sim.inject("DIOCGETRULE", errno.EIO, after=i % 7)
        if i % 50 == 7:
            sim.inject("DIOCGETRULESET", errno.EIO, after=i % 3)
        try:
            if i % 25 == 0:
                list(r.iter_rulesets())
            else:
                r.rule_counters("office/guests" if i % 2 else "")
        except PfError as e:
            assert e.errno == errno.EIO
            failures += 1
        assert device.transport.open_tickets == 0
    assert failures >= 100
    assert sim.open_tickets() == 0


def test_a_ruleset_change_mid_walk_is_retried(sim, pf):
    before = sim.calls.get("DIOCGETRULES", 0)
    sim.change_ruleset_during_walk("", after=5)
    rules = pf.rule_counters("")
    assert len(rules) == len(sim.main.active)
    assert sim.calls["DIOCGETRULES"] - before == 2  # one failed walk, one good one
    assert sim.open_tickets() == 0


def test_a_ruleset_that_keeps_changing_is_reported_after_the_retries(sim, device):
    r = PacketFilter.from_device(device)
    r.backend.retries = 2
    sim.change_ruleset_during_walk("office", after=1, times=None)
    with pytest.raises(PfBusy, match="kept changing"):
        r.rule_counters("office")
    assert sim.calls["DIOCGETRULES"] == 3
    assert sim.open_tickets() == 0
    sim.clear_faults()
    assert len(r.rule_counters("office")) == 3


def test_a_changing_anchor_tree_is_retried(sim, pf):
    sim.inject("DIOCGETRULESET", errno.EBUSY, after=2)
    assert pf.anchors() == [rs.path for rs in sim.all_rulesets()][1:]
    sim.hook("DIOCGETRULE", lambda s: s.touch_ruleset("relayd/web"), after=40)
    assert list(pf.iter_rulesets()) == expected_rulesets(sim)


def test_queue_set_changing_mid_walk_is_retried(sim, pf):
    sim.hook("DIOCGETQSTATS", lambda s: s.touch_ruleset(""), after=2)
    assert pf.queues() == expected_queues(sim)


# --- buffers grow as the kernel asks -------------------------------------------------------------

def test_small_interface_and_table_buffers_grow(sim, device):
    r = PacketFilter.from_device(device)
    r.backend._iface_hint = 1
    r.backend._table_hint = 1
    assert r.interfaces() == expected_interfaces(sim)
    assert r.tables() == expected_tables(sim)
    assert sim.calls["DIOCIGETIFACES"] >= 2 and sim.calls["DIOCRGETTSTATS"] == 2


def test_table_addresses_grow_past_the_first_guess(sim, wdevice, pf):
    L = sim.layout
    arr = (L.pfr_addr * 200)()
    for i, a in enumerate(arr):
        a.pfra_af = C.AF_INET
        ctypes.memmove(ctypes.addressof(a.pfra_u), bytes([100, 64, i // 250, i % 250 + 1]), 4)
        a.pfra_net = 32
    io = L.pfioc_table(pfrio_buffer=ctypes.addressof(arr), pfrio_esize=ctypes.sizeof(L.pfr_addr), pfrio_size=200)
    io.pfrio_table.pfrt_name = b"spamd"
    wdevice.ioctl("DIOCRADDADDRS", io)
    assert len(pf.table_addresses("spamd")) == 225


def test_states_born_between_the_size_question_and_the_read_are_not_lost(sim, pf):
    def burst(s):
        for _ in range(400):
            s.state_spawner(s)

    sim.hook("DIOCGETSTATES", burst, after=1)  # after the ps_len = 0 question
    states = list(pf.states())
    assert len(states) == len(sim.states) == 340 + 400
    assert sim.calls["DIOCGETSTATES"] == 3  # size, a full buffer, a bigger buffer


def test_states_can_be_bounded(sim, pf):
    first = list(pf.states(limit=5))
    assert [s.id for s in first] == list(sim.states)[:5]
    assert list(pf.states(limit=0)) == []
    empty = PacketFilter.simulated("empty")
    assert list(empty.states()) == [] and empty.state_count() == 0


# --- descriptors, privileges, architectures -----------------------------------------------------------

def test_reads_work_at_securelevel_2_but_each_walk_keeps_its_ticket(sim_device):
    """The kernel refuses DIOCXEND at securelevel > 1 (it is missing from pfioctl's list), so a
    descriptor collects one ticket per rule walk until it is closed."""
    dev = sim_device(securelevel=2)
    r = PacketFilter.from_device(dev)
    assert r.status().running
    assert len(r.rule_counters("")) == 34
    assert dev.transport.open_tickets == 1


def test_i386_reads_what_needs_no_buffer_pointer(sim_device):
    dev = sim_device(arch="i386", release="7.6")
    r = PacketFilter.from_device(dev)
    assert r.status().states == len(dev.transport.sim.states)
    assert r.limits()["states"] == 10000 and len(r.rule_counters("")) == 34
    with pytest.raises(SimulatorUnsupported):
        r.interfaces()


def test_no_ctypes_object_escapes(pf):
    snap = [pf.status(), pf.limits(), pf.timeouts(), pf.interfaces(), pf.tables(), list(pf.iter_rulesets()),
            pf.rules(), pf.rules("office"), pf.queues(), pf.state_limiters(), pf.source_limiters()]

    def walk(v, depth=0):
        assert not isinstance(v, ctypes._SimpleCData | ctypes.Structure | ctypes.Array | ctypes.Union), v
        if isinstance(v, tuple | list | frozenset | set):
            for x in v:
                walk(x, depth + 1)
        elif isinstance(v, dict | MappingProxyType):
            for k, x in v.items():
                walk(k, depth + 1)
                walk(x, depth + 1)
        elif hasattr(v, "__dataclass_fields__"):
            for f in v.__dataclass_fields__:
                walk(getattr(v, f), depth + 1)
        else:
            assert isinstance(v, int | str | bool | bytes | type(None) | ipaddress.IPv4Address | ipaddress.IPv6Address
                              | ipaddress.IPv4Network | ipaddress.IPv6Network), type(v)

    walk(snap)
    walk(list(pf.states(limit=50)))
    walk(pf.table_addresses("spamd"))


def test_a_full_ticket_table_is_reported_as_such_not_retried(sim_device):
    dev = sim_device(securelevel=2)
    r = PacketFilter.from_device(dev)
    for _ in range(512):
        r.rule_counters("office")
    calls = dev.transport.sim.calls["DIOCGETRULES"]
    with pytest.raises(PfBusy, match="512 rule tickets"):
        r.rule_counters("office")
    assert dev.transport.sim.calls["DIOCGETRULES"] == calls + 1


def _rule_via_ctypes(anchor: str, pr: ctypes.Structure) -> model.RuleCounters:
    """The rule decoded one ctypes attribute at a time: what the struct decoder must agree with."""
    from pf_exporter.pf._codec import ACTION_NAMES, DIRECTION_NAMES, FAMILY_NAMES

    def text(raw: bytes) -> str:
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    r = pr.rule
    call, ifname = text(pr.anchor_call), text(r.ifname)
    return model.RuleCounters(
        anchor=anchor, number=pr.nr, action="anchor" if call else ACTION_NAMES.get(r.action, str(r.action)),
        direction=DIRECTION_NAMES.get(r.direction, ""), quick=bool(r.quick), log=bool(r.log),
        interface=("!" + ifname if r.ifnot and ifname else ifname), family=FAMILY_NAMES.get(r.af, f"af{r.af}"),
        protocol=r.proto, label=text(r.label), anchor_call=call, evaluations=r.evaluations,
        packets_in=r.packets[0], packets_out=r.packets[1], bytes_in=r.bytes[0], bytes_out=r.bytes[1],
        states_current=r.states_cur, states_total=r.states_tot, src_nodes=r.src_nodes, max_states=r.max_states)


@pytest.mark.parametrize("arch", ["amd64", "arm64", "i386"])
@pytest.mark.parametrize("release", ["7.6", "7.7", "7.8", "7.9", "current"])
def test_the_rule_struct_decoder_agrees_with_ctypes_on_every_abi(release, arch) -> None:
    import random

    from pf_exporter.abi import select_abi
    from pf_exporter.pf._codec import RuleDecoder

    abi = select_abi(release, arch)
    decoder = RuleDecoder(abi.layout.pfioc_rule)
    rnd = random.Random(f"{release}/{arch}")
    for i in range(40):
        pr = abi.new("pfioc_rule", nr=rnd.randrange(2**32))
        raw = (ctypes.c_char * ctypes.sizeof(pr)).from_buffer(pr)
        raw[:] = bytes(rnd.randrange(256) for _ in range(len(raw)))  # every field, padding included
        if i % 2:
            pr.anchor_call = b""
            pr.rule.af = rnd.choice([0, C.AF_INET, C.AF_INET6, 99])
            pr.rule.action = rnd.choice([C.PF_PASS, C.PF_DROP, C.PF_MATCH, 200])
            pr.rule.direction = rnd.choice([C.PF_INOUT, C.PF_IN, C.PF_OUT, 7])
            pr.rule.label = b"web\xff\0junk"
            pr.rule.ifname = b"em0" if i % 4 == 1 else b""
        got = decoder.counters("a/b", pr)
        want = _rule_via_ctypes("a/b", pr)
        assert got == want
        assert type(got) is model.RuleCounters
        assert got._asdict() == want._asdict()
        with pytest.raises(AttributeError):
            got.label = "x"  # type: ignore[misc]


@pytest.mark.slow
def test_decoded_rule_names_are_shared_and_their_cache_is_bounded(large_sim):
    r = PacketFilter.from_device(Device(large_sim.abi, large_sim.open(False)))
    decoder = r.backend._rule_decoder
    decoder.TEXT_CACHE = 100  # fewer than the scenario's 1,000 labels
    rulesets = list(r.iter_rulesets())
    assert rulesets == expected_rulesets(large_sim)  # decoding is unchanged by the cache
    assert len(decoder._text) <= 100
    labels = [ru.label for rs in rulesets for ru in rs.rules if ru.label]
    assert len({id(x) for x in labels}) < len(labels)  # one str per label while it is cached


def test_syncookie_watermarks_are_the_kernels_and_follow_a_change(sim, pf):
    assert pf.syncookie_watermarks() == (C.PFSTATE_HIWAT * C.PF_SYNCOOKIES_HIWATPCT // 100,
                                             C.PFSTATE_HIWAT * C.PF_SYNCOOKIES_LOWATPCT // 100)
    sim.synflwats = (5000, 2500)  # what `set syncookies adaptive (start 25%, end 12.5%)` of 20,000 states sets
    assert pf.syncookie_watermarks() == (5000, 2500)


def test_small_scenario_reads_end_to_end(sim, device):
    r = PacketFilter.from_device(device)
    st = r.status()
    assert st.running and st.states == len(sim.states) and st.loginterface == "em0"
    assert len(r.limits()) == 7 and len(r.timeouts()) == 20
    assert {t.name for t in r.tables()} == {"admins", "bruteforce", "guests", "martians", "private", "spamd"}
    assert sum(len(rs.rules) for rs in r.iter_rulesets()) == 44
    assert len(list(r.states())) == len(sim.states)
    assert sim.open_tickets() == 0


def test_the_anchor_walk_is_depth_first_and_as_deep_as_pf_evaluates(pf):
    backend = pf.backend
    tree = {"": ["a", "b"], "a": ["x", "y"], "a/x": ["deep"]}
    backend.children = lambda path: tree.get(path, [])  # type: ignore[method-assign]  # the kernel's answers, stood in
    assert backend.anchors() == ["a", "a/x", "a/x/deep", "a/y", "b"]
    backend.children = lambda path: ["n"]  # type: ignore[method-assign]  # a chain without end
    chain = backend.anchors()
    assert len(chain) == C.PF_ANCHOR_STACK_MAX + 1 and chain[-1] == "/".join(["n"] * len(chain))


def test_buffer_sizes_come_in_few_buckets():
    from pf_exporter.abi import array, array_type, bucket

    sizes = [bucket(n) for n in range(1, 100_000)]
    assert all(n <= b <= n + n // 8 for n, b in zip(range(1, 100_000), sizes, strict=True))
    assert sizes == sorted(sizes) and len(set(sizes)) < 120  # about eight per power of two
    assert array_type(ctypes.c_char, 40) is array_type(ctypes.c_char, 40)
    assert bytes(array(ctypes.c_char, 40)) == bytes(40)
