"""pf through OpenBSD's ioctl interface: the library's one backend today.

:class:`IoctlBackend` issues the requests pfctl issues on one :class:`~pf_exporter.device.Device`
(the real ``/dev/pf`` or a simulated descriptor) and decodes the answers with :mod:`._codec`.
It owns the library's policies, once each:

- buffer growth (:meth:`IoctlBackend._grow`): variable-size reads ask the kernel how much
  room it needs and grow until the answer fits, a bounded number of times;
- retries (:meth:`IoctlBackend._retry`): a walk whose ruleset or queue set changed under
  it (EBUSY) restarts, a bounded number of times;
- the anchor walk (:meth:`IoctlBackend.anchors`) and the rule walk (:meth:`IoctlBackend._walk`),
  one ticket at a time, always released with DIOCXEND;
- the transaction (:meth:`IoctlBackend.transaction`): DIOCXBEGIN ... DIOCXCOMMIT, and
  DIOCXROLLBACK on any failure at any step, DIOCXBEGIN included.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..abi import array, bucket
from ..abi import constants as C
from ..device import Device
from ..errors import PfBusy, PfError, PfInvalid, PfLoadError, PfNotFound
from . import _codec as codec
from . import types as T
from ._codec import KernelRule, cstr, set_cstr

MAX_GROW = 16  # buffer growth rounds before a variable-size read gives up
R = TypeVar("R")

# pfctl's port operators as pf_rule_addr.port_op / pfioc_state_kill port_op numbers
PORT_OPS = {"=": C.PF_OP_EQ, "!=": C.PF_OP_NE, "<": C.PF_OP_LT, "<=": C.PF_OP_LE, ">": C.PF_OP_GT,
            ">=": C.PF_OP_GE, "><": C.PF_OP_IRG, "<>": C.PF_OP_XRG, ":": C.PF_OP_RRG}


def _net16(value: int) -> int:
    """A host-order 16-bit value as the u_int16_t the kernel keeps in network byte order."""
    return int.from_bytes(value.to_bytes(2, "big"), sys.byteorder)


class Transaction:
    """An open DIOCXBEGIN transaction: the tickets of its rulesets, and the calls that fill them."""

    def __init__(self, backend: IoctlBackend, elems: ctypes.Array[Any]) -> None:
        self._backend = backend
        self._elems = elems

    def ticket(self, kind: int, anchor: str) -> int:
        for e in self._elems:
            if e.type == kind and cstr(e.anchor) == anchor:
                return int(e.ticket)
        raise KeyError(f"ruleset {anchor!r} is not part of this transaction")

    def add_rule(self, anchor: str, rule: ctypes.Structure, anchor_call: str) -> None:
        """DIOCADDRULE of one ``struct pf_rule`` into *anchor*'s inactive ruleset."""
        b = self._backend
        pr = b.abi.new("pfioc_rule", ticket=self.ticket(C.PF_TRANS_RULESET, anchor), nr=0, action=0)
        set_cstr(pr, "anchor", anchor)
        set_cstr(pr, "anchor_call", anchor_call)
        codec.fill(pr.rule, bytes(rule))
        b.device.ioctl("DIOCADDRULE", pr)

    def define_table(self, anchor: str, table: ctypes.Structure, addresses: Sequence[ctypes.Structure] | None) -> None:
        """DIOCRINADEFINE of one table into *anchor*'s inactive set; ``None`` addresses keep the
        table's current ones at commit (pfr_commit_ktable without PFR_FLAG_ADDRSTOO, as pfctl does for
        ``table <t> persist``)."""
        b = self._backend
        L = b.abi.layout
        entries = list(addresses or [])
        buf = (L.pfr_addr * max(len(entries), 1))(*entries)
        io = b.abi.new("pfioc_table", pfrio_buffer=ctypes.addressof(buf), pfrio_esize=ctypes.sizeof(L.pfr_addr),
                       pfrio_size=len(entries), pfrio_ticket=self.ticket(C.PF_TRANS_TABLE, anchor))
        codec.fill(io.pfrio_table, bytes(table))
        io.pfrio_flags = 0 if addresses is None else C.PFR_FLAG_ADDRSTOO
        b.device.ioctl("DIOCRINADEFINE", io)

    def add_queue(self, queue: ctypes.Structure) -> None:
        """DIOCADDQUEUE of one ``struct pf_queuespec``: queues belong to the main ruleset's transaction."""
        b = self._backend
        pq = b.abi.new("pfioc_queue", ticket=self.ticket(C.PF_TRANS_RULESET, ""))
        codec.fill(pq.queue, bytes(queue))
        b.device.ioctl("DIOCADDQUEUE", pq)

    def add_limiter(self, request: str, ioc: ctypes.Structure) -> None:
        """DIOCADDSTATELIM / DIOCADDSOURCELIM (7.9+): limiters belong to the main ruleset's
        transaction and are committed with it."""
        ioc.ticket = self.ticket(C.PF_TRANS_RULESET, "")
        self._backend.device.ioctl(request, ioc)


