"""The admin API's changes to pf, each one ioctl sequence on the writable :class:`Device`.

Everything here receives validated values (:mod:`.validate`) and speaks the kernel's
structs from :mod:`pf_exporter.abi`.  Rule sets are replaced in one transaction, the
way ``pfctl -a anchor -f file`` does (net/pf_ioctl.c DIOCXBEGIN/DIOCXCOMMIT):

1. ``DIOCXBEGIN`` with two elements, ``PF_TRANS_RULESET`` and ``PF_TRANS_TABLE`` for the
   anchor: the kernel clears the anchor's inactive rules and tables and hands out tickets;
2. ``DIOCRINADEFINE`` per table (into the inactive set) and ``DIOCADDRULE`` per rule;
3. ``DIOCXCOMMIT``: the kernel first checks every ticket (EBUSY if anyone began another
   transaction on the anchor meanwhile) and only then swaps rules and tables in.

Any failure before the commit succeeds ends in ``DIOCXROLLBACK``, which discards the
inactive set, so the running ruleset is either entirely the old or entirely the new one.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..abi import constants as C
from ..device import Device, PfBusy, PfError, PfNotFound
from .validate import AF_FAMILY, Address, KillFilter, PortSpec


@dataclass
class RuleLoad:
    """One compiled rule: a ``struct pf_rule`` of the device's ABI, and its anchor call."""

    rule: ctypes.Structure
    anchor_call: str = ""
    source: str = ""  # where it came from, for errors: "rules[3]" or "line 4"
    line: int | None = None
    column: int | None = None


@dataclass
class TableLoad:
    """A table defined together with a ruleset.  Without addresses (both None) it keeps
    what it holds; ``raw_addresses`` are ready ``struct pfr_addr`` values (from the compiler)."""

    name: str
    flags: int = 0  # PFR_TFLAG_PERSIST | PFR_TFLAG_CONST | PFR_TFLAG_COUNTERS
    addresses: list[Address] | None = None
    raw_addresses: list[ctypes.Structure] | None = None
    source: str = ""
    line: int | None = None
    column: int | None = None


@dataclass
class AnchorLoad:
    """What one anchor gets in a transaction."""

    anchor: str
    rules: list[RuleLoad] = field(default_factory=list)
    tables: list[TableLoad] = field(default_factory=list)


