"""One decoder per kernel struct the library reads, each from the ABI layer's ctypes layout.

``pf_status``, ``pfi_kif``, ``pfr_tstats``, ``pfr_addr``/``pfr_astats``, ``pf_rule`` (in
:class:`RuleDecoder`, which also yields the full rule through :mod:`._structs`),
``pfsync_state``, the queue structs and the 7.9 limiter structs.  Every function returns
:mod:`.types` values; nothing here issues an ioctl.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import itertools
import operator
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..abi import constants as C
from ..errors import PfError, PfInvalidArgument, PfNotFound
from . import types as T

Buffer = ctypes.Structure | memoryview  # what struct's unpack_from reads a pfioc_rule from

# pfctl's words for pf_rule.action (sbin/pfctl/pfctl_parser.c print_rule).
ACTION_NAMES = {
    C.PF_PASS: "pass", C.PF_DROP: "block", C.PF_SCRUB: "scrub", C.PF_NOSCRUB: "no scrub", C.PF_NAT: "nat",
    C.PF_NONAT: "no nat", C.PF_BINAT: "binat", C.PF_NOBINAT: "no binat", C.PF_RDR: "rdr", C.PF_NORDR: "no rdr",
    C.PF_SYNPROXY_DROP: "synproxy drop", C.PF_DEFER: "defer", C.PF_MATCH: "match", C.PF_DIVERT: "divert",
    C.PF_RT: "rt", C.PF_AFRT: "afrt",
}
DIRECTION_NAMES = {C.PF_INOUT: "", C.PF_IN: "in", C.PF_OUT: "out"}
FAMILY_NAMES = {0: "", C.AF_INET: "inet", C.AF_INET6: "inet6"}
FAMILY_NUMBERS = {"inet": C.AF_INET, "inet6": C.AF_INET6}
SYNCOOKIES_MODES = {C.PF_SYNCOOKIES_NEVER: "never", C.PF_SYNCOOKIES_ALWAYS: "always",
                    C.PF_SYNCOOKIES_ADAPTIVE: "adaptive"}
TABLE_FLAG_NAMES = (
    (C.PFR_TFLAG_PERSIST, "persist"), (C.PFR_TFLAG_CONST, "const"), (C.PFR_TFLAG_COUNTERS, "counters"),
    (C.PFR_TFLAG_ACTIVE, "active"), (C.PFR_TFLAG_INACTIVE, "inactive"), (C.PFR_TFLAG_REFERENCED, "referenced"),
    (C.PFR_TFLAG_REFDANCHOR, "refdanchor"),
)
ACTIONS2 = ("pass", "block")  # pfik_packets[af][dir][action], pcounters[af][dir][PF_PASS|PF_DROP]
PFQS_FLOWQUEUE = 0x0001
NO_NUMBER = 0xFFFFFFFF  # pfsync_state.rule/anchor when there is none (-1 as u_int32_t)


# --- strings ---------------------------------------------------------------------------------

def cstr(raw: bytes) -> str:
    """A NUL-terminated C string from a char array's bytes."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def set_cstr(obj: ctypes.Structure, field: str, value: str) -> None:
    """Store *value* NUL-padded: the kernel refuses names with bytes after the NUL (EINVAL)."""
    desc = getattr(type(obj), field)
    data = value.encode()
    if len(data) >= desc.size or b"\0" in data:
        raise PfInvalidArgument(field, f"{value!r} must be at most {desc.size - 1} bytes, without NUL")
    ctypes.memmove(ctypes.addressof(obj) + desc.offset, data.ljust(desc.size, b"\0"), desc.size)


def fill(dst: ctypes.Structure | ctypes.Array[Any], data: bytes) -> None:
    ctypes.memmove(ctypes.addressof(dst), data, len(data))


# --- status, interfaces, tables -----------------------------------------------------------------

