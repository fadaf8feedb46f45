"""Source tracking (``struct pf_src_node``, net/pf.c pf_insert_src_node / pf_remove_src_node) and
the requests that read and remove it: DIOCGETSRCNODES, DIOCKILLSRCNODES, DIOCCLRSRCNODES.

A state created by a rule that tracks its sources (``max-src-nodes``, ``max-src-states``,
``max-src-conn``, ``source-track``) links to the node of its source address; a node whose last
state went away lives on for ``timeout src.track`` seconds (0: it goes at the next purge)."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from ..abi import array
from ..abi import constants as C
from .handlers import copyout, handles
from .ioctl_states import _match_addr

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .objects import SimRule, SimState
    from .transport import SimTransport

TRACKING = ("max_src_nodes", "max_src_states", "max_src_conn")


class SimSrcNode:
    """``struct pf_src_node``."""

    __slots__ = ("af", "addr", "raddr", "rule", "kif", "states", "conn", "creation", "expire", "packets", "bytes",
                 "type", "rate_limit", "rate_seconds")

    def __init__(self, af: int, addr: bytes, rule: SimRule | None, kif: str, now: int) -> None:
        self.af = af
        self.addr = addr
        self.raddr = bytes(16)
        self.rule = rule
        self.kif = kif
        self.states = 0
        self.conn = 0
        self.creation = now
        self.expire = 0
        self.packets = [0, 0]
        self.bytes = [0, 0]
        self.type = C.PF_SN_NONE
        self.rate_limit = 0
        self.rate_seconds = 0


def tracks_sources(rule: SimRule) -> bool:
    kr = rule.kr
    return bool(kr.rule_flag & (C.PFRULE_SRCTRACK | C.PFRULE_RULESRCTRACK)) or any(
        getattr(kr, name, 0) for name in TRACKING)


def attach(sim: Simulator, st: SimState) -> None:
    """pf_insert_src_node() + the state's link (pf_create_state): one node per (rule, source)."""
    rule = st.rule
    if rule is None or not tracks_sources(rule):
        return
    per_rule = bool(rule.kr.rule_flag & C.PFRULE_RULESRCTRACK) or any(getattr(rule.kr, n, 0) for n in TRACKING)
    key = (C.PF_SN_NONE, id(rule) if per_rule else 0, st.af, st.src)
    sim.scounters[C.SCNT_SRC_NODE_SEARCH] += 1
    sn = sim.src_nodes.get(key)
    if sn is None:
        sn = SimSrcNode(st.af, st.src, rule if per_rule else None, st.kif, sim.clock.uptime())
        if rule.kr.max_src_conn_rate.limit if hasattr(rule.kr, "max_src_conn_rate") else 0:
            sn.rate_limit = rule.kr.max_src_conn_rate.limit
            sn.rate_seconds = rule.kr.max_src_conn_rate.seconds
        sim.src_nodes[key] = sn
        sim.scounters[C.SCNT_SRC_NODE_INSERT] += 1
        rule.src_nodes += 1
    sn.states += 1
    if st.proto == C.IPPROTO_TCP:
        sn.conn += 1
    sim.state_src_nodes[st.id] = key


def detach(sim: Simulator, st: SimState) -> None:
    """A state goes (pf_src_tree_remove_state): its node's count drops; at zero it expires after
    ``timeout src.track``."""
    key = sim.state_src_nodes.pop(st.id, None)
    sn = sim.src_nodes.get(key) if key is not None else None
    if sn is None:
        return
    sn.states = max(0, sn.states - 1)
    if st.proto == C.IPPROTO_TCP:
        sn.conn = max(0, sn.conn - 1)
    if sn.states == 0:
        sn.expire = sim.clock.uptime() + sim.timeouts[C.PFTM_SRC_NODE]


def purge(sim: Simulator) -> None:
    """pf_purge_expired_src_nodes(): nodes without states whose expiry has passed."""
    now = sim.clock.uptime()
    for key, sn in list(sim.src_nodes.items()):
        if sn.states == 0 and sn.expire <= now:
            _remove(sim, key, sn)