class LoadFailed(Exception):
    """pf refused one element of a transaction; the transaction was rolled back."""

    def __init__(self, error: PfError, item: RuleLoad | TableLoad | None, stage: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.item = item
        self.stage = stage


@dataclass
class TableResult:
    added: int = 0
    deleted: int = 0
    changed: int = 0


def _fill(dst: ctypes.Structure | ctypes.Array, data: bytes) -> None:
    ctypes.memmove(ctypes.addressof(dst), data, len(data))


def port_network_order(port: int) -> int:
    """A host-order port as the u_int16_t the kernel keeps in network byte order."""
    return int.from_bytes(port.to_bytes(2, "big"), sys.byteorder)


def port_host_order(value: int) -> int:
    return int.from_bytes(value.to_bytes(2, sys.byteorder), "big")


class PfAdmin:
    """pf operations for the admin API; one instance per writable device."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.abi = device.abi

    # --- running ---------------------------------------------------------------

    def set_running(self, running: bool) -> bool:
        """Start or stop pf; returns whether anything changed (idempotent)."""
        try:
            self.device.ioctl("DIOCSTART" if running else "DIOCSTOP")
        except PfError as e:
            # DIOCSTART on a running pf is EEXIST, DIOCSTOP on a stopped one ENOENT (pfioctl).
            if e.errno == (errno.EEXIST if running else errno.ENOENT):
                return False
            raise
        return True

    # --- rules -------------------------------------------------------------------

    def read_rules(self, anchor: str) -> list[tuple[ctypes.Structure, str]]:
        """Every rule of *anchor* as (``struct pf_rule`` copy, anchor call); EBUSY walks are retried."""
        for attempt in range(3):
            try:
                out: list[tuple[ctypes.Structure, str]] = []
                with self.device.ruleset_ticket(anchor) as (ticket, nr):
                    for i in range(nr):
                        pr = self.abi.new("pfioc_rule", ticket=ticket, nr=i, action=C.PF_GET_NONE)
                        pr.anchor = anchor.encode()
                        self.device.ioctl("DIOCGETRULE", pr)
                        rule = type(pr.rule).from_buffer_copy(pr.rule)
                        out.append((rule, pr.anchor_call.decode(errors="replace")))
                return out
            except PfBusy:
                if attempt == 2:
                    raise
        return []

    def rule_count(self, anchor: str) -> int:
        with self.device.ruleset_ticket(anchor) as (_ticket, nr):
            return nr

    def child_anchors(self, path: str) -> list[str]:
        """Names of the direct children of anchor *path* (DIOCGETRULESETS/DIOCGETRULESET)."""
        rs = self.abi.new("pfioc_ruleset")
        rs.path = path.encode()
        self.device.ioctl("DIOCGETRULESETS", rs)
        names = []
        for i in range(rs.nr):
            one = self.abi.new("pfioc_ruleset", nr=i)
            one.path = path.encode()
            self.device.ioctl("DIOCGETRULESET", one)
            names.append(one.name.decode(errors="replace"))
        return names

    def anchor_tree(self, path: str = "", depth: int = 0) -> dict[str, object]:
        """The anchor tree below *path*: ``{"path", "name", "rules", "children": [...]}``."""
        children = []
        if depth < C.PF_ANCHOR_STACK_MAX:
            for name in sorted(self.child_anchors(path)):
                child = f"{path}/{name}" if path else name
                children.append(self.anchor_tree(child, depth + 1))
        return {
            "path": path,
            "name": path.rsplit("/", 1)[-1],
            "rules": self.rule_count(path),
            "children": children,
        }

    def queue_count(self) -> int:
        pq = self.abi.new("pfioc_queue")
        self.device.ioctl("DIOCGETQUEUES", pq)
        return int(pq.nr)

    def replace_ruleset(self, anchor: str, rules: Sequence[RuleLoad], tables: Sequence[TableLoad]) -> dict[str, int]:
        """Replace the rules and tables of *anchor* in one transaction (see the module docstring)."""
        return self.replace_rulesets([AnchorLoad(anchor, list(rules), list(tables))])

    def replace_rulesets(self, loads: Sequence[AnchorLoad]) -> dict[str, int]:
        """Replace the rules and tables of several anchors (an anchor and the inline anchors
        it defines) in one transaction.

        Raises :class:`LoadFailed` after rolling back; pf is then exactly as before.
        """
        entries: list[tuple[int, str]] = []
        for load in loads:
            entries += [(C.PF_TRANS_RULESET, load.anchor), (C.PF_TRANS_TABLE, load.anchor)]
        trans, elems = self._trans(entries)
        with self.device.lock:
            self.device.ioctl("DIOCXBEGIN", trans)
            item: RuleLoad | TableLoad | None = None
            stage = "begin"
            try:
                for i, load in enumerate(loads):
                    rules_ticket, table_ticket = elems[2 * i].ticket, elems[2 * i + 1].ticket
                    stage = "table"
                    for t in load.tables:
                        item = t
                        self._define_table(load.anchor, t, table_ticket)
                    stage = "rule"
                    for r in load.rules:
                        item = r
                        pr = self.abi.new("pfioc_rule", ticket=rules_ticket, nr=0, action=0)
                        pr.anchor = load.anchor.encode()
                        pr.anchor_call = r.anchor_call.encode()
                        _fill(pr.rule, bytes(r.rule))
                        self.device.ioctl("DIOCADDRULE", pr)
                stage = "commit"
                item = None
                self.device.ioctl("DIOCXCOMMIT", trans)
            except BaseException as exc:
                self._rollback(trans)
                if isinstance(exc, PfError):
                    raise LoadFailed(exc, item, stage) from None
                raise
        return {"rules": sum(len(x.rules) for x in loads), "tables": sum(len(x.tables) for x in loads)}

    def _trans(self, entries: list[tuple[int, str]]) -> tuple[ctypes.Structure, ctypes.Array]:
        elem_t = self.abi.layout.pfioc_trans_e
        elems = (elem_t * len(entries))()
        for e, (kind, anchor) in zip(elems, entries, strict=True):
            e.type = kind
            e.anchor = anchor.encode()
        trans = self.abi.new("pfioc_trans", size=len(entries), esize=ctypes.sizeof(elem_t))
        trans.array = ctypes.addressof(elems)
        trans._keep = elems  # type: ignore[attr-defined]  # the buffer must outlive every ioctl
        return trans, elems

    def _rollback(self, trans: ctypes.Structure) -> None:
        # DIOCXROLLBACK ignores stale tickets (pf_rollback_rules, pfr_ina_rollback), so it
        # is safe after EBUSY; its own failure must not hide the original error.
        try:
            self.device.ioctl("DIOCXROLLBACK", trans)
        except PfError:
            pass

    def _define_table(self, anchor: str, t: TableLoad, ticket: int) -> None:
        if t.raw_addresses is not None:
            buf = (self.abi.layout.pfr_addr * max(len(t.raw_addresses), 1))(*t.raw_addresses)
            n = len(t.raw_addresses)
        else:
            buf = self._addr_buffer(t.addresses or [])
            n = len(t.addresses or [])
        io = self._table_io(anchor, t.name, buf, n)
        io.pfrio_table.pfrt_flags = t.flags
        io.pfrio_ticket = ticket
        # Without PFR_FLAG_ADDRSTOO the table keeps its current addresses at commit
        # (pfr_commit_ktable, NO_ADDRESSES), as pfctl does for `table <t> persist`.
        keeps = t.addresses is None and t.raw_addresses is None
        io.pfrio_flags = 0 if keeps else C.PFR_FLAG_ADDRSTOO
        self.device.ioctl("DIOCRINADEFINE", io)

    # --- tables ------------------------------------------------------------------

    def _addr_buffer(self, addrs: Sequence[Address]) -> ctypes.Array:
        addr_t = self.abi.layout.pfr_addr
        buf = (addr_t * max(len(addrs), 1))()
        for a, src in zip(buf, addrs, strict=False):
            _fill(a.pfra_u, src.packed)
            a.pfra_af = src.af
            a.pfra_net = src.prefix
            a.pfra_not = 1 if src.negated else 0
        return buf

    def _table_io(self, anchor: str, name: str, buf: ctypes.Array | None, size: int) -> ctypes.Structure:
        io = self.abi.new("pfioc_table")
        io.pfrio_table.pfrt_anchor = anchor.encode()
        io.pfrio_table.pfrt_name = name.encode()
        if buf is not None:
            io.pfrio_buffer = ctypes.addressof(buf)
            io._keep = buf  # type: ignore[attr-defined]
            io.pfrio_esize = ctypes.sizeof(buf._type_)
        io.pfrio_size = size
        return io

    def table_addresses(self, anchor: str, name: str) -> list[Address]:
        """DIOCRGETADDRS, growing the buffer until the table fits (it may grow meanwhile)."""
        size = 64
        for _ in range(8):
            buf = (self.abi.layout.pfr_addr * size)()
            io = self._table_io(anchor, name, buf, size)
            self.device.ioctl("DIOCRGETADDRS", io)
            if io.pfrio_size <= size:
                return [decode_pfr_addr(buf[i]) for i in range(io.pfrio_size)]
            size = io.pfrio_size + 16
        raise PfBusy(errno.EBUSY, "DIOCRGETADDRS", "the table kept growing while being read; retry")

    def add_addresses(self, anchor: str, name: str, addrs: Sequence[Address]) -> TableResult:
        buf = self._addr_buffer(addrs)
        io = self._table_io(anchor, name, buf, len(addrs))
        self.device.ioctl("DIOCRADDADDRS", io)
        return TableResult(added=io.pfrio_nadd)

    def delete_addresses(self, anchor: str, name: str, addrs: Sequence[Address]) -> TableResult:
        buf = self._addr_buffer(addrs)
        io = self._table_io(anchor, name, buf, len(addrs))
        self.device.ioctl("DIOCRDELADDRS", io)
        return TableResult(deleted=io.pfrio_ndel)

    def replace_addresses(self, anchor: str, name: str, addrs: Sequence[Address]) -> TableResult:
        buf = self._addr_buffer(addrs)
        io = self._table_io(anchor, name, buf, len(addrs))
        self.device.ioctl("DIOCRSETADDRS", io)
        return TableResult(added=io.pfrio_nadd, deleted=io.pfrio_ndel, changed=io.pfrio_nchange)

    def tables(self, anchor: str) -> list[tuple[str, int]]:
        """(name, flags) of the tables of *anchor* that are active (DIOCRGETTABLES)."""
        size = 32
        for _ in range(8):
            buf = (self.abi.layout.pfr_table * size)()
            io = self._table_io(anchor, "", buf, size)
            self.device.ioctl("DIOCRGETTABLES", io)
            if io.pfrio_size <= size:
                out = []
                for i in range(io.pfrio_size):
                    t = buf[i]
                    if t.pfrt_flags & C.PFR_TFLAG_ACTIVE and t.pfrt_anchor.decode(errors="replace") == anchor:
                        out.append((t.pfrt_name.decode(errors="replace"), int(t.pfrt_flags)))
                return out
            size = io.pfrio_size + 16
        raise PfBusy(errno.EBUSY, "DIOCRGETTABLES", "the table list kept growing while being read; retry")

    # --- states ------------------------------------------------------------------

    def kill_states(self, flt: KillFilter, rule_state_ids: Iterator[tuple[int, int]] | None = None) -> int:
        """Kill the states matching *flt*; returns how many pf removed.

        ``all`` uses DIOCCLRSTATES, ``state_id`` the kernel's by-id kill, ``rule`` kills
        the (id, creator) pairs of *rule_state_ids* one by one, everything else one
        DIOCKILLSTATES with the filter.
        """
        if flt.all:
            psk = self.abi.new("pfioc_state_kill")
            if flt.interface:
                psk.psk_ifname = flt.interface.encode()
            self.device.ioctl("DIOCCLRSTATES", psk)
            return int(psk.psk_killed)
        if flt.state_id is not None:
            return self._kill_id(flt.state_id, flt.creator_id)
        if flt.rule is not None:
            killed = 0
            for sid, creator in rule_state_ids or iter(()):
                killed += self._kill_id(sid, creator)
            return killed
        psk = self.abi.new("pfioc_state_kill")
        if flt.family:
            psk.psk_af = {"inet": C.AF_INET, "inet6": C.AF_INET6}[flt.family]
        psk.psk_proto = flt.proto
        for ep, dst in ((flt.src, psk.psk_src), (flt.dst, psk.psk_dst)):
            if ep.address is not None:
                _fill(dst.addr.v.a.addr, ep.address.packed)
                _fill(dst.addr.v.a.mask, ep.address.mask_packed)
                dst.neg = 1 if ep.address.negated else 0
            if ep.port is not None:
                _set_port_match(dst, ep.port)
        if flt.interface:
            psk.psk_ifname = flt.interface.encode()
        if flt.label:
            psk.psk_label = flt.label.encode()
        psk.psk_rdomain = flt.rdomain
        self.device.ioctl("DIOCKILLSTATES", psk)
        return int(psk.psk_killed)

    def _kill_id(self, state_id: int, creator_id: int) -> int:
        psk = self.abi.new("pfioc_state_kill")
        # pfctl -k id: the id travels big-endian (htobe64), the creator id in network order.
        psk.psk_pfcmp.id = int.from_bytes(state_id.to_bytes(8, "big"), sys.byteorder)
        psk.psk_pfcmp.creatorid = int.from_bytes(creator_id.to_bytes(4, "big"), sys.byteorder)
        try:
            self.device.ioctl("DIOCKILLSTATES", psk)
        except PfNotFound:
            return 0
        return int(psk.psk_killed)


def _set_port_match(dst: ctypes.Structure, port: PortSpec) -> None:
    op, lo, hi = port.op, port.low, port.high
    if op == C.PF_OP_EQ:
        # An exact port pair (PF_OP_EQ on both sides) switches DIOCKILLSTATES to a
        # state-key lookup that ignores masks, negation and labels (pfioctl); the
        # inclusive range p:p matches the same port through the general scan.
        op, hi = C.PF_OP_RRG, lo
    dst.port_op = op
    dst.port[0] = port_network_order(lo)
    dst.port[1] = port_network_order(hi)


def decode_pfr_addr(a: ctypes.Structure) -> Address:
    raw = bytes(ctypes.string_at(ctypes.addressof(a), 16))
    family = AF_FAMILY.get(int(a.pfra_af))
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    if family == "inet":
        ip = ipaddress.IPv4Address(raw[:4])
        net = ipaddress.IPv4Network(f"{ip}/{min(int(a.pfra_net), 32)}", strict=False)
    else:
        ip = ipaddress.IPv6Address(raw)
        net = ipaddress.IPv6Network(f"{ip}/{min(int(a.pfra_net), 128)}", strict=False)
    return Address(net, bool(a.pfra_not))