def decode_status(s: ctypes.Structure, uptime: int, now: int = 0) -> T.Status:
    """``pf_status`` with pfctl's counter names (`pfctl -si -v`); *uptime* computes "Enabled for"."""
    running = bool(s.running)
    pk: dict[tuple[str, str, str], int] = {}
    by: dict[tuple[str, str], int] = {}
    for af, fam in enumerate(T.FAMILIES):
        for d, dirname in enumerate(T.DIRECTIONS):
            for a, act in enumerate(ACTIONS2):
                pk[(fam, dirname, act)] = s.pcounters[af][d][a]
            by[(fam, dirname)] = s.bcounters[af][d]
    return T.Status(
        running=running, since=s.since, enabled_seconds=max(0, uptime - s.since) if running else 0,
        states=s.states, states_halfopen=s.states_halfopen, src_nodes=s.src_nodes, fragments=s.fragments,
        debug=s.debug,
        hostid=int.from_bytes(int(s.hostid).to_bytes(4, "little" if _LITTLE else "big"), "big"),  # network order
        reass=s.reass, stateid=s.stateid, syncookies_active=bool(s.syncookies_active),
        syncookies_mode=SYNCOOKIES_MODES.get(s.syncookies_mode, str(s.syncookies_mode)),
        syncookies_inflight=(s.syncookies_inflight[0], s.syncookies_inflight[1]),
        loginterface=cstr(s.ifname), checksum=bytes(s.pf_chksum).hex(),
        counters=dict(zip(C.PFRES_NAMES, s.counters, strict=True)),
        limit_counters=dict(zip(C.LCNT_NAMES, s.lcounters, strict=True)),
        state_operations=dict(zip(C.FCNT_NAMES, s.fcounters, strict=True)),
        src_node_operations=dict(zip(C.FCNT_NAMES, s.scounters, strict=True)),
        fragment_operations=dict(zip(C.FCNT_NAMES, s.ncounters, strict=True)),
        loginterface_packets=pk, loginterface_bytes=by, changed=max(0, now - (uptime - s.since)) if now else 0)


_FIRST = operator.itemgetter(0)

_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


class ArrayReader:
    """Some fields of each element of a ctypes struct array, read by one C loop
    (``struct.iter_unpack`` over the array's bytes) instead of a ctypes attribute access per field.
    ``at[path]``: where a field is in each tuple (an int, or a slice for an array field, its
    elements in C order)."""

    def __init__(self, cls: Any, paths: Sequence[str], probes: dict[str, int] | None = None) -> None:
        located = sorted((_locate(cls, path)[0], path) for path in paths)
        fields = _fields_struct(cls, [path for _off, path in located], probes)
        self.size = ctypes.sizeof(cls)
        self.struct = struct.Struct(fields.format + f"{self.size - fields.size}x")  # to the element's size
        self.at: dict[str, int | slice] = {}
        index = 0
        for _off, path in located:
            _o, _s, code, count = _locate(cls, path)
            n = 1 if code == "s" else count
            self.at[path] = index if n == 1 else slice(index, index + n)
            index += n

    def index(self, path: str) -> int:
        """Where a scalar field is in each tuple."""
        at = self.at[path]
        if not isinstance(at, int):
            raise AssertionError(f"{path} is an array")
        return at

    def span(self, path: str) -> slice:
        """Where an array field's elements are in each tuple."""
        at = self.at[path]
        if not isinstance(at, slice):
            raise AssertionError(f"{path} is not an array")
        return at

    def rows(self, array: Any, count: int) -> Iterator[tuple[Any, ...]]:
        """The tuples of the first *count* elements of *array*."""
        return self.struct.iter_unpack(memoryview(array).cast("B")[:count * self.size])


_READERS: dict[tuple[Any, str], ArrayReader] = {}


def _reader(cls: Any, paths: Sequence[str], name: str) -> ArrayReader:
    reader = _READERS.get((cls, name))
    if reader is None:
        reader = _READERS[(cls, name)] = ArrayReader(cls, paths)
    return reader


_IFACE_KEYS = tuple((fam, d, act) for fam in T.FAMILIES for d in T.DIRECTIONS for act in ACTIONS2)  # C order
_IFACE_FIELDS = ("pfik_name", "pfik_packets", "pfik_bytes", "pfik_tzero", "pfik_flags", "pfik_group",
                 "pfik_states", "pfik_rules", "pfik_routes", "pfik_srcnodes")
_IFACE_ARRAYS = ("pfik_packets", "pfik_bytes")


def decode_interfaces(array: Any, count: int) -> list[T.Interface]:
    """The first *count* ``pfi_kif`` of *array* (DIOCIGETIFACES' answer)."""
    r = _reader(array._type_, _IFACE_FIELDS, "interfaces")
    i_name, i_tz, i_fl, i_gr, i_st, i_ru, i_ro, i_sn = (r.index(f) for f in _IFACE_FIELDS if f not in _IFACE_ARRAYS)
    i_pk, i_by = (r.span(f) for f in _IFACE_ARRAYS)
    keys = _IFACE_KEYS
    skip = C.PFI_IFLAG_SKIP
    # positional, in Interface's field order (the decoder tests check each field by name)
    return [T.Interface(
        cstr(v[i_name]), bool(v[i_gr]), bool(v[i_fl] & skip), dict(zip(keys, v[i_pk], strict=True)),
        dict(zip(keys, v[i_by], strict=True)), v[i_tz], v[i_st], v[i_ru], v[i_ro], v[i_sn])
        for v in r.rows(array, count)]


