"""Reads pf through a :class:`~pf_exporter.device.Device` into :mod:`pf_exporter.model` values.

Every method issues the same requests pfctl does and decodes the kernel's structs into
frozen dataclasses; no ctypes object leaves this module.  Variable-size reads ask the
kernel how much room it needs and grow their buffer until the answer fits.  Rule walks
hold one ticket at a time and always release it (``Device.ruleset_ticket``); a ruleset
that changes under a walk (EBUSY) restarts the walk a bounded number of times.
"""

from __future__ import annotations

import ctypes
import dataclasses
import socket
import struct
import time
from collections.abc import Iterator, Sequence

from . import model
from .abi import constants as C
from .device import Device, PfBusy, PfError, PfInvalid, PfNotFound

# pfctl's words for pf_rule.action (sbin/pfctl/pfctl_parser.c print_rule).
ACTION_NAMES = {
    C.PF_PASS: "pass", C.PF_DROP: "block", C.PF_SCRUB: "scrub", C.PF_NOSCRUB: "no scrub", C.PF_NAT: "nat",
    C.PF_NONAT: "no nat", C.PF_BINAT: "binat", C.PF_NOBINAT: "no binat", C.PF_RDR: "rdr", C.PF_NORDR: "no rdr",
    C.PF_SYNPROXY_DROP: "synproxy drop", C.PF_DEFER: "defer", C.PF_MATCH: "match", C.PF_DIVERT: "divert",
    C.PF_RT: "rt", C.PF_AFRT: "afrt",
}
DIRECTION_NAMES = {C.PF_INOUT: "", C.PF_IN: "in", C.PF_OUT: "out"}
FAMILY_NAMES = {0: "", C.AF_INET: "inet", C.AF_INET6: "inet6"}
SYNCOOKIES_MODES = {C.PF_SYNCOOKIES_NEVER: "never", C.PF_SYNCOOKIES_ALWAYS: "always",
                    C.PF_SYNCOOKIES_ADAPTIVE: "adaptive"}
TABLE_FLAG_NAMES = (
    (C.PFR_TFLAG_PERSIST, "persist"), (C.PFR_TFLAG_CONST, "const"), (C.PFR_TFLAG_COUNTERS, "counters"),
    (C.PFR_TFLAG_ACTIVE, "active"), (C.PFR_TFLAG_INACTIVE, "inactive"), (C.PFR_TFLAG_REFERENCED, "referenced"),
    (C.PFR_TFLAG_REFDANCHOR, "refdanchor"),
)
ADDRESS_ACTIONS = ("block", "match", "pass")  # pfras_packets[dir][PFR_OP_BLOCK..PFR_OP_PASS]
ACTIONS2 = ("pass", "block")  # pfik_packets[af][dir][action], pcounters[af][dir][PF_PASS|PF_DROP]
PFQS_FLOWQUEUE = 0x0001
MAX_GROW = 16  # buffer growth rounds before a variable-size read gives up