def _remove(sim: Simulator, key: tuple, sn: SimSrcNode) -> None:
    del sim.src_nodes[key]
    sim.scounters[C.SCNT_SRC_NODE_REMOVALS] += 1
    if sn.rule is not None:
        sn.rule.src_nodes = max(0, sn.rule.src_nodes - 1)


def _unlink_all(sim: Simulator, doomed: set[tuple]) -> None:
    """The states of *doomed* nodes forget them (pf_src_tree_remove_state), the nodes go now."""
    for sid, key in list(sim.state_src_nodes.items()):
        if key in doomed:
            del sim.state_src_nodes[sid]
    for key in doomed:
        sn = sim.src_nodes.get(key)
        if sn is not None:
            _remove(sim, key, sn)


def _export(sim: Simulator, sn: SimSrcNode, out: ctypes.Structure, now: int) -> None:
    """DIOCGETSRCNODES's copy: pointers cleared, rule number, creation as an age, expire as seconds left."""
    ctypes.memmove(ctypes.addressof(out.addr), sn.addr, 16)
    ctypes.memmove(ctypes.addressof(out.raddr), sn.raddr, 16)
    out.rule.nr = sn.rule.nr if sn.rule is not None else 0xFFFFFFFF
    for d in range(2):
        out.packets[d] = sn.packets[d]
        out.bytes[d] = sn.bytes[d]
    out.states = sn.states
    out.conn = sn.conn
    out.conn_rate.limit = sn.rate_limit
    out.conn_rate.seconds = sn.rate_seconds
    out.creation = now - sn.creation
    out.expire = sn.expire - now if sn.expire > now else 0
    out.af = sn.af
    out.naf = 0
    out.type = sn.type


@handles("DIOCGETSRCNODES")
def diocgetsrcnodes(sim: Simulator, fd: SimTransport, psn: ctypes.Structure) -> None:
    """DIOCGETSRCNODES: psn_len 0 asks for the size; otherwise as many nodes as fit, psn_len set
    to the bytes written."""
    purge(sim)
    size = ctypes.sizeof(sim.layout.pf_src_node)
    nodes = list(sim.src_nodes.values())
    if psn.psn_len == 0:
        psn.psn_len = size * len(nodes)
        return
    n = min(len(nodes), psn.psn_len // size)
    if n:
        buf = array(sim.layout.pf_src_node, n)
        now = sim.clock.uptime()
        for i in range(n):
            _export(sim, nodes[i], buf[i], now)
        copyout(psn.psn_u.psu_buf, buf, ctypes.sizeof(buf))
    psn.psn_len = size * n


@handles("DIOCCLRSRCNODES")
def diocclrsrcnodes(sim: Simulator, fd: SimTransport, k: None) -> None:
    """DIOCCLRSRCNODES: pf_clear_srcnodes(NULL): every node goes, states keep running untracked."""
    _unlink_all(sim, set(sim.src_nodes))


@handles("DIOCKILLSRCNODES")
def diockillsrcnodes(sim: Simulator, fd: SimTransport, psnk: ctypes.Structure) -> None:
    """DIOCKILLSRCNODES: nodes whose address matches psnk_src and whose redirection address matches
    psnk_dst (address & mask, negation), of psnk_af if set; their states are unlinked."""
    src, dst = psnk.psnk_src, psnk.psnk_dst
    doomed = set()
    for key, sn in sim.src_nodes.items():
        if psnk.psnk_af and sn.af != psnk.psnk_af:
            continue
        if not _match_addr(src.neg, bytes(src.addr.v.a.addr), bytes(src.addr.v.a.mask), sn.addr, sn.af):
            continue
        if not _match_addr(dst.neg, bytes(dst.addr.v.a.addr), bytes(dst.addr.v.a.mask), sn.raddr, sn.af):
            continue
        doomed.add(key)
    _unlink_all(sim, doomed)
    psnk.psnk_killed = len(doomed)