def table_flags(bits: int) -> frozenset[str]:
    flags = _TABLE_FLAGS.get(bits)
    if flags is None:
        flags = frozenset(name for bit, name in TABLE_FLAG_NAMES if bits & bit)
        if len(_TABLE_FLAGS) < 1024:  # bits pf defines: a few dozen combinations
            _TABLE_FLAGS[bits] = flags
    return flags


_TABLE_FLAGS: dict[int, frozenset[str]] = {}
_TABLE_FIELDS = ("pfrts_t.pfrt_anchor", "pfrts_t.pfrt_name", "pfrts_t.pfrt_flags", "pfrts_packets", "pfrts_bytes",
                 "pfrts_match", "pfrts_nomatch", "pfrts_tzero", "pfrts_cnt", "pfrts_refcnt")
_TABLE_ARRAYS = ("pfrts_packets", "pfrts_bytes", "pfrts_refcnt")


def decode_tables(array: Any, count: int, inactive: bool = False) -> list[T.Table]:
    """The first *count* ``pfr_tstats`` of *array* (DIOCRGETTSTATS' answer); only the active
    tables unless *inactive*."""
    r = _reader(array._type_, _TABLE_FIELDS, "tables")
    i_an, i_name, i_fl, i_ma, i_no, i_tz, i_cnt = (r.index(f) for f in _TABLE_FIELDS if f not in _TABLE_ARRAYS)
    i_pk, i_by, i_ref = (r.span(f) for f in _TABLE_ARRAYS)
    ops = C.PFR_OP_TABLE_MAX
    # packets[dir][op] in C order; the actions pf names (T.TABLE_ACTIONS) are the first ops of each dir
    flat = [d * ops + op for d in range(len(T.DIRECTIONS)) for op in range(len(T.TABLE_ACTIONS))]
    keys = tuple((d, act) for d in T.DIRECTIONS for act in T.TABLE_ACTIONS)
    packets = operator.itemgetter(*(i_pk.start + j for j in flat))
    nbytes = operator.itemgetter(*(i_by.start + j for j in flat))
    active = C.PFR_TFLAG_ACTIVE
    r_rule, r_anchor = i_ref.start + C.PFR_REFCNT_RULE, i_ref.start + C.PFR_REFCNT_ANCHOR
    # positional, in Table's field order (the decoder tests check each field by name)
    return [T.Table(
        cstr(v[i_an]), cstr(v[i_name]), table_flags(v[i_fl]), v[i_cnt],
        dict(zip(keys, packets(v), strict=True)), dict(zip(keys, nbytes(v), strict=True)),
        v[i_ma], v[i_no], v[i_tz], v[r_rule], v[r_anchor])
        for v in r.rows(array, count) if inactive or v[i_fl] & active]


def decode_address(entry: ctypes.Structure, stats: bool) -> T.TableAddress:
    """A ``pfr_addr`` (or, with *stats*, a ``pfr_astats`` and its counters)."""
    a = entry.pfras_a if stats else entry
    af = a.pfra_af
    raw = bytes(a.pfra_u)
    net: T.IPNetwork
    if af == C.AF_INET:
        net = ipaddress.IPv4Network((raw[:4], min(a.pfra_net, 32)), strict=False)
    else:
        net = ipaddress.IPv6Network((raw, min(a.pfra_net, 128)), strict=False)
    ifname = cstr(a.pfra_ifname)
    weight = int(a.pfra_weight) if a.pfra_type == C.PFRKE_COST else 0
    if not stats:
        return T.TableAddress(net, bool(a.pfra_not), ifname, weight=weight)
    pk = {}
    by = {}
    for d, dirname in enumerate(T.DIRECTIONS):
        for op, act in enumerate(T.ADDRESS_ACTIONS):
            pk[(dirname, act)] = entry.pfras_packets[d][op]
            by[(dirname, act)] = entry.pfras_bytes[d][op]
    return T.TableAddress(net, bool(a.pfra_not), ifname, pk, by, entry.pfras_tzero, weight)


def feedback(entry: ctypes.Structure) -> str:
    """A ``pfr_addr``'s ``pfra_fback``, by name (:data:`types.FEEDBACK`)."""
    code = int(entry.pfra_fback)
    return T.FEEDBACK[code] if 0 <= code < len(T.FEEDBACK) else f"unknown({code})"