class Reader:
    """High-level reads of pf state.  Every method returns model values only.

    ``retries``: how often a walk whose ruleset (or queue set) changed under it (EBUSY)
    is restarted before :class:`~pf_exporter.device.PfBusy` is raised.
    """

    def __init__(self, device: Device, *, retries: int = 3) -> None:
        self.device = device
        self.abi = device.abi
        self.layout = device.abi.layout
        self.retries = retries
        self._iface_hint = 64
        self._table_hint = 64
        self._state_decoder: _StateDecoder | None = None
        self._rule_decoder = _RuleDecoder(self.layout.pfioc_rule)

    # --- status, limits, timeouts --------------------------------------------------

    def uptime(self) -> int:
        """Seconds since boot: the transport's when it knows (the simulator), else the host's."""
        fn = getattr(self.device.transport, "uptime", None)
        if callable(fn):
            return int(fn())
        clock = getattr(time, "CLOCK_UPTIME", None)  # OpenBSD
        if clock is None:
            clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
        return int(time.clock_gettime(clock))

    def status(self) -> model.Status:
        """DIOCGETSTATUS, decoded with pfctl's counter names (`pfctl -si -v`)."""
        s = self.abi.new("pf_status")
        self.device.ioctl("DIOCGETSTATUS", s)
        running = bool(s.running)
        pk: dict[tuple[str, str, str], int] = {}
        by: dict[tuple[str, str], int] = {}
        for af, fam in enumerate(model.FAMILIES):
            for d, dirname in enumerate(model.DIRECTIONS):
                for a, act in enumerate(ACTIONS2):
                    pk[(fam, dirname, act)] = s.pcounters[af][d][a]
                by[(fam, dirname)] = s.bcounters[af][d]
        return model.Status(
            running=running,
            since=s.since,
            enabled_seconds=max(0, self.uptime() - s.since) if running else 0,
            states=s.states,
            states_halfopen=s.states_halfopen,
            src_nodes=s.src_nodes,
            fragments=s.fragments,
            debug=s.debug,
            hostid=socket.ntohl(s.hostid),  # the kernel keeps it in network byte order
            reass=s.reass,
            stateid=s.stateid,
            syncookies_active=bool(s.syncookies_active),
            syncookies_mode=SYNCOOKIES_MODES.get(s.syncookies_mode, str(s.syncookies_mode)),
            syncookies_inflight=(s.syncookies_inflight[0], s.syncookies_inflight[1]),
            loginterface=_str(s.ifname),
            checksum=bytes(s.pf_chksum).hex(),
            counters=dict(zip(C.PFRES_NAMES, s.counters, strict=True)),
            limit_counters=dict(zip(C.LCNT_NAMES, s.lcounters, strict=True)),
            state_operations=dict(zip(C.FCNT_NAMES, s.fcounters, strict=True)),
            src_node_operations=dict(zip(C.FCNT_NAMES, s.scounters, strict=True)),
            fragment_operations=dict(zip(C.FCNT_NAMES, s.ncounters, strict=True)),
            loginterface_packets=pk,
            loginterface_bytes=by,
        )

    def limits(self) -> dict[str, int]:
        """DIOCGETLIMIT for every PF_LIMIT_* (`pfctl -sm`)."""
        out = {}
        pl = self.abi.new("pfioc_limit")
        for index, name in enumerate(C.LIMIT_NAMES):
            pl.index = index
            self.device.ioctl("DIOCGETLIMIT", pl)
            out[name] = pl.limit
        return out

    def syncookie_watermarks(self) -> tuple[int, int]:
        """DIOCGETSYNFLWATS: (high, low) in states.  Adaptive syncookies switch on when the
        half-open states exceed *high* and off when the syncookies in flight drop below *low*."""
        w = self.abi.new("pfioc_synflwats")
        self.device.ioctl("DIOCGETSYNFLWATS", w)
        return w.hiwat, w.lowat

    def timeouts(self) -> dict[str, int]:
        """DIOCGETTIMEOUT for every PFTM_* (`pfctl -st`)."""
        out = {}
        pt = self.abi.new("pfioc_tm")
        for index, name in C.TIMEOUT_NAMES.items():
            pt.timeout = index
            self.device.ioctl("DIOCGETTIMEOUT", pt)
            out[name] = pt.seconds
        return out

    # --- interfaces ----------------------------------------------------------------

    def interfaces(self) -> list[model.Interface]:
        """DIOCIGETIFACES: every kif (interfaces, groups, names rules refer to).

        pfi_get_ifaces() fills at most size - 1 entries and answers with the size passed
        when it ran out of room, so the buffer grows until the answer is smaller."""
        L = self.layout
        esize = ctypes.sizeof(L.pfi_kif)
        n = self._iface_hint
        for _ in range(MAX_GROW):
            buf = (L.pfi_kif * n)()
            io = self.abi.new("pfioc_iface", pfiio_buffer=ctypes.addressof(buf), pfiio_esize=esize, pfiio_size=n)
            self.device.ioctl("DIOCIGETIFACES", io)
            got = io.pfiio_size
            if got < n:
                self._iface_hint = max(self._iface_hint, got + 16)
                return [_interface(buf[i]) for i in range(got)]
            n = max(n * 2, got + 16)
        raise PfError(0, "DIOCIGETIFACES", f"interface list still growing after {MAX_GROW} tries")

    # --- tables --------------------------------------------------------------------

    def tables(self) -> list[model.Table]:
        """DIOCRGETTSTATS over every anchor (PFR_FLAG_ALLRSETS); only active tables.

        The kernel also lists inactive tables (an anchor table's root, tables only a rule
        mentions); those are not real tables and are left out, as `pfctl -sT` does."""
        L = self.layout
        esize = ctypes.sizeof(L.pfr_tstats)
        n = self._table_hint
        for _ in range(MAX_GROW):
            buf = (L.pfr_tstats * n)()
            io = self.abi.new("pfioc_table", pfrio_buffer=ctypes.addressof(buf), pfrio_esize=esize, pfrio_size=n,
                              pfrio_flags=C.PFR_FLAG_ALLRSETS)
            self.device.ioctl("DIOCRGETTSTATS", io)
            got = io.pfrio_size
            if got <= n:
                self._table_hint = max(self._table_hint, got + 16)
                return [_table(buf[i]) for i in range(got) if buf[i].pfrts_t.pfrt_flags & C.PFR_TFLAG_ACTIVE]
            n = got + max(16, got // 8)
        raise PfError(0, "DIOCRGETTSTATS", f"table list still growing after {MAX_GROW} tries")

    def table_addresses(self, anchor: str, table: str, stats: bool = True) -> list[model.TableAddress]:
        """DIOCRGETASTATS (or DIOCRGETADDRS without *stats*): the addresses of one table."""
        L = self.layout
        tag, request = ("pfr_astats", "DIOCRGETASTATS") if stats else ("pfr_addr", "DIOCRGETADDRS")
        esize = ctypes.sizeof(getattr(L, tag))
        n = 64
        for _ in range(MAX_GROW):
            buf = (getattr(L, tag) * n)()
            io = self.abi.new("pfioc_table", pfrio_buffer=ctypes.addressof(buf), pfrio_esize=esize, pfrio_size=n)
            _set_str(io.pfrio_table, "pfrt_anchor", anchor)
            _set_str(io.pfrio_table, "pfrt_name", table)
            self.device.ioctl(request, io)
            got = io.pfrio_size
            if got <= n:
                return [_address(buf[i], stats) for i in range(got)]
            n = got + max(16, got // 8)
        raise PfError(0, request, f"address list still growing after {MAX_GROW} tries")

    # --- rules ---------------------------------------------------------------------

    def anchors(self) -> list[str]:
        """Every anchor path, depth first (DIOCGETRULESETS / DIOCGETRULESET from the root)."""
        return self._retry("DIOCGETRULESET", self._anchor_tree)

    def _anchor_tree(self) -> list[str]:
        out: list[str] = []
        pr = self.abi.new("pfioc_ruleset")

        def visit(path: str) -> None:
            _set_str(pr, "path", path)
            self.device.ioctl("DIOCGETRULESETS", pr)
            names = []
            for i in range(pr.nr):
                _set_str(pr, "path", path)
                pr.nr = i
                self.device.ioctl("DIOCGETRULESET", pr)
                names.append(_str(pr.name))
            for name in names:
                child = f"{path}/{name}" if path else name
                out.append(child)
                visit(child)

        visit("")
        return out

    def rules(self, anchor: str = "") -> list[model.Rule]:
        """The rules of one ruleset with their counters (DIOCGETRULES, then DIOCGETRULE until
        the end); restarted when the ruleset changes during the walk."""
        return self._retry("DIOCGETRULE", lambda: self._walk(anchor))

    def rulesets(self) -> list[model.Ruleset]:
        """The whole rule tree: the main ruleset and every anchor, each with its rules."""

        def walk() -> list[model.Ruleset]:
            return [model.Ruleset(path, tuple(self._walk(path))) for path in ["", *self._anchor_tree()]]

        return self._retry("DIOCGETRULE", walk)

    def iter_rulesets(self, anchors: Sequence[str] | None = None) -> Iterator[model.Ruleset]:
        """The rule tree one ruleset at a time (the main ruleset first, then *anchors*, by
        default read with :meth:`anchors`), so only one ruleset's rules are held at once.
        Each ruleset's walk is restarted on its own when it changes under the walk; an anchor
        removed since *anchors* was read (DIOCGETRULES: EINVAL) is left out."""
        yield model.Ruleset("", tuple(self._retry("DIOCGETRULE", lambda: self._walk(""))))
        for path in self.anchors() if anchors is None else anchors:
            try:
                rules = self._retry("DIOCGETRULE", lambda path=path: self._walk(path))  # type: ignore[misc]
            except PfInvalid as e:
                if e.request != "DIOCGETRULES":
                    raise
                continue  # the anchor is gone (the main ruleset's walk proved the request itself)
            yield model.Ruleset(path, tuple(rules))

    def _retry(self, what: str, fn):  # type: ignore[no-untyped-def]
        last: PfBusy | None = None
        for _ in range(self.retries + 1):
            try:
                return fn()
            except PfBusy as e:
                if e.request == "DIOCGETRULES":
                    # not a changing ruleset: pf_open_trans() refused a 513th ticket on this descriptor
                    raise PfBusy(e.errno or 16, "DIOCGETRULES",
                                 "this descriptor holds pf's maximum of 512 rule tickets (at securelevel > 1 "
                                 "the kernel refuses DIOCXEND); reopen /dev/pf to release them") from None
                last = e
        raise PfBusy(16, what, f"the ruleset kept changing during the walk ({self.retries + 1} attempts): {last}")

    def _walk(self, anchor: str) -> list[model.Rule]:
        out: list[model.Rule] = []
        dev = self.device
        with dev.ruleset_ticket(anchor) as (ticket, nr):
            pr = self.abi.new("pfioc_rule", ticket=ticket, action=C.PF_GET_NONE)
            _set_str(pr, "anchor", anchor)
            decode = self._rule_decoder.decode
            get_rule = dev.caller("DIOCGETRULE")
            append = out.append
            for i in range(nr):
                pr.nr = i
                try:
                    get_rule(pr)
                except PfNotFound:
                    break  # the last rule numbers need not be contiguous
                append(decode(anchor, pr))
        return out

    # --- queues --------------------------------------------------------------------

    def queues(self) -> list[model.Queue]:
        """DIOCGETQUEUES, then DIOCGETQSTATS for each queue (HFSC class or fq_codel stats, as
        the kernel decides); restarted if the queue set changes under the walk."""
        return self._retry("DIOCGETQSTATS", self._queues)

    def _queues(self) -> list[model.Queue]:
        L = self.layout
        pq = self.abi.new("pfioc_queue")
        self.device.ioctl("DIOCGETQUEUES", pq)
        hfsc_size = ctypes.sizeof(L.hfsc_class_stats)
        fq_size = ctypes.sizeof(L.fqcodel_stats)
        buf = ctypes.create_string_buffer(max(hfsc_size, fq_size))
        qs = self.abi.new("pfioc_qstats")
        out = []
        for i in range(pq.nr):
            qs.ticket = pq.ticket
            qs.nr = i
            qs.buf = ctypes.addressof(buf)
            qs.nbytes = len(buf)
            self.device.ioctl("DIOCGETQSTATS", qs)
            spec = qs.queue
            flow_stats = None
            if qs.nbytes == fq_size:
                st = L.fqcodel_stats.from_buffer(buf)
                flow_stats = model.FlowQueueStats(
                    flows=st.flows, target_ns=spec.flowqueue.target, interval_ns=spec.flowqueue.interval,
                    delay_sum=st.delaysum, delay_sum_squares=st.delaysumsq)
            else:
                st = L.hfsc_class_stats.from_buffer(buf)
            stats = model.QueueStats(
                packets=st.xmit_cnt.packets, bytes=st.xmit_cnt.bytes, dropped_packets=st.drop_cnt.packets,
                dropped_bytes=st.drop_cnt.bytes, length=st.qlength, limit=st.qlimit)
            out.append(model.Queue(
                interface=_str(spec.ifname), name=_str(spec.qname), parent=_str(spec.parent),
                bandwidth=spec.linkshare.m2.absolute, min_bandwidth=spec.realtime.m2.absolute,
                max_bandwidth=spec.upperlimit.m2.absolute, flags=spec.flags, qlimit=spec.qlimit,
                flowqueue=bool(spec.flags & PFQS_FLOWQUEUE), stats=stats, flow_stats=flow_stats))
        return out

    # --- 7.9 limiters ---------------------------------------------------------------

    def state_limiters(self) -> list[model.StateLimiter]:
        """DIOCGETNSTATELIM from the lowest id up (7.9+; empty before).  ENOENT ends the list."""
        return [
            model.StateLimiter(
                id=ioc.id, name=_str(ioc.name), description=_str(ioc.description), limit=ioc.limit,
                rate_limit=ioc.rate.limit, rate_seconds=ioc.rate.seconds, inuse=ioc.inuse, admitted=ioc.admitted,
                hardlimited=ioc.hardlimited, ratelimited=ioc.ratelimited)
            for ioc in self._limiters("DIOCGETNSTATELIM", "pfioc_statelim", C.PF_STATELIM_ID_MIN,
                                      C.PF_STATELIM_ID_MAX)
        ]

    def source_limiters(self) -> list[model.SourceLimiter]:
        """DIOCGETNSOURCELIM from the lowest id up (7.9+).  ESRCH ends this list."""
        return [
            model.SourceLimiter(
                id=ioc.id, name=_str(ioc.name), description=_str(ioc.description), entries=ioc.entries,
                limit=ioc.limit, rate_limit=ioc.rate.limit, rate_seconds=ioc.rate.seconds,
                overload_table=_str(ioc.overload_tblname), overload_hwm=ioc.overload_hwm,
                overload_lwm=ioc.overload_lwm, inet_prefix=ioc.inet_prefix, inet6_prefix=ioc.inet6_prefix,
                nentries=ioc.nentries, inuse=ioc.inuse, addrallocs=ioc.addrallocs, addrnomem=ioc.addrnomem,
                admitted=ioc.admitted, addrlimited=ioc.addrlimited, hardlimited=ioc.hardlimited,
                ratelimited=ioc.ratelimited)
            for ioc in self._limiters("DIOCGETNSOURCELIM", "pfioc_sourcelim", C.PF_SOURCELIM_ID_MIN,
                                      C.PF_SOURCELIM_ID_MAX)
        ]

    def _limiters(self, request: str, tag: str, lowest: int, highest: int) -> Iterator[ctypes.Structure]:
        """Yield each limiter the kernel has, asking for the next id up from *lowest* (7.9+; none before).

        The same struct is reused and yielded each time: read it before asking for the next.
        The end of the list is ENOENT for state limiters and ESRCH for source limiters
        (both PfNotFound).
        """
        if not self.abi.has_limiters:
            return
        ioc = self.abi.new(tag)
        wanted = lowest
        while wanted <= highest:
            ctypes.memset(ctypes.addressof(ioc), 0, ctypes.sizeof(ioc))
            ioc.id = wanted
            try:
                self.device.ioctl(request, ioc)
            except PfNotFound:
                return
            yield ioc
            wanted = ioc.id + 1

    # --- states ----------------------------------------------------------------------

    def states(self, max_states: int | None = None) -> Iterator[model.State]:
        """DIOCGETSTATES: every state (or the first *max_states*), decoded one at a time.

        The kernel answers ps_len = 0 with the bytes it needs and then fills whole states
        up to ps_len with no truncation flag, so a completely filled buffer is grown and
        read again.  Only the raw buffer is held; states are decoded as they are consumed."""
        raw, count = self._state_buffer(max_states)
        dec = self._decoder()
        esize = dec.size
        for i in range(count):
            yield dec.decode(raw, i * esize)

    def state_count(self) -> int:
        """How many states the kernel has (DIOCGETSTATES with ps_len = 0), without reading them."""
        ps = self.abi.new("pfioc_states")
        self.device.ioctl("DIOCGETSTATES", ps)
        return ps.ps_len // ctypes.sizeof(self.layout.pfsync_state)

    def _state_buffer(self, max_states: int | None = None) -> tuple[ctypes.Array, int]:
        """The raw pfsync_state array and how many states it holds."""
        esize = ctypes.sizeof(self.layout.pfsync_state)
        ps = self.abi.new("pfioc_states")
        self.device.ioctl("DIOCGETSTATES", ps)
        need = ps.ps_len
        cap = None if max_states is None else max(0, max_states) * esize
        for _ in range(MAX_GROW):
            want = need + max(16 * esize, need // 16 // esize * esize)  # room for states born meanwhile
            if cap is not None:
                want = min(want, cap)
            if want == 0:
                return (ctypes.c_char * 0)(), 0
            buf = (ctypes.c_char * want)()
            ps.ps_len = want
            ps.ps_u.psu_buf = ctypes.addressof(buf)
            self.device.ioctl("DIOCGETSTATES", ps)
            got = ps.ps_len
            if got + esize <= want or (cap is not None and want == cap):
                return buf, got // esize
            need = want * 2
        raise PfError(0, "DIOCGETSTATES", f"state table still growing after {MAX_GROW} tries")

    def _decoder(self) -> _StateDecoder:
        if self._state_decoder is None:
            self._state_decoder = _StateDecoder(self.layout.pfsync_state)
        return self._state_decoder

    # --- everything -------------------------------------------------------------------

    def snapshot(self) -> model.Snapshot:
        """One scrape's worth (everything but the states)."""
        return model.Snapshot(
            status=self.status(), limits=self.limits(), timeouts=self.timeouts(),
            interfaces=tuple(self.interfaces()), tables=tuple(self.tables()), rulesets=tuple(self.rulesets()),
            queues=tuple(self.queues()), state_limiters=tuple(self.state_limiters()),
            source_limiters=tuple(self.source_limiters()))


# --- decoding helpers --------------------------------------------------------------------

def _str(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _set_str(obj: ctypes.Structure, field: str, value: str) -> None:
    """Store *value* NUL-padded: the kernel refuses names with bytes after the NUL (EINVAL)."""
    desc = getattr(type(obj), field)
    data = value.encode()
    if len(data) >= desc.size:
        raise ValueError(f"{field} {value!r} is too long: at most {desc.size - 1} bytes")
    ctypes.memmove(ctypes.addressof(obj) + desc.offset, data.ljust(desc.size, b"\0"), desc.size)


def _interface(k: ctypes.Structure) -> model.Interface:
    pk: dict[tuple[str, str, str], int] = {}
    by: dict[tuple[str, str, str], int] = {}
    for af, fam in enumerate(model.FAMILIES):
        for d, dirname in enumerate(model.DIRECTIONS):
            for a, act in enumerate(ACTIONS2):
                pk[(fam, dirname, act)] = k.pfik_packets[af][d][a]
                by[(fam, dirname, act)] = k.pfik_bytes[af][d][a]
    return model.Interface(
        name=_str(k.pfik_name), is_group=bool(k.pfik_group), skip=bool(k.pfik_flags & C.PFI_IFLAG_SKIP),
        packets=pk, bytes=by, cleared=k.pfik_tzero, states=k.pfik_states, rules=k.pfik_rules,
        routes=k.pfik_routes, src_nodes=k.pfik_srcnodes)


def _table(ts: ctypes.Structure) -> model.Table:
    t = ts.pfrts_t
    pk = {}
    by = {}
    for d, dirname in enumerate(model.DIRECTIONS):
        for op, act in enumerate(model.TABLE_ACTIONS):
            pk[(dirname, act)] = ts.pfrts_packets[d][op]
            by[(dirname, act)] = ts.pfrts_bytes[d][op]
    return model.Table(
        anchor=_str(t.pfrt_anchor), name=_str(t.pfrt_name),
        flags=frozenset(name for bit, name in TABLE_FLAG_NAMES if t.pfrt_flags & bit), addresses=ts.pfrts_cnt,
        packets=pk, bytes=by, matches=ts.pfrts_match, nomatches=ts.pfrts_nomatch, cleared=ts.pfrts_tzero,
        rule_references=ts.pfrts_refcnt[C.PFR_REFCNT_RULE], anchor_references=ts.pfrts_refcnt[C.PFR_REFCNT_ANCHOR])


def _address(entry: ctypes.Structure, stats: bool) -> model.TableAddress:
    a = entry.pfras_a if stats else entry
    af = a.pfra_af
    raw = bytes(a.pfra_u)
    if af == C.AF_INET:
        text, family = socket.inet_ntop(socket.AF_INET, raw[:4]), "inet"
    elif af == C.AF_INET6:
        text, family = socket.inet_ntop(socket.AF_INET6, raw), "inet6"
    else:
        text, family = _str(a.pfra_ifname), f"af{af}"
    if not stats:
        return model.TableAddress(text, a.pfra_net, family, bool(a.pfra_not))
    pk = {}
    by = {}
    for d, dirname in enumerate(model.DIRECTIONS):
        for op, act in enumerate(ADDRESS_ACTIONS):
            pk[(dirname, act)] = entry.pfras_packets[d][op]
            by[(dirname, act)] = entry.pfras_bytes[d][op]
    return model.TableAddress(text, a.pfra_net, family, bool(a.pfra_not), pk, by, entry.pfras_tzero)


class _RuleDecoder:
    """Decodes the fields of a pfioc_rule (and its pf_rule) that :class:`model.Rule` needs with one
    precomputed struct format (native byte order, offsets from the ABI layer's ctypes layout of
    this release/arch) instead of one ctypes attribute read per field."""

    FIELDS = ("nr", "anchor_call", "rule.action", "rule.direction", "rule.quick", "rule.log", "rule.ifname",
              "rule.ifnot", "rule.af", "rule.proto", "rule.label", "rule.evaluations", "rule.packets",
              "rule.bytes", "rule.states_cur", "rule.states_tot", "rule.src_nodes", "rule.max_states")
    TEXT_CACHE = 16384  # decoded names and labels kept (see _decode_text)

    def __init__(self, cls: type) -> None:
        located = sorted((*_locate(cls, path), i) for i, path in enumerate(self.FIELDS))
        parts, pos, slots = ["="], 0, []
        index = 0
        for off, size, code, count, i in located:
            if off < pos:
                raise AssertionError(f"pfioc_rule field {self.FIELDS[i]} overlaps the one before it")
            if off > pos:
                parts.append(f"{off - pos}x")
            parts.append(f"{count}{code}" if code != "s" else f"{size}s")
            n = 1 if code == "s" else count
            slots.append((i, index, n))
            index += n
            pos = off + size
        self.struct = struct.Struct("".join(parts))
        where = [0] * len(self.FIELDS)
        for i, at, n in slots:
            where[i] = at if n == 1 else -at - 1  # arrays: negative, first element's index
        self._where = tuple(where)
        self._text: dict[bytes, str] = {}
        if model.Rule._fields != _RULE_FIELDS:
            raise AssertionError("model.Rule changed; update _RuleDecoder.decode")

    def decode(self, anchor: str, pr: ctypes.Structure) -> model.Rule:
        v = self.struct.unpack_from(pr)
        (i_nr, i_call, i_act, i_dir, i_quick, i_log, i_if, i_ifnot, i_af, i_proto, i_label, i_ev, i_pk, i_by,
         i_cur, i_tot, i_src, i_max) = self._where
        text = self._text
        raw = v[i_call]
        call = text.get(raw)
        if call is None:
            call = self._decode_text(raw)
        raw = v[i_if]
        ifname = text.get(raw)
        if ifname is None:
            ifname = self._decode_text(raw)
        raw = v[i_label]
        label = text.get(raw)
        if label is None:
            label = self._decode_text(raw)
        action = v[i_act]
        af = v[i_af]
        pk, by = -i_pk - 1, -i_by - 1
        return _new_tuple(model.Rule, (
            anchor, v[i_nr], "anchor" if call else ACTION_NAMES.get(action) or str(action),
            DIRECTION_NAMES.get(v[i_dir], ""), bool(v[i_quick]), bool(v[i_log]),
            "!" + ifname if v[i_ifnot] and ifname else ifname, FAMILY_NAMES[af] if af in FAMILY_NAMES else f"af{af}",
            v[i_proto], label, call, v[i_ev],
            v[pk], v[pk + 1], v[by], v[by + 1], v[i_cur], v[i_tot], v[i_src], v[i_max]))

    def _decode_text(self, raw: bytes) -> str:
        """A NUL-padded name or label as text, remembered by its raw bytes: rules repeat the same
        few labels and interfaces, so each is decoded (and held in memory) once."""
        if len(self._text) >= self.TEXT_CACHE:
            self._text.clear()  # label churn must not grow the cache without bound
        s = self._text[raw] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return s


_new_tuple = tuple.__new__
_RULE_FIELDS = ("anchor", "number", "action", "direction", "quick", "log", "interface", "family", "protocol",
                "label", "anchor_call", "evaluations", "packets_in", "packets_out", "bytes_in", "bytes_out",
                "states_current", "states_total", "src_nodes", "max_states")


def _locate(cls: type, path: str) -> tuple[int, int, str, int]:
    """(offset, size, struct code, element count) of a dotted field path in a ctypes struct;
    code "s" for char arrays."""
    off = 0
    ftype: type = cls
    for name in path.split("."):
        desc = getattr(ftype, name)
        if getattr(desc, "is_bitfield", False) or (desc.size >> 16):
            raise AssertionError(f"{path} is a bit-field; the rule decoder cannot read it")
        off += desc.offset
        ftype = dict(ftype._fields_)[name]  # type: ignore[attr-defined]
    size = ctypes.sizeof(ftype)
    leaf, count = ftype, 1
    while issubclass(leaf, ctypes.Array):
        count *= leaf._length_  # type: ignore[attr-defined]
        leaf = leaf._type_  # type: ignore[attr-defined]
    if leaf is ctypes.c_char:
        return off, size, "s", 1
    code = _CODES[ctypes.sizeof(leaf)]
    if leaf._type_ in ("b", "h", "i", "q", "l"):  # type: ignore[attr-defined]
        code = code.lower()
    return off, size, code, count


class _StateDecoder:
    """Decodes one pfsync_state (packed, every multi-byte field in network byte order) with a
    struct format derived from the ABI layer's declaration."""

    WANT = ("id", "ifname", "key.0.addr", "key.0.port", "key.0.af", "key.1.addr", "key.1.port", "src.state",
            "dst.state", "rule", "anchor", "creation", "expire", "packets", "bytes", "creatorid", "af", "proto",
            "direction", "timeout")

    def __init__(self, cls: type) -> None:
        fmt, names = _network_format(cls)
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size
        if self.size != ctypes.sizeof(cls):
            raise AssertionError("pfsync_state decoder does not cover the whole struct")
        index: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            for w in self.WANT:
                if n == w or n.startswith(w + "."):
                    index.setdefault(w, []).append(i)
        self.ix = {k: tuple(v) for k, v in index.items()}

        if [f.name for f in dataclasses.fields(model.State)] != list(_STATE_FIELDS):
            raise AssertionError("model.State changed; update _StateDecoder.decode")
        self._i = tuple(self.ix[k][0] for k in ("id", "creatorid", "ifname", "af", "proto", "direction", "src.state",
                                                   "dst.state", "rule", "anchor", "creation", "expire", "timeout"))
        self._keys = (*self.ix["key.0.addr"], *self.ix["key.0.port"], *self.ix["key.1.addr"], *self.ix["key.1.port"])
        self._ctr = (*self.ix["packets"], *self.ix["bytes"])

    def decode(self, raw: ctypes.Array, offset: int) -> model.State:
        v = self.struct.unpack_from(raw, offset)
        i_id, i_cr, i_if, i_af, i_pr, i_dir, i_ss, i_ds, i_rule, i_anc, i_cre, i_exp, i_to = self._i
        a0, a1, p0, p1, b0, b1, q0, q1 = self._keys
        af = v[i_af]
        if af == C.AF_INET:
            ntop = _ntop4
        elif af == C.AF_INET6:
            ntop = _ntop6
        else:
            ntop = bytes.hex
        ph0, pl0, ph1, pl1, bh0, bl0, bh1, bl1 = (v[i] for i in self._ctr)
        d = v[i_dir]
        return model.State(
            v[i_id], v[i_cr], v[i_if].split(b"\0", 1)[0].decode("utf-8", "replace"),
            _FAMILY_OR_AF.get(af) or f"af{af}", v[i_pr], DIRECTION_NAMES.get(d) or str(d),
            ((ntop(v[a0]), v[p0]), (ntop(v[a1]), v[p1])), ((ntop(v[b0]), v[q0]), (ntop(v[b1]), v[q1])),
            v[i_ss], v[i_ds], (ph0 << 32 | pl0, ph1 << 32 | pl1), (bh0 << 32 | bl0, bh1 << 32 | bl1),
            v[i_rule], v[i_anc], v[i_cre], v[i_exp], v[i_to])


_FAMILY_OR_AF = {C.AF_INET: "inet", C.AF_INET6: "inet6"}
_STATE_FIELDS = ("id", "creatorid", "interface", "family", "protocol", "direction", "wire", "stack", "src_state",
                 "dst_state", "packets", "bytes", "rule", "anchor", "creation", "expire", "timeout")


def _ntop4(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def _ntop6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _network_format(cls: type) -> tuple[str, list[str]]:
    """A big-endian struct format covering *cls* field by field, with dotted field names.

    char arrays and pf_addr-sized unions become byte strings; integer arrays are flattened."""
    parts: list[str] = [">"]
    names: list[str] = []
    pos = 0

    def walk(t: type, base: int, prefix: str) -> None:
        nonlocal pos
        for fname, ftype in t._fields_:  # type: ignore[attr-defined]
            off = base + getattr(t, fname).offset
            name = prefix + fname
            if off > pos:
                parts.append(f"{off - pos}x")
                pos = off
            size = ctypes.sizeof(ftype)
            leaf, count = ftype, 1
            while issubclass(leaf, ctypes.Array):
                count *= leaf._length_  # type: ignore[attr-defined]
                leaf = leaf._type_  # type: ignore[attr-defined]
            if issubclass(leaf, ctypes.Structure):
                step = ctypes.sizeof(leaf)
                for i in range(count):
                    walk(leaf, off + i * step, f"{name}.{i}." if ftype is not leaf else name + ".")
                continue
            if issubclass(leaf, ctypes.Union) or leaf is ctypes.c_char:
                parts.append(f"{size}s")
                names.append(name)
            else:
                code = _CODES[ctypes.sizeof(leaf)]
                if leaf._type_ in ("b", "h", "i", "q", "l"):  # type: ignore[attr-defined]
                    code = code.lower()
                parts.append(f"{count}{code}")
                names.extend([name] * count)
            pos = off + size

    walk(cls, 0, "")
    if pos < ctypes.sizeof(cls):
        parts.append(f"{ctypes.sizeof(cls) - pos}x")
    return "".join(parts), names
