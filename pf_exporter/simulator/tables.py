"""pf's table subsystem (net/pf_table.c) as the simulator keeps it.

Every public method mirrors one ``pfr_*`` function of pf_table.c (named in its
docstring) with the same flag checks, counts and errno values.  Entries live in a
dict keyed by (family, address, prefix); an exact lookup is a dict lookup, which is
what the radix lookups with ``exact = 1`` amount to.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from typing import Protocol

from ..abi import constants as C
from .clock import SimClock
from .ktable import (
    RESERVED_ANCHOR,
    SETMASK,
    USERIOCTL,
    USRMASK,
    Addr,
    KEntry,
    KTable,
    Shadow,
    TableRequest,
    accept_flags,
    family_bits,
    fix_anchor,
)
from .objects import SimAnchor
from .wire import KernelError


class Rulesets(Protocol):
    """What the table store needs of the kernel model: its clock and its rulesets (pf_ruleset.c)."""

    clock: SimClock
    main: SimAnchor
    limits: list[int]  # the pools' hard limits, by PF_LIMIT_*

    def find_ruleset(self, path: str) -> SimAnchor | None: ...
    def find_or_create_ruleset(self, path: str) -> SimAnchor | None: ...
    def remove_if_empty_ruleset(self, rs: SimAnchor | None) -> None: ...


class TableStore:
    """``pfr_ktables`` (the RB tree of all tables) and the pfr_* operations on it."""

    def __init__(self, sim: Rulesets) -> None:
        self.sim = sim
        self.tables: dict[tuple[str, str], KTable] = {}  # (name, anchor) -> table
        self._order: list[KTable] | None = None

    # --- helpers ---------------------------------------------------------------

    def now(self) -> int:
        return self.sim.clock.now()

    def ordered(self) -> list[KTable]:
        """The tables in RB-tree order (pfr_ktable_compare)."""
        if self._order is None:
            self._order = sorted(self.tables.values(), key=lambda t: t.key)
        return self._order

    def lookup(self, name: str, anchor: str) -> KTable | None:
        """pfr_lookup_table()."""
        return self.tables.get((name, anchor))

    def entry_count(self) -> int:
        """Every pfr_kentry allocated (pfr_kentry_pl's pr_nout): the tables' entries and those of the
        shadow tables open transactions defined."""
        return sum(len(t.entries) + (len(t.shadow.entries) if t.shadow is not None and t.shadow.entries else 0)
                   for t in self.tables.values())

    def _allocate(self, n: int) -> None:
        """pool_get(&pfr_kentry_pl) for *n* new entries: ENOMEM past ``set limit table-entries``, the
        pool's hard limit (the kernel then frees what the call had made: nothing changes)."""
        if n and self.entry_count() + n > self.sim.limits[C.PF_LIMIT_TABLE_ENTRIES]:
            raise KernelError(errno.ENOMEM)

    def validate_table(self, t: TableRequest, allowed: int, no_reserved: bool) -> bool:
        """pfr_validate_table()."""
        name = t.name_raw
        if not name[:1] or name[0] == 0:
            return False
        ok, anchor = fix_anchor(t.anchor_raw)
        if no_reserved and anchor == RESERVED_ANCHOR:
            return False
        if len(name) < C.PF_TABLE_NAME_SIZE or name[C.PF_TABLE_NAME_SIZE - 1]:
            return False
        n = name.find(b"\0")
        if name[n:].strip(b"\0"):
            return False
        if not ok:
            return False
        return not (t.flags & ~allowed)

    def create_ktable(self, name: str, anchor: str, flags: int, tzero: int, attach: bool) -> KTable:
        """pfr_create_ktable()."""
        kt = KTable(name, anchor, flags, tzero)
        if attach:
            rs = self.sim.find_or_create_ruleset(anchor)
            if rs is None:
                raise KernelError(errno.ENOMEM)
            kt.rs = rs
            rs.tables += 1
        return kt

    def destroy_ktable(self, kt: KTable) -> None:
        """pfr_destroy_ktable(): detach from its ruleset, which may go away when empty."""
        kt.shadow = None
        if kt.rs is not None:
            kt.rs.tables -= 1
            rs, kt.rs = kt.rs, None
            self.sim.remove_if_empty_ruleset(rs)

    def insert_ktable(self, kt: KTable) -> None:
        """pfr_insert_ktable()."""
        self.tables[(kt.name, kt.anchor)] = kt
        self._order = None
        if kt.root is not None:
            kt.root.refcnt[C.PFR_REFCNT_ANCHOR] += 1
            if kt.root.refcnt[C.PFR_REFCNT_ANCHOR] == 1:
                self.setflags_ktable(kt.root, kt.root.flags | C.PFR_TFLAG_REFDANCHOR)

    def setflags_ktable(self, kt: KTable, newf: int) -> None:
        """pfr_setflags_ktable(): a table no rule, anchor or `persist` holds loses ACTIVE; one
        with none of the SETMASK flags left is removed."""
        if not newf & (C.PFR_TFLAG_REFERENCED | C.PFR_TFLAG_REFDANCHOR | C.PFR_TFLAG_PERSIST):
            newf &= ~C.PFR_TFLAG_ACTIVE
        if not newf & C.PFR_TFLAG_ACTIVE:
            newf &= ~USRMASK
        if not newf & SETMASK:
            self.tables.pop((kt.name, kt.anchor), None)
            self._order = None
            root = kt.root
            if root is not None:
                root.refcnt[C.PFR_REFCNT_ANCHOR] -= 1
                if root.refcnt[C.PFR_REFCNT_ANCHOR] == 0:
                    self.setflags_ktable(root, root.flags & ~C.PFR_TFLAG_REFDANCHOR)
            self.destroy_ktable(kt)
            return
        if not newf & C.PFR_TFLAG_ACTIVE and kt.entries:
            kt.entries = {}
        if not newf & C.PFR_TFLAG_INACTIVE and kt.shadow is not None:
            kt.shadow = None
        kt.flags = newf

    def _setflags_all(self, work: Iterable[KTable]) -> None:
        for kt in list(work):
            self.setflags_ktable(kt, kt.nflags)

    def table_count(self, anchor: str, flags: int) -> int:
        """pfr_table_count()."""
        if flags & C.PFR_FLAG_ALLRSETS:
            return len(self.tables)
        if anchor:
            rs = self.sim.find_ruleset(anchor)
            return rs.tables if rs is not None else -1
        return self.sim.main.tables

    @staticmethod
    def skip_table(anchor: str, kt: KTable, flags: int) -> bool:
        """pfr_skip_table()."""
        if flags & C.PFR_FLAG_ALLRSETS:
            return False
        return anchor != kt.anchor

    def _active_table(self, t: TableRequest) -> KTable:
        kt = self.lookup(t.name, t.anchor)
        if kt is None or not kt.active:
            raise KernelError(errno.ESRCH)
        return kt

    # --- whole tables ----------------------------------------------------------

    def clr_tables(self, filt: TableRequest, flags: int) -> int:
        """pfr_clr_tables(): deactivate every active table of an anchor (or all)."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_ALLRSETS)
        ok, anchor = fix_anchor(filt.anchor_raw)
        if not ok:
            raise KernelError(errno.EINVAL)
        if self.table_count(anchor, flags) < 0:
            raise KernelError(errno.ENOENT)
        work = []
        for kt in self.ordered():
            if self.skip_table(anchor, kt, flags) or kt.anchor == RESERVED_ANCHOR or not kt.active:
                continue
            kt.nflags = kt.flags & ~C.PFR_TFLAG_ACTIVE
            work.append(kt)
        if not flags & C.PFR_FLAG_DUMMY:
            self._setflags_all(work)
        return len(work)

    def add_tables(self, reqs: list[TableRequest], flags: int) -> int:
        """pfr_add_tables(): create tables (flags | ACTIVE), re-activate inactive ones."""
        accept_flags(flags, C.PFR_FLAG_DUMMY)
        fresh: list[tuple[str, str, int]] = []
        for t in reqs:
            if not self.validate_table(t, USRMASK, bool(flags & USERIOCTL)):
                raise KernelError(errno.EINVAL)
            item = (t.name, t.anchor, t.flags | C.PFR_TFLAG_ACTIVE)
            if any(f[0] == item[0] and f[1] == item[1] for f in fresh):
                continue
            fresh.append(item)
        tzero = self.now()
        xadd = 0
        adds: list[tuple[str, str, int]] = []
        changes: list[KTable] = []
        for name, anchor, tflags in fresh:
            p = self.lookup(name, anchor)
            if p is None:
                adds.append((name, anchor, tflags))
                xadd += 1
            elif not flags & C.PFR_FLAG_DUMMY and not p.active:
                p.nflags = (p.flags & ~USRMASK) | (tflags & USRMASK) | C.PFR_TFLAG_ACTIVE
                changes.append(p)
        if not flags & C.PFR_FLAG_DUMMY:
            for name, anchor, tflags in adds:
                kt = self.create_ktable(name, anchor, tflags, tzero, attach=True)
                if anchor:
                    kt.root, new = self._root_table(name)
                    if new:
                        self.insert_ktable(kt.root)
                self.insert_ktable(kt)
            self._setflags_all(changes)
        return xadd

    def del_tables(self, reqs: list[TableRequest], flags: int) -> int:
        """pfr_del_tables(): deactivate the named tables."""
        accept_flags(flags, C.PFR_FLAG_DUMMY)
        work: list[KTable] = []
        for t in reqs:
            if not self.validate_table(t, 0, bool(flags & USERIOCTL)):
                raise KernelError(errno.EINVAL)
            p = self.lookup(t.name, t.anchor)
            if p is not None and p.active and p not in work:
                p.nflags = p.flags & ~C.PFR_TFLAG_ACTIVE
                work.append(p)
        if not flags & C.PFR_FLAG_DUMMY:
            self._setflags_all(work)
        return len(work)

    def listing(self, filt: TableRequest, size: int, flags: int) -> tuple[int, list[KTable]]:
        """pfr_get_tables() / pfr_get_tstats(): (count, tables to copy out; empty when *size* is too small)."""
        accept_flags(flags, C.PFR_FLAG_ALLRSETS)
        ok, anchor = fix_anchor(filt.anchor_raw)
        if not ok:
            raise KernelError(errno.EINVAL)
        n = self.table_count(anchor, flags)
        if n < 0:
            raise KernelError(errno.ENOENT)
        if n > size:
            return n, []
        out = [kt for kt in self.ordered() if not self.skip_table(anchor, kt, flags)][:n]
        return n, out

    def clr_tstats(self, reqs: list[TableRequest], flags: int) -> int:
        """pfr_clr_tstats()."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_ADDRSTOO)
        work = []
        for t in reqs:
            if not self.validate_table(t, 0, False):
                raise KernelError(errno.EINVAL)
            p = self.lookup(t.name, t.anchor)
            if p is not None:
                work.append(p)
        if not flags & C.PFR_FLAG_DUMMY:
            for p in work:
                p.clstats(self.now(), bool(flags & C.PFR_FLAG_ADDRSTOO))
        return len(work)

    def set_tflags(self, reqs: list[TableRequest], setflag: int, clrflag: int, flags: int) -> tuple[int, int]:
        """pfr_set_tflags(): returns (nchange, ndel)."""
        accept_flags(flags, C.PFR_FLAG_DUMMY)
        if setflag & ~USRMASK or clrflag & ~USRMASK or setflag & clrflag:
            raise KernelError(errno.EINVAL)
        work: list[KTable] = []
        xchange = xdel = 0
        for t in reqs:
            if not self.validate_table(t, 0, bool(flags & USERIOCTL)):
                raise KernelError(errno.EINVAL)
            p = self.lookup(t.name, t.anchor)
            if p is None or not p.active:
                continue
            p.nflags = (p.flags | setflag) & ~clrflag
            if p.nflags == p.flags or p in work:
                continue
            work.append(p)
            if p.flags & C.PFR_TFLAG_PERSIST and clrflag & C.PFR_TFLAG_PERSIST and \
                    not p.flags & C.PFR_TFLAG_REFERENCED:
                xdel += 1
            else:
                xchange += 1
        if not flags & C.PFR_FLAG_DUMMY:
            self._setflags_all(work)
        return xchange, xdel

    # --- addresses ---------------------------------------------------------------

    def _writable_table(self, t: TableRequest, flags: int, allowed: int = 0) -> KTable:
        if not self.validate_table(t, allowed, bool(flags & USERIOCTL)):
            raise KernelError(errno.EINVAL)
        kt = self._active_table(t)
        if kt.flags & C.PFR_TFLAG_CONST:
            raise KernelError(errno.EPERM)
        return kt

    def clr_addrs(self, t: TableRequest, flags: int) -> int:
        """pfr_clr_addrs()."""
        accept_flags(flags, C.PFR_FLAG_DUMMY)
        kt = self._writable_table(t, flags)
        n = len(kt.entries)
        if not flags & C.PFR_FLAG_DUMMY:
            kt.entries = {}
        return n

    def add_addrs(self, t: TableRequest, addrs: list[Addr], flags: int,
                  feedback: Callable[[int, Addr, int], None]) -> int:
        """pfr_add_addrs(): returns nadd; *feedback(i, addr, PFR_FB_*)* writes pfra_fback back."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_FEEDBACK)
        if not self.validate_table(t, 0, bool(flags & USERIOCTL)):
            raise KernelError(errno.EINVAL)
        self._check_addrs(addrs, flags, feedback)
        try:
            kt = self._active_table(t)
            if kt.flags & C.PFR_TFLAG_CONST:
                raise KernelError(errno.EPERM)
        except KernelError:
            self._reset_feedback(addrs, flags, feedback)
            raise
        seen: set[tuple[int, bytes, int]] = set()
        fb: list[int] = []
        add: list[Addr] = []
        for a in addrs:
            p = kt.entries.get(a.key)
            dup = a.key in seen
            if dup:
                code = C.PFR_FB_DUPLICATE
            elif p is None:
                code = C.PFR_FB_ADDED
            elif p.neg != bool(a.neg):
                code = C.PFR_FB_CONFLICT
            else:
                code = C.PFR_FB_NONE
            if p is None and not dup:
                seen.add(a.key)
                add.append(a)
            fb.append(code)
        try:
            self._allocate(len(add))  # made (and counted) even for a dummy run
        except KernelError:
            self._reset_feedback(addrs, flags, feedback)
            raise
        if not flags & C.PFR_FLAG_DUMMY:
            tzero = self.now()
            counts = bool(kt.flags & C.PFR_TFLAG_COUNTERS)
            for a in add:
                kt.entries[a.key] = KEntry(a, tzero, counts)
        if flags & C.PFR_FLAG_FEEDBACK:
            for i, a in enumerate(addrs):
                feedback(i, a, fb[i])
        return len(add)

    def del_addrs(self, t: TableRequest, addrs: list[Addr], flags: int,
                  feedback: Callable[[int, Addr, int], None]) -> int:
        """pfr_del_addrs(): returns ndel."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_FEEDBACK)
        kt = self._writable_table(t, flags)
        self._check_addrs(addrs, flags, feedback)
        marked: set[tuple[int, bytes, int]] = set()
        for i, a in enumerate(addrs):
            p = kt.entries.get(a.key)
            if flags & C.PFR_FLAG_FEEDBACK:
                if p is None:
                    code = C.PFR_FB_NONE
                elif p.neg != bool(a.neg):
                    code = C.PFR_FB_CONFLICT
                elif a.key in marked:
                    code = C.PFR_FB_DUPLICATE
                else:
                    code = C.PFR_FB_DELETED
                feedback(i, a, code)
            if p is not None and p.neg == bool(a.neg) and a.key not in marked:
                marked.add(a.key)
        if not flags & C.PFR_FLAG_DUMMY:
            for k in marked:
                del kt.entries[k]
        return len(marked)

    def set_addrs(self, t: TableRequest, addrs: list[Addr], size2: int, flags: int,  # noqa: C901 - mirrors pfr_set_addrs()
                  feedback: Callable[[int, Addr, int], None],
                  deleted: Callable[[int, KEntry], None]) -> tuple[int, int, int, int]:
        """pfr_set_addrs(): make the table hold exactly *addrs*; returns (nadd, ndel, nchange, size2)."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_FEEDBACK)
        kt = self._writable_table(t, flags)
        self._check_addrs(addrs, flags, feedback)
        marked: set[tuple[int, bytes, int]] = set()
        adds: dict[tuple[int, bytes, int], Addr] = {}
        changes: list[KEntry] = []
        codes = []
        for a in addrs:
            p = kt.entries.get(a.key)
            if p is not None:
                if a.key in marked:
                    codes.append(C.PFR_FB_DUPLICATE)
                    continue
                marked.add(a.key)
                if p.neg != bool(a.neg):
                    changes.append(p)
                    codes.append(C.PFR_FB_CHANGED)
                else:
                    codes.append(C.PFR_FB_NONE)
            elif a.key in adds:
                codes.append(C.PFR_FB_DUPLICATE)
            else:
                adds[a.key] = a
                codes.append(C.PFR_FB_ADDED)
        dels = [e for k, e in kt.entries.items() if k not in marked]
        try:
            self._allocate(len(adds))  # the new entries exist before the old ones are freed
        except KernelError:
            self._reset_feedback(addrs, flags, feedback)
            raise
        if flags & C.PFR_FLAG_FEEDBACK:
            for i, a in enumerate(addrs):
                feedback(i, a, codes[i])
        if flags & C.PFR_FLAG_FEEDBACK and size2:
            if size2 < len(addrs) + len(dels):
                # the kernel's senderr(0): report the size needed, change nothing
                self._reset_feedback(addrs, flags, feedback)
                raise _NeedMore(len(addrs) + len(dels))
            for i, e in enumerate(dels):
                deleted(len(addrs) + i, e)
        if not flags & C.PFR_FLAG_DUMMY:
            tzero = self.now()
            counts = bool(kt.flags & C.PFR_TFLAG_COUNTERS)
            for a in adds.values():
                kt.entries[a.key] = KEntry(a, tzero, counts)
            for e in dels:
                del kt.entries[e.key]
            for e in changes:
                e.neg = not e.neg
                e.clear(tzero)
        out_size2 = len(addrs) + len(dels) if flags & C.PFR_FLAG_FEEDBACK else size2
        return len(adds), len(dels), len(changes), out_size2

    def tst_addrs(self, t: TableRequest, addrs: list[Addr], flags: int,
                  result: Callable[[int, Addr, KEntry | None, int], None]) -> int:
        """pfr_tst_addrs(): longest-prefix match of host addresses; returns nmatch."""
        accept_flags(flags, C.PFR_FLAG_REPLACE)
        if not self.validate_table(t, 0, False):
            raise KernelError(errno.EINVAL)
        kt = self._active_table(t)
        n = 0
        for i, a in enumerate(addrs):
            if not a.valid() or a.net < family_bits(a.af):
                raise KernelError(errno.EINVAL)
            p = self.match(kt, a.af, a.addr)
            code = C.PFR_FB_NONE if p is None else (C.PFR_FB_NOTMATCH if p.neg else C.PFR_FB_MATCH)
            if p is not None and not p.neg:
                n += 1
            result(i, a, p, code)
        return n

    @staticmethod
    def match(kt: KTable, af: int, addr: bytes) -> KEntry | None:
        """rn_match(): the most specific entry containing *addr* (entries are stored with the bits
        past their prefix zero, as pfr_validate_addr requires, so each prefix length is one lookup)."""
        n = 4 if af == C.AF_INET else 16
        bits = family_bits(af)
        a = int.from_bytes(addr[:n], "big")
        entries = kt.entries
        for net in range(bits, -1, -1):
            masked = (a >> (bits - net) << (bits - net)) if net else 0
            e = entries.get((af, masked.to_bytes(n, "big") + bytes(16 - n), net))
            if e is not None:
                return e
        return None

    def get_addrs(self, t: TableRequest, size: int, flags: int) -> tuple[int, list[KEntry]]:
        """pfr_get_addrs(): (count, entries); no entries when *size* is too small."""
        accept_flags(flags, 0)
        if not self.validate_table(t, 0, False):
            raise KernelError(errno.EINVAL)
        kt = self._active_table(t)
        if len(kt.entries) > size:
            return len(kt.entries), []
        return len(kt.entries), kt.sorted_entries()

    def get_astats(self, t: TableRequest, size: int, flags: int) -> tuple[int, list[KEntry], Callable[[], None]]:
        """pfr_get_astats(): like get_addrs; the returned callable clears stats (PFR_FLAG_CLSTATS)."""
        if not self.validate_table(t, 0, False):
            raise KernelError(errno.EINVAL)
        kt = self._active_table(t)
        if len(kt.entries) > size:
            return len(kt.entries), [], lambda: None
        entries = kt.sorted_entries()

        def clear() -> None:
            if flags & C.PFR_FLAG_CLSTATS:
                tz = self.now()
                for e in entries:
                    e.clear(tz)

        return len(entries), entries, clear

    def clr_astats(self, t: TableRequest, addrs: list[Addr], flags: int,
                   feedback: Callable[[int, Addr, int], None]) -> int:
        """pfr_clr_astats()."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_FEEDBACK)
        if not self.validate_table(t, 0, False):
            raise KernelError(errno.EINVAL)
        kt = self._active_table(t)
        for a in addrs:
            if not a.valid():
                raise KernelError(errno.EINVAL)
        work = []
        for i, a in enumerate(addrs):
            p = kt.entries.get(a.key)
            if flags & C.PFR_FLAG_FEEDBACK:
                feedback(i, a, C.PFR_FB_CLEARED if p is not None else C.PFR_FB_NONE)
            if p is not None:
                work.append(p)
        if not flags & C.PFR_FLAG_DUMMY:
            tz = self.now()
            for p in work:
                p.clear(tz)
        return len(work)

    @classmethod
    def _check_addrs(cls, addrs: list[Addr], flags: int, feedback: Callable[[int, Addr, int], None]) -> None:
        """EINVAL for an invalid address (pfr_validate_addr()), after resetting the feedback."""
        for a in addrs:
            if not a.valid():
                cls._reset_feedback(addrs, flags, feedback)
                raise KernelError(errno.EINVAL)

    @staticmethod
    def _reset_feedback(addrs: list[Addr], flags: int, feedback: Callable[[int, Addr, int], None]) -> None:
        """pfr_reset_feedback()."""
        if flags & C.PFR_FLAG_FEEDBACK:
            for i, a in enumerate(addrs):
                feedback(i, a, C.PFR_FB_NONE)

    # --- transactions (inactive tables) -----------------------------------------

    def ina_begin(self, anchor: str) -> int:
        """pfr_ina_begin(): drop the anchor's previous inactive tables; returns the new ticket."""
        rs = self.sim.find_or_create_ruleset(anchor)
        if rs is None:
            raise KernelError(errno.ENOMEM)
        self._drop_inactive(anchor)
        rs.tticket = (rs.tticket + 1) & 0xFFFFFFFF
        rs.topen = True
        return rs.tticket

    def ina_define(self, t: TableRequest, addrs: list[Addr], ticket: int, flags: int) -> tuple[int, int]:
        """pfr_ina_define(): define a table (and its addresses) in an open transaction; (nadd, naddr)."""
        accept_flags(flags, C.PFR_FLAG_DUMMY | C.PFR_FLAG_ADDRSTOO)
        if addrs and not flags & C.PFR_FLAG_ADDRSTOO:
            raise KernelError(errno.EINVAL)
        if not self.validate_table(t, USRMASK, bool(flags & USERIOCTL)):
            raise KernelError(errno.EINVAL)
        name, anchor = t.name, t.anchor
        rs = self.sim.find_ruleset(anchor)
        if rs is None or not rs.topen or ticket != rs.tticket:
            raise KernelError(errno.EBUSY)
        tflags = t.flags | C.PFR_TFLAG_INACTIVE
        for a in addrs:
            if not a.valid():
                raise KernelError(errno.EINVAL)
        shadow_entries: dict[tuple[int, bytes, int], Addr] = {}
        for a in addrs:
            shadow_entries.setdefault(a.key, a)
        xadd = 0
        kt = self.lookup(name, anchor)
        replaced = len(kt.shadow.entries) if kt is not None and kt.shadow is not None and kt.shadow.entries else 0
        self._allocate(max(0, len(shadow_entries) - replaced))  # the shadow's entries
        new_tables: list[KTable] = []
        if kt is None:
            xadd = 1
            if flags & C.PFR_FLAG_DUMMY:
                return xadd, len(shadow_entries)
            kt = self.create_ktable(name, anchor, tflags, 0, attach=True)
            new_tables.append(kt)
            if anchor:
                kt.root, new = self._root_table(name)
                if new:
                    new_tables.append(kt.root)
        elif not kt.flags & C.PFR_TFLAG_INACTIVE:
            xadd = 1
        if flags & C.PFR_FLAG_DUMMY:
            return xadd, len(shadow_entries)
        kt.flags |= C.PFR_TFLAG_INACTIVE
        for nt in reversed(new_tables):  # the root first, so the child's insert marks it REFDANCHOR
            self.insert_ktable(nt)
        kt.shadow = Shadow(tflags, shadow_entries if flags & C.PFR_FLAG_ADDRSTOO else None)
        return xadd, len(shadow_entries)

    def _root_table(self, name: str) -> tuple[KTable, bool]:
        """The main ruleset's table *name* that an anchor's table of that name hangs off (pfr's
        kt_root), created (not yet inserted) when missing; and whether it was created."""
        root = self.lookup(name, "")
        if root is not None:
            return root, False
        return self.create_ktable(name, "", 0, 0, attach=True), True

    def _drop_inactive(self, anchor: str) -> int:
        """Clear PFR_TFLAG_INACTIVE on the anchor's tables (pfr_ina_begin/pfr_ina_rollback); how many."""
        work = []
        for kt in self.ordered():
            if not kt.flags & C.PFR_TFLAG_INACTIVE or self.skip_table(anchor, kt, 0):
                continue
            kt.nflags = kt.flags & ~C.PFR_TFLAG_INACTIVE
            work.append(kt)
        self._setflags_all(work)
        return len(work)

    def ina_rollback(self, anchor: str, ticket: int) -> int:
        """pfr_ina_rollback(): a stale ticket is silently ignored."""
        rs = self.sim.find_ruleset(anchor)
        if rs is None or not rs.topen or ticket != rs.tticket:
            return 0
        dropped = self._drop_inactive(anchor)
        rs.topen = False
        self.sim.remove_if_empty_ruleset(rs)
        return dropped

    def ina_check(self, anchor: str, ticket: int) -> bool:
        rs = self.sim.find_ruleset(anchor)
        return rs is not None and rs.topen and ticket == rs.tticket

    def ina_commit(self, anchor: str, ticket: int) -> tuple[int, int]:
        """pfr_ina_commit(): make the anchor's inactive tables the active ones; (nadd, nchange)."""
        rs = self.sim.find_ruleset(anchor)
        if rs is None or not rs.topen or ticket != rs.tticket:
            raise KernelError(errno.EBUSY)
        work = [kt for kt in self.ordered()
                if kt.flags & C.PFR_TFLAG_INACTIVE and not self.skip_table(anchor, kt, 0)]
        xadd = sum(1 for kt in work if not kt.active)
        tzero = self.now()
        for kt in work:
            self.commit_ktable(kt, tzero)
        rs.topen = False
        self.sim.remove_if_empty_ruleset(rs)
        return xadd, len(work) - xadd

    def commit_ktable(self, kt: KTable, tzero: int) -> None:
        """pfr_commit_ktable(): merge the shadow into the table, keeping counters of kept entries."""
        shadow = kt.shadow
        assert shadow is not None
        counts = bool(shadow.flags & C.PFR_TFLAG_COUNTERS)
        if shadow.entries is None:
            if not kt.active:
                kt.clstats(tzero, True)
        elif kt.active:
            keep: set[tuple[int, bytes, int]] = set()
            for key, a in shadow.entries.items():
                q = kt.entries.get(key)
                if q is not None:
                    if q.neg != bool(a.neg):
                        q.neg = not q.neg
                        q.clear(tzero)
                    keep.add(key)
                else:
                    kt.entries[key] = KEntry(a, tzero, counts)
                    keep.add(key)
            for key in [k for k in kt.entries if k not in keep]:
                del kt.entries[key]
        else:
            kt.entries = {key: KEntry(a, tzero, counts) for key, a in shadow.entries.items()}
            kt.clstats(tzero, True)
        nflags = ((shadow.flags & USRMASK) | (kt.flags & SETMASK) | C.PFR_TFLAG_ACTIVE) & ~C.PFR_TFLAG_INACTIVE
        kt.shadow = None
        self.setflags_ktable(kt, nflags)

    # --- rules referencing tables --------------------------------------------------

    def attach_table(self, rs: SimAnchor, name: str) -> KTable:
        """pfr_attach_table(): a rule refers to <name> in its ruleset."""
        kt = self.lookup(name, rs.path)
        if kt is None:
            kt = self.create_ktable(name, rs.path, 0, self.now(), attach=True)
            if rs.path:
                root = self.lookup(name, "")
                if root is None:
                    root = self.create_ktable(name, "", 0, 0, attach=True)
                    self.insert_ktable(root)
                kt.root = root
            self.insert_ktable(kt)
        kt.refcnt[C.PFR_REFCNT_RULE] += 1
        if kt.refcnt[C.PFR_REFCNT_RULE] == 1:
            self.setflags_ktable(kt, kt.flags | C.PFR_TFLAG_REFERENCED)
        return kt

    def detach_table(self, kt: KTable) -> None:
        """pfr_detach_table()."""
        if kt.refcnt[C.PFR_REFCNT_RULE] <= 0:
            return
        kt.refcnt[C.PFR_REFCNT_RULE] -= 1
        if kt.refcnt[C.PFR_REFCNT_RULE] == 0:
            self.setflags_ktable(kt, kt.flags & ~C.PFR_TFLAG_REFERENCED)

    @staticmethod
    def copyout_count(kt: KTable) -> int:
        """pf_tbladdr_copyout(): the address count a rule shows for its table (-1 when inactive)."""
        if not kt.active and kt.root is not None:
            kt = kt.root
        return len(kt.entries) if kt.active else -1


class _NeedMore(Exception):
    """pfr_set_addrs() with too small a feedback buffer: the ioctl succeeds, only size2 changes."""

    def __init__(self, size2: int) -> None:
        super().__init__(size2)
        self.size2 = size2