def encode_address(entry: ctypes.Structure, network: T.IPNetwork, negated: bool) -> None:
    """Fill one ``pfr_addr`` for *network*."""
    fill(entry.pfra_u, network.network_address.packed)
    entry.pfra_af = C.AF_INET if network.version == 4 else C.AF_INET6
    entry.pfra_net = network.prefixlen
    entry.pfra_not = 1 if negated else 0


# --- rules -------------------------------------------------------------------------------------

@contextlib.contextmanager
def ends_at_enoent(fail: Callable[[OSError], Exception]) -> Iterator[None]:
    """Around a walk's loop of raw calls (:meth:`Device.raw_caller`): the kernel's ENOENT ends the
    walk quietly (the last rule numbers need not be contiguous); another errno is raised as the
    library's error (*fail*), an error of the library's own as it is."""
    try:
        yield
    except PfError:
        raise
    except OSError as e:
        err = fail(e)
        if not isinstance(err, PfNotFound):
            raise err from None


class RuleDecoder:
    """The ``pfioc_rule`` decoder.  :meth:`counters` reads a rule's identity and counters with one
    precomputed struct format (native byte order, offsets from this release/arch's ctypes layout)
    instead of one ctypes attribute read per field, for walks of 10,000+ rules;
    :meth:`spec` reads the whole ``struct pf_rule`` (:func:`._structs.decode_rule`) for printing."""

    FIELDS = ("nr", "anchor_call", "rule.action", "rule.direction", "rule.quick", "rule.log", "rule.ifname",
              "rule.ifnot", "rule.af", "rule.proto", "rule.label", "rule.evaluations", "rule.packets",
              "rule.bytes", "rule.states_cur", "rule.states_tot", "rule.src_nodes", "rule.max_states")
    TEXT_CACHE = 16384  # decoded names and labels kept (see _decode_text)

    # the 7.9 limiters' names by id ({"state": {...}, "source": {...}}) for rule_text; set by the backend
    limiter_names: Callable[[], dict[str, dict[int, str]]] | None = None

    def __init__(self, cls: type) -> None:
        # the anchor call (1 KiB, empty but for anchor rules) is probed: its first byte, and the
        # whole only when that is not NUL (copying and hashing it cost a fifth of a rule's decoding)
        fields = ArrayReader(cls, self.FIELDS, {"anchor_call": 1})
        self.struct = fields.struct
        self._call_struct = _fields_struct(cls, ["anchor_call"])
        # where each of FIELDS is in the unpacked tuple; arrays: negative, their first element's index
        self._where = tuple(at if isinstance(at, int) else -at.start - 1
                            for at in map(fields.at.__getitem__, self.FIELDS))
        self._text: dict[bytes, str] = {}
        self._rule_texts: dict[tuple[bytes, int], str] = {}
        self._stable_struct: struct.Struct | None = None
        self._label_struct: struct.Struct | None = None
        if T.RuleCounters._fields != _RULE_FIELDS:
            raise AssertionError("types.RuleCounters changed; update RuleDecoder.counters")

    def counters(self, anchor: str, pr: Buffer) -> T.RuleCounters:
        """A rule's identity and counters from a ``pfioc_rule`` (the ctypes struct, or a memoryview
        of its bytes: a walk makes one, as reading a ctypes object as a buffer costs more)."""
        v = self.struct.unpack_from(pr)
        (i_nr, i_call, i_act, i_dir, i_quick, i_log, i_if, i_ifnot, i_af, i_proto, i_label, i_ev, i_pk, i_by,
         i_cur, i_tot, i_src, i_max) = self._where
        text = self._text
        call: str | None = ""
        if v[i_call] != b"\0":
            raw = self._call_struct.unpack_from(pr)[0]
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
        return _new_tuple(T.RuleCounters, (
            anchor, v[i_nr], "anchor" if call else ACTION_NAMES.get(action) or str(action),
            DIRECTION_NAMES.get(v[i_dir], ""), bool(v[i_quick]), bool(v[i_log]),
            "!" + ifname if v[i_ifnot] and ifname else ifname, FAMILY_NAMES[af] if af in FAMILY_NAMES else f"af{af}",
            v[i_proto], label, call, v[i_ev],
            v[pk], v[pk + 1], v[by], v[by + 1], v[i_cur], v[i_tot], v[i_src], v[i_max]))

    # what the per-label sums need: one smaller struct format than FIELDS' (no 1 KiB anchor call copied)
    LABEL_FIELDS = ("rule.label", "rule.evaluations", "rule.packets", "rule.bytes", "rule.states_cur",
                    "rule.states_tot")

    def label_walk(self, call: Callable[[ctypes.Structure], None], fail: Callable[[OSError], Exception],
                   pr: ctypes.Structure, count: int, totals: dict[str, list[int]]) -> int:
        """DIOCGETRULE for rules 0 .. *count* - 1 into *pr* (the walk's one buffer) with *call* (the
        transport's own call, raising OSError; *fail* maps that to the library's error), each rule's
        counters added to *totals* by label (evaluations, packets in/out, bytes in/out, states,
        states created, rules).  The whole default-mode walk: per rule only the call and one
        unpack of the fields it needs; the sums are made per label afterwards, by C loops (sort,
        groupby, zip, sum).  Returns the rules read (the walk ends early at ENOENT, as pf's rule
        numbers need not be contiguous)."""
        if self._label_struct is None:
            self._label_struct = _fields_struct(type(pr), self.LABEL_FIELDS)
        unpack = self._label_struct.unpack_from
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        read, batch = 0, self.LABEL_BATCH
        with ends_at_enoent(fail), memoryview(pr).cast("B") as data:  # read as a buffer: cheaper than pr
            for start in range(0, count, batch):
                for i in range(start, min(count, start + batch)):
                    pr.nr = i
                    call(pr)
                    append(unpack(data))
                read += len(rows)
                self._sum_labels(rows, totals)
                rows.clear()
        read += len(rows)  # a walk ended by ENOENT inside a batch
        self._sum_labels(rows, totals)
        return read

    LABEL_BATCH = 1024  # rules unpacked before they are summed: what a walk holds is bounded

    def _sum_labels(self, rows: list[tuple[Any, ...]], totals: dict[str, list[int]]) -> None:
        rows.sort(key=_FIRST)  # by the label's bytes
        text = self._text
        get = totals.get
        for raw, group in itertools.groupby(rows, _FIRST):
            label = text.get(raw)
            if label is None:
                label = self._decode_text(raw)
            members = list(group)
            columns = zip(*members, strict=True)
            next(columns)  # the labels
            sums = [*map(sum, columns), len(members)]
            have = get(label)
            if have is None:
                totals[label] = sums
            else:  # another batch, or another spelling of the label (bytes after its NUL differ)
                have[:] = map(operator.add, have, sums)

    def text_walk(self, call: Callable[[ctypes.Structure], None], fail: Callable[[OSError], Exception],
                  pr: ctypes.Structure, count: int, anchor: str) -> tuple[list[T.RuleCounters], list[str]]:
        """:meth:`label_walk`'s loop for per-rule reads: each rule's counters and its text
        (:meth:`rule_text`), in two lists."""
        rules: list[T.RuleCounters] = []
        texts: list[str] = []
        counters, text = self.counters, self.rule_text
        add_rule, add_text = rules.append, texts.append
        with ends_at_enoent(fail), memoryview(pr).cast("B") as data:
            for i in range(count):
                pr.nr = i
                call(pr)
                add_rule(counters(anchor, data))
                add_text(text(pr, data))
        return rules, texts

    # what changes between two reads of an unchanged rule
    VOLATILE = ("evaluations", "packets", "bytes", "states_cur", "states_tot", "src_nodes")
    RULE_TEXTS = 200_000  # rule texts kept by rule_text() before it starts over

    def rule_text(self, pr: ctypes.Structure, data: Buffer | None = None) -> str:
        """The rule as ``pfctl -sr`` prints it, remembered by the rule's bytes less its counters and
        its anchor call's name: a ruleset that did not change is formatted once, not on every scrape.
        The ``pf_rule`` member's bytes between its counters are read as a few bytes objects by one
        struct unpack and kept as their hash (Python's keyed SipHash: 8 bytes per rule, not the
        1.3 KiB struct; two different rules giving the same 64-bit hash would need the process's
        random key).  The rest of ``pfioc_rule`` is not part of the key: the walk's anchor path and
        ticket are the caller's, and the anchor call's bytes after its NUL are whatever the buffer
        held before.  *data*: *pr*'s bytes as a memoryview, if the caller has one (read faster)."""
        stable = self._stable_struct
        if stable is None:
            stable = self._stable_struct = self._stable(type(pr))
        if data is None:
            data = pr
        key = (pr.anchor_call, hash(stable.unpack_from(data)))  # a c_char array reads up to its NUL
        texts = self._rule_texts
        text = texts.get(key)
        if text is None:
            from ..ruleset.printer import format_rule

            k = self.spec(pr)
            r = k.rule
            if (r.statelim[0] or r.sourcelim[0]) and self.limiter_names is not None:
                name_limiters(r, self.limiter_names())
            text = format_rule(r, k.anchor_call)
            if len(texts) >= self.RULE_TEXTS:
                texts.clear()
            texts[key] = text
        return text

    def _stable(self, cls: Any) -> struct.Struct:
        """A struct format reading, as bytes objects, a ``pfioc_rule``'s ``rule`` member between its
        volatile fields (and nothing else)."""
        base = cls.rule.offset
        rule = dict(cls._fields_)["rule"]
        cuts = sorted((off, off + size) for off, size, *_ in (_locate(rule, p) for p in self.VOLATILE))
        parts, pos = [f"={base}x"], 0
        for a, b in cuts:
            if a > pos:
                parts.append(f"{a - pos}s")
            parts.append(f"{max(b, pos) - max(a, pos)}x")
            pos = max(pos, b)
        parts.append(f"{ctypes.sizeof(rule) - pos}s")
        return struct.Struct("".join(parts))

    @staticmethod
    def spec(pr: ctypes.Structure) -> KernelRule:
        """The whole rule: its pf.conf meaning, anchor call and the kernel-only fields pfctl -sr -vvg prints."""
        from ._structs import decode_rule

        raw = pr.rule
        return KernelRule(
            rule=decode_rule(raw), anchor_call=cstr(pr.anchor_call), skip=tuple(int(s.nr) for s in raw.skip),
            qid=int(raw.qid), pqid=int(raw.pqid), cuid=int(raw.cuid), cpid=int(raw.cpid),
            anchor_wildcard=bool(raw.anchor_wildcard),
            evaluations=int(raw.evaluations), packets=(int(raw.packets[0]), int(raw.packets[1])),
            bytes=(int(raw.bytes[0]), int(raw.bytes[1])), states_cur=int(raw.states_cur),
            states_tot=int(raw.states_tot))

    def _decode_text(self, raw: bytes) -> str:
        """A NUL-padded name or label as text, remembered by its raw bytes: rules repeat the same
        few labels and interfaces, so each is decoded (and held in memory) once."""
        if len(self._text) >= self.TEXT_CACHE:
            self._text.clear()  # label churn must not grow the cache without bound
        s = self._text[raw] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return s