class IoctlBackend:
    """Every read and change of pf the library makes, as ioctl(2) requests on *device*."""

    name = "openbsd-ioctl"

    def __init__(self, device: Device, *, retries: int = 3, simulator: Any = None,
                 opener: Callable[[bool], Device] | None = None, sim_lock: Any = None) -> None:
        self.device = device
        self.abi = device.abi
        self.layout = device.abi.layout
        self.retries = retries
        self.simulator = simulator  # the Simulator behind a simulated descriptor, else None
        self.sim_lock = sim_lock
        self._opener = opener
        self._iface_hint = 64
        self._table_hint = 64
        self._state_decoder: codec.StateDecoder | None = None
        self._rule_decoder = codec.RuleDecoder(self.layout.pfioc_rule)
        self._rule_decoder.limiter_names = self.limiter_names
        self._limiter_names: tuple[float, dict[str, dict[int, str]]] | None = None

    # --- identity ------------------------------------------------------------------

    @property
    def release(self) -> str:
        return self.abi.release

    @property
    def arch(self) -> str:
        return self.abi.arch

    @property
    def features(self) -> frozenset[str]:
        return self.abi.features

    @property
    def writable(self) -> bool:
        return self.device.writable

    def close(self, timeout: float | None = None) -> bool:
        """Close the descriptor once no request holds it; with *timeout*, wait at most that long and
        return False when a request still runs (exiting closes the descriptor anyway, and the
        kernel's pfclose() then releases every ticket it held)."""
        lock = self.device.lock
        if not lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            self.device.close()
        finally:
            lock.release()
        return True

    def reopen(self, writable: bool) -> IoctlBackend:
        """A second backend on a new descriptor of the same pf (read-write or read-only)."""
        if self._opener is None:
            raise PfError(errno.EBADF, "reopen", "this handle was made from a device and cannot open another")
        return IoctlBackend(self._opener(writable), retries=self.retries, simulator=self.simulator,
                            opener=self._opener, sim_lock=self.sim_lock)

    # --- policies ------------------------------------------------------------------

    def _grow(self, request: str, first: int, attempt: Callable[[int], tuple[int, R | None]]) -> R:
        """The one buffer-growth policy: ``attempt(n)`` reads with room for *n* entries and returns
        (entries the kernel needs, the value or None when it did not fit)."""
        n = bucket(max(1, first))
        for _ in range(MAX_GROW):
            needed, value = attempt(n)
            if value is not None:
                return value
            n = bucket(max(n * 2, needed + max(16, needed // 8)))
        raise PfBusy(errno.EBUSY, request, f"the list kept growing while being read ({MAX_GROW} tries); retry")

    def _retry(self, what: str, fn: Callable[[], R]) -> R:
        """The one retry policy: restart *fn* when what it walks changed under it (EBUSY)."""
        last: PfBusy | None = None
        for _ in range(self.retries + 1):
            try:
                return fn()
            except PfBusy as e:
                if e.request == "DIOCGETRULES":
                    # not a changing ruleset: pf_open_trans() refused a 513th ticket on this descriptor
                    raise PfBusy(e.errno or errno.EBUSY, "DIOCGETRULES",
                                 "this descriptor holds pf's maximum of 512 rule tickets (at securelevel > 1 "
                                 "the kernel refuses DIOCXEND); reopen /dev/pf to release them") from None
                last = e
        raise PfBusy(errno.EBUSY, what,
                     f"the ruleset kept changing during the walk ({self.retries + 1} attempts): {last}")

    # --- status, limits, timeouts ----------------------------------------------------

    def uptime(self) -> int:
        """Seconds since boot: the transport's when it knows (the simulator), else the host's."""
        fn = getattr(self.device.transport, "uptime", None)
        if callable(fn):
            return int(fn())
        clock = int(getattr(time, "CLOCK_UPTIME", 0) or getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))
        return int(time.clock_gettime(clock))  # CLOCK_UPTIME on OpenBSD

    def now(self) -> int:
        """Epoch seconds on the machine pf runs on (the simulator's own clock when simulated)."""
        fn = getattr(self.device.transport, "now", None)
        return int(fn()) if callable(fn) else int(time.time())

    def status(self) -> T.Status:
        """DIOCGETSTATUS (`pfctl -si -v`)."""
        s = self.abi.new("pf_status")
        self.device.ioctl("DIOCGETSTATUS", s)
        return codec.decode_status(s, self.uptime(), self.now())

    def limits(self) -> dict[str, int]:
        """DIOCGETLIMIT for every PF_LIMIT_* (`pfctl -sm`)."""
        out = {}
        pl = self.abi.new("pfioc_limit")
        for index, name in enumerate(C.LIMIT_NAMES):
            pl.index = index
            self.device.ioctl("DIOCGETLIMIT", pl)
            out[name] = int(pl.limit)
        return out

    def timeouts(self) -> dict[str, int]:
        """DIOCGETTIMEOUT for every PFTM_* (`pfctl -st`)."""
        out = {}
        pt = self.abi.new("pfioc_tm")
        for index, name in C.TIMEOUT_NAMES.items():
            pt.timeout = index
            self.device.ioctl("DIOCGETTIMEOUT", pt)
            out[name] = int(pt.seconds)
        return out

    def syncookie_watermarks(self) -> tuple[int, int]:
        """DIOCGETSYNFLWATS: (high, low) in states."""
        w = self.abi.new("pfioc_synflwats")
        self.device.ioctl("DIOCGETSYNFLWATS", w)
        return int(w.hiwat), int(w.lowat)

    # --- interfaces ------------------------------------------------------------------

    def interfaces(self) -> list[T.Interface]:
        """DIOCIGETIFACES: every kif.  pfi_get_ifaces() fills at most size - 1 entries and answers
        with the size passed when it ran out of room, so "fits" means an answer below the size."""
        L = self.layout
        esize = ctypes.sizeof(L.pfi_kif)

        def attempt(n: int) -> tuple[int, list[T.Interface] | None]:
            buf = array(L.pfi_kif, n)
            io = self.abi.new("pfioc_iface", pfiio_buffer=ctypes.addressof(buf), pfiio_esize=esize, pfiio_size=n)
            self.device.ioctl("DIOCIGETIFACES", io)
            got = int(io.pfiio_size)
            if got >= n:
                return got, None
            self._iface_hint = max(self._iface_hint, got + 16)
            return got, codec.decode_interfaces(buf, got)

        return self._grow("DIOCIGETIFACES", self._iface_hint, attempt)

    # --- tables ----------------------------------------------------------------------

    def _table_io(self, anchor: str, table: str, buf: Any, esize: int, size: int, flags: int = 0) -> Any:
        io = self.abi.new("pfioc_table", pfrio_esize=esize, pfrio_size=size, pfrio_flags=flags)
        if buf is not None:
            io.pfrio_buffer = ctypes.addressof(buf)
        set_cstr(io.pfrio_table, "pfrt_anchor", anchor)
        set_cstr(io.pfrio_table, "pfrt_name", table)
        return io

    def tables(self, anchor: str | None = None, inactive: bool = False) -> list[T.Table]:
        """DIOCRGETTSTATS of one anchor's tables, or every anchor's (None: PFR_FLAG_ALLRSETS); only
        active tables (the kernel also lists an anchor table's inactive root, as `pfctl -sT` hides)."""
        L = self.layout
        esize = ctypes.sizeof(L.pfr_tstats)
        flags = C.PFR_FLAG_ALLRSETS if anchor is None else 0

        def attempt(n: int) -> tuple[int, list[T.Table] | None]:
            buf = array(L.pfr_tstats, n)
            io = self._table_io(anchor or "", "", buf, esize, n, flags)
            self.device.ioctl("DIOCRGETTSTATS", io)
            got = int(io.pfrio_size)
            if got > n:
                return got, None
            self._table_hint = max(self._table_hint, got + 16)
            return got, codec.decode_tables(buf, got, inactive)

        return self._grow("DIOCRGETTSTATS", self._table_hint, attempt)

    def table_addresses(self, anchor: str, table: str, stats: bool = True,
                        limit: int | None = None) -> list[T.TableAddress]:
        """DIOCRGETASTATS (or DIOCRGETADDRS without *stats*): the addresses of one table (only the
        first *limit* decoded: pf answers with the whole table either way)."""
        L = self.layout
        tag, request = ("pfr_astats", "DIOCRGETASTATS") if stats else ("pfr_addr", "DIOCRGETADDRS")
        cls = getattr(L, tag)
        esize = ctypes.sizeof(cls)

        def attempt(n: int) -> tuple[int, list[T.TableAddress] | None]:
            buf = array(cls, n)
            io = self._table_io(anchor, table, buf, esize, n)
            self.device.ioctl(request, io)
            got = int(io.pfrio_size)
            if got > n:
                return got, None
            n = got if limit is None else min(got, limit)
            return got, [codec.decode_address(buf[i], stats) for i in range(n)]

        return self._grow(request, 64, attempt)

    def _addr_buffer(self, entries: Sequence[tuple[T.IPNetwork, bool]], room: int | None = None) -> Any:
        """A ``pfr_addr`` array holding *entries* ((network, negated) pairs), with room for *room* entries
        (at least one: pf takes a valid pointer even for none)."""
        buf = (self.layout.pfr_addr * max(len(entries) if room is None else room, 1))()
        for slot, (net, neg) in zip(buf, entries, strict=False):
            codec.encode_address(slot, net, neg)
        return buf

    def change_addresses(self, request: str, anchor: str, table: str, entries: Sequence[tuple[T.IPNetwork, bool]],
                         flags: int = 0) -> T.TableChange:
        """DIOCRADDADDRS / DIOCRDELADDRS / DIOCRSETADDRS with *entries* ((network, negated) pairs);
        *flags* PFR_FLAG_DUMMY and/or PFR_FLAG_FEEDBACK (then each address's result is read back; a
        replace also reports the entries it deleted, in a buffer grown to the size pf asks for)."""
        L = self.layout
        esize = ctypes.sizeof(L.pfr_addr)
        room = len(entries)
        while True:
            buf = self._addr_buffer(entries, room)
            io = self._table_io(anchor, table, buf, esize, len(entries), flags)
            if request == "DIOCRSETADDRS":
                io.pfrio_size2 = room
            self.device.ioctl(request, io)
            if request != "DIOCRSETADDRS" or not flags & C.PFR_FLAG_FEEDBACK or io.pfrio_size2 <= room:
                break
            room = int(io.pfrio_size2)  # pfr_set_addrs() needs room for the deleted entries too
        results: tuple[T.AddressResult, ...] = ()
        if flags & C.PFR_FLAG_FEEDBACK:
            n = int(io.pfrio_size2) if request == "DIOCRSETADDRS" else len(entries)
            results = tuple(T.AddressResult(codec.decode_address(buf[i], False), codec.feedback(buf[i]))
                            for i in range(min(n, len(buf))))
        return T.TableChange(added=int(io.pfrio_nadd), deleted=int(io.pfrio_ndel), changed=int(io.pfrio_nchange),
                             results=results, dry_run=bool(flags & C.PFR_FLAG_DUMMY))

    def table_request(self, request: str, tables: Sequence[tuple[str, str, int]], flags: int = 0,
                      **fields: int) -> Any:
        """DIOCRADDTABLES / DIOCRDELTABLES / DIOCRCLRTSTATS / DIOCRSETTFLAGS over (anchor, name, flags)
        tables; returns the answered pfioc_table (its nadd/ndel/nchange)."""
        L = self.layout
        buf = (L.pfr_table * max(len(tables), 1))()
        for slot, (anchor, name, tflags) in zip(buf, tables, strict=False):
            set_cstr(slot, "pfrt_anchor", anchor)
            set_cstr(slot, "pfrt_name", name)
            slot.pfrt_flags = tflags
        io = self._table_io("", "", buf, ctypes.sizeof(L.pfr_table), len(tables), flags)
        for key, value in fields.items():
            setattr(io, key, value)
        self.device.ioctl(request, io)
        return io

    def table_call(self, request: str, anchor: str, table: str, flags: int = 0) -> Any:
        """DIOCRCLRTABLES / DIOCRCLRADDRS: a request naming one table (or anchor) and no buffer."""
        io = self._table_io(anchor, table, None, 0, 0, flags)
        self.device.ioctl(request, io)
        return io

    def test_addresses(self, anchor: str, table: str, entries: Sequence[tuple[T.IPNetwork, bool]]
                       ) -> tuple[int, list[tuple[str, T.TableAddress | None]]]:
        """DIOCRTSTADDRS with PFR_FLAG_REPLACE: how many match, and for each address its result and the
        table entry that decided it."""
        L = self.layout
        buf = self._addr_buffer(entries)
        io = self._table_io(anchor, table, buf, ctypes.sizeof(L.pfr_addr), len(entries), C.PFR_FLAG_REPLACE)
        self.device.ioctl("DIOCRTSTADDRS", io)
        out: list[tuple[str, T.TableAddress | None]] = []
        for i in range(len(entries)):
            result = codec.feedback(buf[i])
            out.append((result, codec.decode_address(buf[i], False) if result in ("match", "nomatch") else None))
        return int(io.pfrio_nadd), out

    def clear_address_stats(self, anchor: str, table: str, entries: Sequence[tuple[T.IPNetwork, bool]],
                            flags: int = 0) -> int:
        """DIOCRCLRASTATS: zero the counters of these addresses."""
        L = self.layout
        buf = self._addr_buffer(entries)
        io = self._table_io(anchor, table, buf, ctypes.sizeof(L.pfr_addr), len(entries), flags)
        self.device.ioctl("DIOCRCLRASTATS", io)
        return int(io.pfrio_nadd)  # pfrio_nzero

    # --- anchors and rules -------------------------------------------------------------

    def children(self, path: str) -> list[str]:
        """Names of the direct children of anchor *path* (DIOCGETRULESETS, then DIOCGETRULESET each)."""
        pr = self.abi.new("pfioc_ruleset")
        set_cstr(pr, "path", path)
        self.device.ioctl("DIOCGETRULESETS", pr)
        names = []
        for i in range(pr.nr):
            set_cstr(pr, "path", path)
            pr.nr = i
            self.device.ioctl("DIOCGETRULESET", pr)
            names.append(cstr(pr.name))
        return names

    def anchors(self) -> list[str]:
        """Every anchor path, depth first from the root (the library's one anchor walk)."""

        def walk() -> list[str]:
            # a stack of (anchor, its children not visited yet), not a recursive closure: that would
            # be a reference cycle per scrape, left for the garbage collector
            out: list[str] = []
            stack = [("", iter(self.children("")))]
            while stack:
                path, names = stack[-1]
                name = next(names, None)
                if name is None:
                    stack.pop()
                    continue
                child = f"{path}/{name}" if path else name
                out.append(child)
                if len(stack) <= C.PF_ANCHOR_STACK_MAX:  # deeper than pf itself evaluates: not listed
                    stack.append((child, iter(self.children(child))))
            return out

        return self._retry("DIOCGETRULESET", walk)

    def _walk(self, anchor: str, decode: Callable[[str, ctypes.Structure], R]) -> list[R]:
        """The one rule walk, each rule decoded by *decode(anchor, pfioc_rule)*."""
        def body(call: Callable[[ctypes.Structure], None], fail: Callable[[OSError], Exception],
                 pr: ctypes.Structure, nr: int) -> list[R]:
            out: list[R] = []
            append = out.append
            with codec.ends_at_enoent(fail):
                for i in range(nr):
                    pr.nr = i
                    call(pr)
                    append(decode(anchor, pr))
            return out

        return self._rule_walk(anchor, body)

    def _rule_walk(self, anchor: str, body: Callable[..., R]) -> R:
        """DIOCGETRULES, then *body(call, fail, pfioc_rule, count)* issuing DIOCGETRULE per rule into
        that one buffer with *call* (:meth:`Device.raw_caller`; *fail* maps its OSError), the ticket
        held and released; the device lock is held throughout."""
        dev = self.device
        with dev.ruleset_ticket(anchor) as (ticket, nr):
            pr = self.abi.new("pfioc_rule", ticket=ticket, action=C.PF_GET_NONE)
            set_cstr(pr, "anchor", anchor)
            return body(*dev.raw_caller("DIOCGETRULE"), pr, nr)

    def rule_counters(self, anchor: str = "") -> list[T.RuleCounters]:
        return self._retry("DIOCGETRULE", lambda: self._walk(anchor, self._rule_decoder.counters))

    def kernel_rules(self, anchor: str = "") -> list[KernelRule]:
        """Every rule of *anchor*, whole (for printing and JSON)."""
        return self._retry("DIOCGETRULE", lambda: self._walk(anchor, lambda _a, pr: self._rule_decoder.spec(pr)))

    def full_rules(self, anchor: str = "") -> list[tuple[T.RuleCounters, KernelRule]]:
        """Every rule of *anchor*: its counters and the whole rule, from the same DIOCGETRULE answer."""
        dec = self._rule_decoder
        return self._retry("DIOCGETRULE", lambda: self._walk(anchor, lambda a, pr: (dec.counters(a, pr), dec.spec(pr))))

    def rule_count(self, anchor: str) -> int:
        with self.device.ruleset_ticket(anchor) as (_ticket, nr):
            return int(nr)

    def iter_rulesets(self, anchors: Sequence[str] | None = None, texts: bool = False) -> Iterator[T.Ruleset]:
        """The rule tree's counters one ruleset at a time: the main ruleset, then *anchors* (by
        default :meth:`anchors`); with *texts* also each rule as ``pfctl -sr`` prints it (the same
        DIOCGETRULE answers, decoded whole).  Each walk is retried on its own; an anchor removed
        since the list was read (DIOCGETRULES: EINVAL) is left out."""
        def one(path: str) -> T.Ruleset:
            if not texts:
                return T.Ruleset(path, tuple(self.rule_counters(path)))
            dec = self._rule_decoder
            rules, printed = self._retry("DIOCGETRULE", lambda: self._rule_walk(
                path, lambda call, fail, pr, nr: dec.text_walk(call, fail, pr, nr, path)))
            return T.Ruleset(path, tuple(rules), tuple(printed))

        yield one("")
        for path in self.anchors() if anchors is None else anchors:
            try:
                rs = one(path)
            except PfInvalid as e:
                if e.request != "DIOCGETRULES":
                    raise
                continue  # the anchor is gone (the main ruleset's walk proved the request itself)
            yield rs

    def label_totals(self, anchors: Sequence[str] | None = None) -> Iterator[T.LabelTotals]:
        """The rule tree summed per label, one ruleset at a time (what the default rules collector
        exports), decoded straight from each DIOCGETRULE answer."""
        dec = self._rule_decoder

        def one(path: str) -> T.LabelTotals:
            def walk() -> T.LabelTotals:
                totals: dict[str, list[int]] = {}
                n = self._rule_walk(path, lambda call, fail, pr, nr: dec.label_walk(call, fail, pr, nr, totals))
                return T.LabelTotals(path, n, {k: tuple(v) for k, v in totals.items()})  # type: ignore[misc]  # eight ints

            return self._retry("DIOCGETRULE", walk)

        yield one("")
        for path in self.anchors() if anchors is None else anchors:
            try:
                lt = one(path)
            except PfInvalid as e:
                if e.request != "DIOCGETRULES":
                    raise
                continue
            yield lt

    # --- queues ------------------------------------------------------------------------

    def queue_count(self) -> int:
        pq = self.abi.new("pfioc_queue")
        self.device.ioctl("DIOCGETQUEUES", pq)
        return int(pq.nr)

    def queues(self) -> list[T.Queue]:
        """DIOCGETQUEUES, then DIOCGETQSTATS for each queue; restarted if the queue set changes."""
        return self._retry("DIOCGETQSTATS", self._queues)

    def _queues(self) -> list[T.Queue]:
        L = self.layout
        pq = self.abi.new("pfioc_queue")
        self.device.ioctl("DIOCGETQUEUES", pq)
        buf = array(ctypes.c_char, max(ctypes.sizeof(L.hfsc_class_stats), ctypes.sizeof(L.fqcodel_stats)))
        qs = self.abi.new("pfioc_qstats")
        out = []
        for i in range(pq.nr):
            qs.ticket = pq.ticket
            qs.nr = i
            qs.buf = ctypes.addressof(buf)
            qs.nbytes = len(buf)
            self.device.ioctl("DIOCGETQSTATS", qs)
            out.append(codec.decode_queue(L, qs.queue, buf, int(qs.nbytes)))
        return out

    # --- 7.9 limiters --------------------------------------------------------------------

    def state_limiters(self) -> list[T.StateLimiter]:
        """DIOCGETNSTATELIM from the lowest id up (7.9+; empty before).  ENOENT ends the list."""
        return [codec.decode_state_limiter(ioc) for ioc in
                self._limiters("DIOCGETNSTATELIM", "pfioc_statelim", C.PF_STATELIM_ID_MIN, C.PF_STATELIM_ID_MAX)]

    def source_limiters(self) -> list[T.SourceLimiter]:
        """DIOCGETNSOURCELIM from the lowest id up (7.9+).  ESRCH ends this list."""
        return [codec.decode_source_limiter(ioc) for ioc in
                self._limiters("DIOCGETNSOURCELIM", "pfioc_sourcelim", C.PF_SOURCELIM_ID_MIN,
                               C.PF_SOURCELIM_ID_MAX)]

    LIMITER_NAMES_TTL = 60.0  # seconds a rule text's limiter names may lag behind pf

    def limiter_names(self) -> dict[str, dict[int, str]]:
        """The limiters' names by id, read at most once a minute (rule texts print names, pf
        keeps ids; a renamed limiter shows under its new name within a minute)."""
        now = time.monotonic()
        if self._limiter_names is None or now - self._limiter_names[0] > self.LIMITER_NAMES_TTL:
            self._limiter_names = (now, self.read_limiter_names())
        return self._limiter_names[1]

    def read_limiter_names(self) -> dict[str, dict[int, str]]:
        """The limiters' names by id, read now: ``{"state": {id: name}, "source": {id: name}}``."""
        return {"state": {x.id: x.name for x in self.state_limiters()},
                "source": {x.id: x.name for x in self.source_limiters()}}

    def _limiters(self, request: str, tag: str, lowest: int, highest: int) -> Iterator[ctypes.Structure]:
        """Each limiter the kernel has, asking for the next id up (the same struct, reused: read it
        before asking for the next)."""
        if "limiters" not in self.features:
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

    # --- states ---------------------------------------------------------------------------

    def _decoder(self) -> codec.StateDecoder:
        if self._state_decoder is None:
            self._state_decoder = codec.StateDecoder(self.layout.pfsync_state)
        return self._state_decoder

    def states(self, max_states: int | None = None) -> Iterator[T.State]:
        """DIOCGETSTATES: every state (or the first *max_states*), decoded as they are consumed."""
        raw, count = self._state_buffer(max_states)
        dec = self._decoder()
        esize = dec.size
        for i in range(count):
            yield dec.decode(raw, i * esize)

    def count_states(self) -> Counter[tuple[str, str, int, str]]:
        """States counted by (interface, family, protocol, direction), without decoding addresses."""
        raw, count = self._state_buffer(None)
        counts: Counter[tuple[bytes, int, int, int]] = Counter(self._decoder().summaries(raw, count)())
        out: Counter[tuple[str, str, int, str]] = Counter()
        for (ifname, af, proto, d), n in counts.items():
            out[(cstr(ifname), codec.FAMILY_NAMES.get(af) or f"af{af}", proto,
                 codec.DIRECTION_NAMES.get(d) or str(d))] += n
        return out

    def state_count(self) -> int:
        """How many states the kernel has (DIOCGETSTATES with ps_len = 0), without reading them."""
        ps = self.abi.new("pfioc_states")
        self.device.ioctl("DIOCGETSTATES", ps)
        return int(ps.ps_len) // ctypes.sizeof(self.layout.pfsync_state)

    def _state_buffer(self, max_states: int | None = None) -> tuple[ctypes.Array[Any], int]:
        """The raw pfsync_state array and how many states it holds.  The kernel answers ps_len = 0
        with the bytes it needs and fills whole states up to ps_len with no truncation flag, so a
        completely filled buffer is grown and read again."""
        esize = ctypes.sizeof(self.layout.pfsync_state)
        ps = self.abi.new("pfioc_states")
        self.device.ioctl("DIOCGETSTATES", ps)
        need = int(ps.ps_len) // esize
        cap = None if max_states is None else max(0, max_states)

        def attempt(n: int) -> tuple[int, tuple[ctypes.Array[Any], int] | None]:
            want = n if cap is None else min(n, cap)
            if want == 0:
                return 0, (array(ctypes.c_char, 0), 0)
            buf = array(ctypes.c_char, want * esize)
            ps.ps_len = want * esize
            ps.ps_u.psu_buf = ctypes.addressof(buf)
            self.device.ioctl("DIOCGETSTATES", ps)
            got = int(ps.ps_len) // esize
            if got < want or (cap is not None and want == cap):
                return got, (buf, got)
            return want * 2, None

        return self._grow("DIOCGETSTATES", need + max(16, need // 16), attempt)  # room for states born meanwhile

    def kill_states(self, f: T.StateFilter) -> int:
        """DIOCKILLSTATES with the kernel-side conditions of *f* (the caller checked the others)."""
        psk = self.abi.new("pfioc_state_kill")
        if f.family:
            psk.psk_af = codec.FAMILY_NUMBERS[f.family]
        psk.psk_proto = f.protocol or 0
        for match, port, dst in ((f.source, f.source_port, psk.psk_src), (f.destination, f.destination_port,
                                                                          psk.psk_dst)):
            if match is not None:
                net = match.network
                codec.fill(dst.addr.v.a.addr, net.network_address.packed)
                codec.fill(dst.addr.v.a.mask, net.netmask.packed)
                dst.neg = 1 if match.negated else 0
            if port is not None:
                op, lo, hi = PORT_OPS[port.op], port.low, port.high
                if op == C.PF_OP_EQ:
                    # An exact port pair (PF_OP_EQ on both sides) switches DIOCKILLSTATES to a
                    # state-key lookup that ignores masks, negation and labels (pfioctl); the
                    # inclusive range p:p matches the same port through the general scan.
                    op, hi = C.PF_OP_RRG, lo
                dst.port_op = op
                dst.port[0] = _net16(lo)
                dst.port[1] = _net16(hi)
        if f.interface:
            set_cstr(psk, "psk_ifname", f.interface)
        if f.label:
            set_cstr(psk, "psk_label", f.label)
        psk.psk_rdomain = f.rdomain
        self.device.ioctl("DIOCKILLSTATES", psk)
        return int(psk.psk_killed)

    def kill_state_id(self, state_id: int, creator_id: int) -> int:
        """DIOCKILLSTATES by id, as pfctl -k id does: the id travels big-endian (htobe64), the
        creator id in network order; an id pf does not have is not an error (0 killed)."""
        psk = self.abi.new("pfioc_state_kill")
        psk.psk_pfcmp.id = int.from_bytes(state_id.to_bytes(8, "big"), sys.byteorder)
        psk.psk_pfcmp.creatorid = int.from_bytes(creator_id.to_bytes(4, "big"), sys.byteorder)
        try:
            self.device.ioctl("DIOCKILLSTATES", psk)
        except PfNotFound:
            return 0
        return int(psk.psk_killed)

    def clear_states(self, interface: str = "") -> int:
        """DIOCCLRSTATES: every state (of *interface* when given)."""
        psk = self.abi.new("pfioc_state_kill")
        if interface:
            set_cstr(psk, "psk_ifname", interface)
        self.device.ioctl("DIOCCLRSTATES", psk)
        return int(psk.psk_killed)

    # --- running ------------------------------------------------------------------------

    def set_running(self, running: bool) -> bool:
        """DIOCSTART / DIOCSTOP; False when pf already was so (EEXIST / ENOENT from pfioctl)."""
        try:
            self.device.ioctl("DIOCSTART" if running else "DIOCSTOP")
        except PfError as e:
            if e.errno == (errno.EEXIST if running else errno.ENOENT):
                return False
            raise
        return True

    # --- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, rulesets: Sequence[str], kinds: Sequence[int] = (C.PF_TRANS_RULESET, C.PF_TRANS_TABLE)
                    ) -> Iterator[Transaction]:
        """The library's one transaction: DIOCXBEGIN for *kinds* of each of *rulesets*, the body, then
        DIOCXCOMMIT.  Any failure, at any step including DIOCXBEGIN itself, ends in DIOCXROLLBACK of
        every element: DIOCXBEGIN copies each element's ticket out as soon as that element began
        (pf_ioctl.c), so the rollback names exactly what was begun (elements that never began keep
        ticket 0, which no open transaction has, and are ignored by the kernel).  The device lock is
        held throughout, so no other request of this process interleaves."""
        L = self.layout
        # the rules element before the tables element of each ruleset: rolling back the tables
        # (pfr_ina_rollback) is what removes a ruleset left empty (pf_remove_if_empty_ruleset), and it
        # only can once the rules element is closed
        entries = [(kind, path) for path in rulesets for kind in kinds]
        elems = (L.pfioc_trans_e * len(entries))()
        for e, (kind, path) in zip(elems, entries, strict=True):
            e.type = kind
            set_cstr(e, "anchor", path)
        trans = self.abi.new("pfioc_trans", size=len(entries), esize=ctypes.sizeof(L.pfioc_trans_e),
                             array=ctypes.addressof(elems))
        with self.device.lock:
            try:
                self.device.ioctl("DIOCXBEGIN", trans)
                yield Transaction(self, elems)
                self.device.ioctl("DIOCXCOMMIT", trans)
            except BaseException:
                self._rollback(trans)
                raise

    def _rollback(self, trans: ctypes.Structure) -> None:
        # DIOCXROLLBACK ignores stale tickets (pf_rollback_rules, pfr_ina_rollback), so it is safe
        # after any failure; its own failure must not hide the original error.
        try:
            self.device.ioctl("DIOCXROLLBACK", trans)
        except PfError:
            pass

    def load(self, plan: Any, tables_only: bool = False,
             options: Callable[[Transaction], None] | None = None) -> None:
        """Load a compiled ruleset (:class:`._compile.CompiledRuleset`) in one transaction (only its
        tables with *tables_only*, as ``pfctl -T load``); raises :class:`PfLoadError` naming the part
        pf refused, after rolling back.  A main-ruleset load also adds its queues and, through
        *options*, sets its runtime options inside the same transaction (pfctl_load_options)."""
        stage, source, line = "begin", "", None
        kinds = (C.PF_TRANS_TABLE,) if tables_only else (C.PF_TRANS_RULESET, C.PF_TRANS_TABLE)
        try:
            with self.transaction(plan.ruleset_paths, kinds) as tx:
                stage = "table"
                for ct in plan.tables:
                    source, line = _where(ct.source.line, "table")
                    tx.define_table(ct.path, ct.table, ct.addresses if ct.source.init_addr else None)
                if plan.anchor == "" and not tables_only:
                    # queues before the rules: DIOCADDRULE resolves a rule's queue name to the qid
                    # DIOCADDQUEUE made (pf_qname2qid), EBUSY otherwise
                    stage, source, line = "queue", "queue", None
                    for q in plan.queues:
                        tx.add_queue(q)
                    stage, source, line = "limiter", "state limiter", None
                    for ioc in plan.state_limiters:
                        tx.add_limiter("DIOCADDSTATELIM", ioc)
                    source = "source limiter"
                    for ioc in plan.source_limiters:
                        tx.add_limiter("DIOCADDSOURCELIM", ioc)
                stage = "rule"
                for cr in () if tables_only else plan.rules:
                    source, line = _where(cr.source.line, "rule")
                    tx.add_rule(cr.path, cr.rule, cr.anchor_call)
                if options is not None:
                    stage, source, line = "option", "set option", None
                    options(tx)
                stage, source, line = "commit", "", None
        except PfError as e:
            raise PfLoadError(stage, _load_message(stage, e, source), cause=e, source=source, line=line) from None


def _where(line: int, what: str) -> tuple[str, int | None]:
    return (f"line {line}", line) if line else (what, None)


def _load_message(stage: str, e: PfError, source: str) -> str:
    if stage in ("table", "rule", "queue"):
        return f"pf rejected {source or stage} ({e.request}: {e.strerror}); the load was rolled back, nothing changed"
    if stage == "begin" and e.errno in (errno.EINVAL, errno.ENOMEM):
        # pf_begin_rules/pfr_ina_begin fail when pf_find_or_create_ruleset cannot make a ruleset:
        # a name pf refuses, or the anchor pool is at `set limit anchors`
        return (f"pf could not open the load's rulesets ({e.request}: {e.strerror}): an anchor name it refuses, or "
                "its anchor limit (`set limit anchors`) is reached; the load was rolled back, nothing changed")
    if stage == "commit" and isinstance(e, PfBusy):
        return ("pf is busy: someone else began changing this anchor during the load (EBUSY at commit); the load "
                "was rolled back and nothing changed, retry")
    return f"{e}; the load was rolled back, nothing changed"