@dataclass(slots=True)
class KernelRule:
    """A rule as DIOCGETRULE returns it: the pf.conf rule (:class:`pf_exporter.ruleset.model.RuleDef`),
    the anchor it calls, and the fields only the kernel sets (skip steps, queue ids, creator,
    counters).  Internal to the library: its public form is :class:`.types.Rule`."""

    rule: Any  # pf_exporter.ruleset.model.RuleDef
    anchor_call: str
    skip: tuple[int, ...]
    qid: int
    pqid: int
    cuid: int
    cpid: int
    anchor_wildcard: bool
    evaluations: int
    packets: tuple[int, int]
    bytes: tuple[int, int]
    states_cur: int
    states_tot: int


_new_tuple = tuple.__new__
_RULE_FIELDS = ("anchor", "number", "action", "direction", "quick", "log", "interface", "family", "protocol",
                "label", "anchor_call", "evaluations", "packets_in", "packets_out", "bytes_in", "bytes_out",
                "states_current", "states_total", "src_nodes", "max_states")
_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


def name_limiters(r: Any, names: dict[str, dict[int, str]]) -> None:
    """Set a decoded rule's 7.9 limiter names from ``{"state": {id: name}, "source": {...}}``
    (pf keeps only the ids)."""
    r.statelim_name = names["state"].get(r.statelim[0], "")
    r.sourcelim_name = names["source"].get(r.sourcelim[0], "")


def _fields_struct(cls: Any, paths: Sequence[str], probes: dict[str, int] | None = None) -> struct.Struct:
    """A native struct format reading *paths* of *cls* (in the order given, which must be their
    order in memory), skipping the bytes between them; a char array in *probes* is read only for
    its first so many bytes (whether a long, mostly empty string is set, without copying it)."""
    parts, pos = ["="], 0
    for path in paths:
        off, size, code, count = _locate(cls, path)
        if off < pos:
            raise AssertionError(f"{path} overlaps or lies before the field listed ahead of it")
        if off > pos:
            parts.append(f"{off - pos}x")
        if probes and path in probes:
            if code != "s":
                raise AssertionError(f"{path}: only a char array can be probed")
            size = probes[path]
        parts.append(f"{count}{code}" if code != "s" else f"{size}s")
        pos = off + size
    return struct.Struct("".join(parts))


def _locate(cls: Any, path: str) -> tuple[int, int, str, int]:
    """(offset, size, struct code, element count) of a dotted field path in a ctypes struct;
    code "s" for char arrays.  (ctypes classes built at run time: typed Any.)"""
    off = 0
    ftype: Any = cls
    for name in path.split("."):
        desc = getattr(ftype, name)
        if getattr(desc, "is_bitfield", False) or (desc.size >> 16):
            raise AssertionError(f"{path} is a bit-field; the rule decoder cannot read it")
        off += desc.offset
        ftype = dict(ftype._fields_)[name]
    size = ctypes.sizeof(ftype)
    leaf, count = ftype, 1
    while issubclass(leaf, ctypes.Array):
        count *= leaf._length_
        leaf = leaf._type_
    if leaf is ctypes.c_char:
        return off, size, "s", 1
    code = _CODES[ctypes.sizeof(leaf)]
    if leaf._type_ in ("b", "h", "i", "q", "l"):
        code = code.lower()
    return off, size, code, count


# --- states ------------------------------------------------------------------------------------

class StateDecoder:
    """Decodes one ``pfsync_state`` (packed, every multi-byte field in network byte order) with a
    struct format derived from the ABI layer's declaration."""

    WANT = ("id", "ifname", "key.0.addr", "key.0.port", "key.0.af", "key.1.addr", "key.1.port", "key.1.af",
            "src.state", "dst.state", "rule", "anchor", "creation", "expire", "packets", "bytes", "creatorid",
            "af", "proto", "direction", "timeout")

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
        ix = {k: tuple(v) for k, v in index.items()}
        self._i = tuple(ix[k][0] for k in ("id", "creatorid", "ifname", "af", "proto", "direction", "src.state",
                                             "dst.state", "rule", "anchor", "creation", "expire", "timeout",
                                             "key.0.af", "key.1.af"))
        self._keys = (*ix["key.0.addr"], *ix["key.0.port"], *ix["key.1.addr"], *ix["key.1.port"])
        self._ctr = (*ix["packets"], *ix["bytes"])
        self.summary_index = (ix["ifname"][0], ix["af"][0], ix["proto"][0], ix["direction"][0])

    def decode(self, raw: ctypes.Array[Any] | bytes, offset: int) -> T.State:
        v = self.struct.unpack_from(raw, offset)
        (i_id, i_cr, i_if, i_af, i_pr, i_dir, i_ss, i_ds, i_rule, i_anc, i_cre, i_exp, i_to, i_af0,
         i_af1) = self._i
        a00, a01, p00, p01, a10, a11, p10, p11 = self._keys
        wire = _key(v[i_af0], v[a00], v[a01], v[p00], v[p01])
        stack = _key(v[i_af1], v[a10], v[a11], v[p10], v[p11])
        ph0, pl0, ph1, pl1, bh0, bl0, bh1, bl1 = (v[i] for i in self._ctr)
        d = v[i_dir]
        af = v[i_af]
        # pf_ioctl.c DIOCKILLSTATES: outbound states are matched on the stack key, addr[1] being
        # the source; inbound ones on the wire key, addr[0] being the source
        if d == C.PF_OUT:
            src = T.Endpoint(stack.addresses[1], stack.ports[1])
            dst = T.Endpoint(stack.addresses[0], stack.ports[0])
        else:
            src = T.Endpoint(wire.addresses[0], wire.ports[0])
            dst = T.Endpoint(wire.addresses[1], wire.ports[1])
        rule, anchor = v[i_rule], v[i_anc]
        return T.State(
            id=v[i_id], creator_id=v[i_cr], interface=cstr(v[i_if]), family=FAMILY_NAMES.get(af) or f"af{af}",
            protocol=v[i_pr], direction=DIRECTION_NAMES.get(d) or str(d), wire=wire, stack=stack, source=src,
            destination=dst, src_state=v[i_ss], dst_state=v[i_ds], packets=(ph0 << 32 | pl0, ph1 << 32 | pl1),
            bytes=(bh0 << 32 | bl0, bh1 << 32 | bl1), rule=None if rule == NO_NUMBER else rule,
            anchor_rule=None if anchor == NO_NUMBER else anchor, creation=v[i_cre], expire=v[i_exp],
            timeout=v[i_to])

    def summaries(self, raw: ctypes.Array[Any] | bytes, count: int) -> Callable[[], Any]:
        """``(interface bytes, af, proto, direction)`` of each of *count* states, without decoding
        addresses (what an aggregate needs), as a zero-argument generator factory."""
        i_if, i_af, i_pr, i_dir = self.summary_index
        unpack = self.struct.unpack_from
        size = self.size

        def gen() -> Any:
            for n in range(count):
                v = unpack(raw, n * size)
                yield v[i_if], v[i_af], v[i_pr], v[i_dir]

        return gen


def _ip(af: int, raw: bytes) -> T.IPAddress:
    if af == C.AF_INET:
        return ipaddress.IPv4Address(raw[:4])
    return ipaddress.IPv6Address(raw)


def _key(af: int, a0: bytes, a1: bytes, p0: int, p1: int) -> T.StateKey:
    return T.StateKey(FAMILY_NAMES.get(af) or f"af{af}", (_ip(af, a0), _ip(af, a1)), (p0, p1))


def _network_format(cls: Any) -> tuple[str, list[str]]:
    """A big-endian struct format covering *cls* field by field, with dotted field names.

    char arrays and pf_addr-sized unions become byte strings; integer arrays are flattened."""
    parts: list[str] = [">"]
    names: list[str] = []
    pos = 0

    def walk(t: Any, base: int, prefix: str) -> None:
        nonlocal pos
        for fname, ftype in t._fields_:
            off = base + getattr(t, fname).offset
            name = prefix + fname
            if off > pos:
                parts.append(f"{off - pos}x")
                pos = off
            size = ctypes.sizeof(ftype)
            leaf, count = ftype, 1
            while issubclass(leaf, ctypes.Array):
                count *= leaf._length_
                leaf = leaf._type_
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
                if leaf._type_ in ("b", "h", "i", "q", "l"):
                    code = code.lower()
                parts.append(f"{count}{code}")
                names.extend([name] * count)
            pos = off + size

    walk(cls, 0, "")
    if pos < ctypes.sizeof(cls):
        parts.append(f"{ctypes.sizeof(cls) - pos}x")
    return "".join(parts), names


# --- queues and limiters -------------------------------------------------------------------------

def decode_queue(layout: Any, spec: ctypes.Structure, buf: ctypes.Array[Any], nbytes: int) -> T.Queue:
    """A ``pf_queuespec`` and the statistics DIOCGETQSTATS put in *buf*: fq_codel's when the kernel
    answered with their size, else an HFSC class's."""
    flow_stats = None
    if nbytes == ctypes.sizeof(layout.fqcodel_stats):
        st = layout.fqcodel_stats.from_buffer(buf)
        flow_stats = T.FlowQueueStats(
            flows=st.flows, target_ns=spec.flowqueue.target, interval_ns=spec.flowqueue.interval,
            delay_sum=st.delaysum, delay_sum_squares=st.delaysumsq)
    else:
        st = layout.hfsc_class_stats.from_buffer(buf)
    stats = T.QueueStats(
        packets=st.xmit_cnt.packets, bytes=st.xmit_cnt.bytes, dropped_packets=st.drop_cnt.packets,
        dropped_bytes=st.drop_cnt.bytes, length=st.qlength, limit=st.qlimit)
    return T.Queue(
        interface=cstr(spec.ifname), name=cstr(spec.qname), parent=cstr(spec.parent),
        bandwidth=spec.linkshare.m2.absolute, min_bandwidth=spec.realtime.m2.absolute,
        max_bandwidth=spec.upperlimit.m2.absolute, flags=spec.flags, qlimit=spec.qlimit,
        flowqueue=bool(spec.flags & PFQS_FLOWQUEUE), stats=stats, flow_stats=flow_stats)


def decode_state_limiter(ioc: ctypes.Structure) -> T.StateLimiter:
    return T.StateLimiter(
        id=ioc.id, name=cstr(ioc.name), description=cstr(ioc.description), limit=ioc.limit,
        rate_limit=ioc.rate.limit, rate_seconds=ioc.rate.seconds, inuse=ioc.inuse, admitted=ioc.admitted,
        hardlimited=ioc.hardlimited, ratelimited=ioc.ratelimited)


def decode_source_limiter(ioc: ctypes.Structure) -> T.SourceLimiter:
    return T.SourceLimiter(
        id=ioc.id, name=cstr(ioc.name), description=cstr(ioc.description), entries=ioc.entries,
        limit=ioc.limit, rate_limit=ioc.rate.limit, rate_seconds=ioc.rate.seconds,
        overload_table=cstr(ioc.overload_tblname), overload_hwm=ioc.overload_hwm,
        overload_lwm=ioc.overload_lwm, inet_prefix=ioc.inet_prefix, inet6_prefix=ioc.inet6_prefix,
        nentries=ioc.nentries, inuse=ioc.inuse, addrallocs=ioc.addrallocs, addrnomem=ioc.addrnomem,
        admitted=ioc.admitted, addrlimited=ioc.addrlimited, hardlimited=ioc.hardlimited,
        ratelimited=ioc.ratelimited)
