"""pfctl's basic ruleset optimizer (``-o basic``, the default when pfctl loads without
``-o none``): split a ruleset into superblocks of rules that may be reordered, drop rules
another rule already covers, fold six or more rules differing only in one address into a
rule on an automatic table, and reorder each superblock for longer skip steps.

It follows the algorithm of sbin/pfctl/pfctl_optimize.c; the rules are compared through
field views in which the fields a pass may ignore are blanked, as pfctl does with
comparable_rule()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..abi.constants import (
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NOROUTE,
    PF_ADDR_TABLE,
    PF_ADDR_URPFFAILED,
    PF_INOUT,
    PFR_TFLAG_CONST,
    PFRULE_RULESRCTRACK,
)
from .addr import ZERO, and_bytes, unmask
from .model import AddrWrap, Pool, RuleAddr, RuleDef, TableAddress, TableDef

TABLE_THRESHOLD = 6
BARRIER, BREAK, NOMERGE, COMBINED, DC, NEVER = range(6)

# How each pf_rule field may differ between rules (pf_rule_desc[] in pfctl_optimize.c);
# fields not listed behave as BREAK.
_FIELD_TYPE: dict[str, int] = {
    "label": BARRIER, "prob": BARRIER, "max_states": BARRIER, "max_src_nodes": BARRIER,
    "max_src_states": BARRIER, "max_src_conn": BARRIER, "max_src_conn_rate": BARRIER, "anchor": BARRIER,
    "tagname": BREAK, "keep_state": BREAK, "qname": BREAK, "pqname": BREAK, "rt": BREAK, "allow_opts": BREAK,
    "rule_flag": BREAK, "action": BREAK, "log": BREAK, "quick": BREAK, "return_ttl": BREAK,
    "overload_tblname": BREAK, "flush": BREAK, "rdr": BREAK, "nat": BREAK, "logif": BREAK, "route": BREAK,
    "rtableid": BREAK,
    "af": NOMERGE, "ifnot": NOMERGE, "ifname": NOMERGE, "match_tag_not": NOMERGE, "match_tagname": NOMERGE,
    "os_fingerprint": NOMERGE, "timeout": NOMERGE, "return_icmp": NOMERGE, "return_icmp6": NOMERGE,
    "uid": NOMERGE, "gid": NOMERGE, "direction": NOMERGE, "proto": NOMERGE, "type": NOMERGE, "code": NOMERGE,
    "flags": NOMERGE, "flagset": NOMERGE, "tos": NOMERGE, "src.port": NOMERGE, "dst.port": NOMERGE,
    "src.port_op": NOMERGE, "dst.port_op": NOMERGE, "src.neg": NOMERGE, "dst.neg": NOMERGE,
    "onrdomain": NOMERGE, "naf": NOMERGE,
    "src.addr": COMBINED, "dst.addr": COMBINED,
    "nr": DC,
    "max_mss": NEVER, "min_ttl": NEVER, "set_tos": NEVER,
}
_ZERO_ADDR = (PF_ADDR_ADDRMASK, ZERO, ZERO, 0)


def _pool_view(p: Pool) -> tuple[object, ...]:
    return (_addr_view(p.addr), p.key, p.ifname, p.proxy_port, p.port_op, p.opts)


def _addr_view(aw: AddrWrap) -> tuple[int, bytes, bytes, int]:
    return (aw.type, aw.union_addr(), aw.union_mask(), aw.iflags)


def _view(r: RuleDef) -> dict[str, Any]:
    """Every field of the rule, as pfctl's memcmp() sees it."""
    v: dict[str, Any] = {}
    for name in ("action", "direction", "log", "logif", "quick", "ifname", "ifnot", "onrdomain", "rcv_ifname",
                 "rcvifnot", "af", "naf", "proto", "os_fingerprint", "uid", "gid", "flags", "flagset", "type",
                 "code", "tos", "prio", "set_prio", "set_tos", "delay", "pktrate", "scrub_flags", "min_ttl",
                 "max_mss", "qname", "pqname", "keep_state", "max_states", "max_src_nodes", "max_src_states",
                 "max_src_conn", "max_src_conn_rate", "overload_tblname", "flush", "rule_flag", "prob",
                 "allow_opts", "label", "tagname", "match_tagname", "match_tag_not", "rtableid", "rt",
                 "return_ttl", "return_icmp", "return_icmp6", "nr"):
        v[name] = getattr(r, name)
    v["timeout"] = tuple(r.timeout)
    v["anchor"] = id(r.anchor) if r.anchor is not None else 0
    for side in ("src", "dst"):
        ra = getattr(r, side)
        v[f"{side}.addr"] = _addr_view(ra.addr)
        v[f"{side}.port"] = ra.port
        v[f"{side}.neg"] = ra.neg
        v[f"{side}.port_op"] = ra.port_op
        v[f"{side}.weight"] = ra.weight
    v["divert"] = (r.divert.type, r.divert.addr, r.divert.port)
    v["nat"], v["rdr"], v["route"] = _pool_view(r.nat), _pool_view(r.rdr), _pool_view(r.route)
    return v


def _comparable(r: RuleDef, kind: int) -> dict[str, Any]:
    """comparable_rule(): the view with every field of *kind* or looser blanked."""
    v = _view(r)
    for name, t in _FIELD_TYPE.items():
        if t >= kind:
            v[name] = _blank(name, v[name])
    return v


def _blank(name: str, value: object) -> object:
    if name.endswith(".addr"):
        return _ZERO_ADDR
    if isinstance(value, tuple):
        return tuple(0 for _ in value)
    if isinstance(value, str):
        return ""
    if isinstance(value, bool):
        return False
    return 0


def _exclude_supersets(sup: dict[str, Any], sub: dict[str, Any]) -> None:
    """Blank in *sub* what *sup* matches anyway, so that equality means "covered"."""
    if sup["ifname"] == "":
        sub["ifname"] = ""
    if sup["direction"] == PF_INOUT:
        sub["direction"] = PF_INOUT
    if ((sup["proto"] == 0 or sup["proto"] == sub["proto"]) and sup["flags"] == 0 and sup["flagset"] == 0
            and (sub["flags"] or sub["flagset"])):
        sub["flags"], sub["flagset"] = sup["flags"], sup["flagset"]
    if sup["proto"] == 0:
        sub["proto"] = 0
    for side in ("src", "dst"):
        if sup[f"{side}.port_op"] == 0:
            sub[f"{side}.port_op"] = 0
            sub[f"{side}.port"] = (0, 0)
        st, sa, sm, _ = sup[f"{side}.addr"]
        bt, ba, bm, _ = sub[f"{side}.addr"]
        if st == PF_ADDR_ADDRMASK and not sup[f"{side}.neg"] and not sub[f"{side}.neg"] and sm == ZERO:
            sub[f"{side}.addr"] = _ZERO_ADDR
        elif (st == PF_ADDR_ADDRMASK and bt == PF_ADDR_ADDRMASK and sup[f"{side}.neg"] == sub[f"{side}.neg"]
              and sup["af"] == sub["af"] and unmask(sm) < unmask(bm) and sa == and_bytes(ba, sm)):
            sub[f"{side}.addr"] = sup[f"{side}.addr"]
    if sup["af"] == 0:
        sub["af"] = 0


# -- optimizer state --------------------------------------------------------------------------
@dataclass
class _OptTable:
    name: str
    entries: list[TableAddress] = field(default_factory=list)
    rulecount: int = 0
    generated: bool = False


@dataclass
class _OptRule:
    rule: RuleDef
    src_tbl: _OptTable | None = None
    dst_tbl: _OptTable | None = None


@dataclass
class _SkipList:
    rules: list[_OptRule] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rules)


@dataclass
class _Block:
    rules: list[_OptRule]
    skipsteps: list[list[_SkipList]] = field(default_factory=lambda: [[] for _ in range(9)])


class Optimizer:
    """Runs over one ruleset at a time; tables it creates go to *new_table*."""

    def __init__(self, next_table_name: Callable[[], str], new_table: Callable[[TableDef], str]) -> None:
        self.next_table_name = next_table_name  # a name for a table being collected
        self.new_table = new_table  # defines a table that is used; returns the name it is loaded as

    def optimize(self, rules: list[RuleDef]) -> list[RuleDef]:
        blocks: list[_Block] = []
        for r in rules:
            por = _OptRule(r)
            if not blocks or not _superblock_inclusive(blocks[-1], por):
                blocks.append(_Block([]))
            blocks[-1].rules.append(por)
        out_blocks: list[_Block] = []
        for block in blocks:
            out_blocks.extend(self._optimize_superblock(block))
        result = [por.rule for block in out_blocks for por in block.rules]
        for nr, r in enumerate(result):
            r.nr = nr
        return result

    def _optimize_superblock(self, block: _Block) -> list[_Block]:
        if len(block.rules) < 2:
            return [block]
        _remove_identical_rules(block)
        self._combine_rules(block)
        before: list[_Block] = []
        _reorder_rules(block, before)
        return [*before, block]

    def _add_to_table(self, tbl: _OptTable | None, af: int, aw: AddrWrap, weight: int) -> _OptTable:
        if tbl is None:
            tbl = _OptTable(self.next_table_name())
        tbl.entries.append(TableAddress(af=af, addr=aw.addr, prefixlen=unmask(aw.mask), weight=weight))
        tbl.rulecount += 1
        return tbl

    def _fold_into_table(self, p1: _OptRule, p2: _OptRule, side: str) -> bool:
        """Put the `side` ("src" or "dst") addresses of p1 and p2 into one table that both rules use;
        True when the table has grown big enough that p2 is dropped (p1 stands for both)."""
        r1, r2 = p1.rule, p2.rule
        a1, a2 = getattr(r1, side), getattr(r2, side)
        tbl: _OptTable | None = getattr(p1, f"{side}_tbl")
        if tbl is None:
            tbl = self._add_to_table(None, r1.af, a1.addr, a1.weight)
            setattr(p1, f"{side}_tbl", tbl)
        self._add_to_table(tbl, r1.af, a2.addr, a2.weight)
        setattr(p2, f"{side}_tbl", tbl)
        return tbl.rulecount >= TABLE_THRESHOLD

    def _combine_rules(self, block: _Block) -> None:
        rules = block.rules
        i = 0
        while i < len(rules):
            p1 = rules[i]
            j = i + 1
            while j < len(rules):
                p2 = rules[j]
                r1, r2 = p1.rule, p2.rule
                src_eq = r1.src.neg == r2.src.neg and _addr_view(r1.src.addr) == _addr_view(r2.src.addr)
                dst_eq = r1.dst.neg == r2.dst.neg and _addr_view(r1.dst.addr) == _addr_view(r2.dst.addr)
                removed = False
                if (src_eq and not dst_eq and p1.src_tbl is None and p2.dst_tbl is None and p2.src_tbl is None
                        and _combineable(r1, r2) and _addrs_combineable(r1.dst, r2.dst)):
                    removed = self._fold_into_table(p1, p2, "dst")
                elif (not src_eq and dst_eq and p1.dst_tbl is None and p2.src_tbl is None and p2.dst_tbl is None
                      and _combineable(r1, r2) and _addrs_combineable(r1.src, r2.src)):
                    removed = self._fold_into_table(p1, p2, "src")
                if removed:
                    del rules[j]
                else:
                    j += 1
            i += 1
        kept: list[_OptRule] = []
        for p in rules:
            drop = False
            for side in ("src", "dst"):
                tbl: _OptTable | None = getattr(p, f"{side}_tbl")
                if drop or tbl is None or tbl.rulecount < TABLE_THRESHOLD:
                    continue
                if tbl.generated:
                    drop = True
                    continue
                tbl.generated = True
                tbl.name = self.new_table(TableDef(name=tbl.name, flags=PFR_TFLAG_CONST, init_addr=True,
                                                   init=[("hosts", list(tbl.entries))], addresses=list(tbl.entries)))
                getattr(p.rule, side).addr = AddrWrap(type=PF_ADDR_TABLE, tblname=tbl.name)
            if not drop:
                kept.append(p)
        rules[:] = kept


def _combineable(a: RuleDef, b: RuleDef) -> bool:
    return _comparable(a, COMBINED) == _comparable(b, COMBINED)


def _addrs_combineable(a: RuleAddr, b: RuleAddr) -> bool:
    return (a.addr.type == PF_ADDR_ADDRMASK and b.addr.type == PF_ADDR_ADDRMASK
            and a.neg == b.neg and a.port_op == b.port_op and a.port == b.port)


def _interface_group(ifname: str) -> bool:
    return bool(ifname) and not ifname[-1].isdigit()


def _superblock_inclusive(block: _Block, por: _OptRule) -> bool:
    r = por.rule
    if (r.label or r.prob or r.max_states or r.max_src_nodes or r.max_src_states or r.max_src_conn
            or any(r.max_src_conn_rate) or r.anchor is not None):
        return False
    if r.rule_flag & PFRULE_RULESRCTRACK:
        return False
    first = block.rules[0].rule
    if (_interface_group(r.ifname) or _interface_group(first.ifname)) and r.ifname.lower() != first.ifname.lower():
        return False
    return _comparable(first, NOMERGE) == _comparable(r, NOMERGE)


def _remove_identical_rules(block: _Block) -> None:
    rules = block.rules
    i = 0
    while i < len(rules):
        p1 = rules[i]
        j = i + 1
        removed_p1 = False
        while j < len(rules):
            p2 = rules[j]
            a = _comparable(p1.rule, DC)
            b = _comparable(p2.rule, DC)
            a2, b2 = dict(a), dict(b)
            _exclude_supersets(a, b)
            _exclude_supersets(b2, a2)
            if a == b:
                del rules[j]
                continue
            if a2 == b2:
                del rules[i]
                removed_p1 = True
                break
            j += 1
        if not removed_p1:
            i += 1


# -- skip step reordering ----------------------------------------------------------------------
def _cmp_ifp(a: RuleDef, b: RuleDef) -> bool:
    return a.ifname != b.ifname or not a.ifname or a.ifnot != b.ifnot


def _cmp_dir(a: RuleDef, b: RuleDef) -> bool:
    return a.direction == 0 or a.direction != b.direction


def _cmp_rdom(a: RuleDef, b: RuleDef) -> bool:
    return a.onrdomain == -1 or a.onrdomain != b.onrdomain or a.ifnot != b.ifnot


def _cmp_af(a: RuleDef, b: RuleDef) -> bool:
    return a.af != b.af or a.af == 0


def _cmp_proto(a: RuleDef, b: RuleDef) -> bool:
    return a.proto != b.proto or a.proto == 0


def _cmp_addr(x: RuleAddr, y: RuleAddr) -> bool:
    xa, ya = x.addr, y.addr
    if x.neg != y.neg or xa.type != ya.type:
        return True
    if xa.type == PF_ADDR_ADDRMASK:
        return xa.addr != ya.addr or xa.mask != ya.mask or xa.addr == ZERO
    if xa.type == PF_ADDR_DYNIFTL:
        return xa.ifname != ya.ifname or xa.union_mask() != ya.union_mask()
    if xa.type in (PF_ADDR_NOROUTE, PF_ADDR_URPFFAILED):
        return False
    if xa.type == PF_ADDR_TABLE:
        return xa.tblname != ya.tblname
    return True


def _cmp_port(x: RuleAddr, y: RuleAddr) -> bool:
    return x.port_op == 0 or x.port_op != y.port_op or x.port != y.port


_SKIP_CMP: tuple[Callable[[RuleDef, RuleDef], bool], ...] = (
    _cmp_ifp, _cmp_dir, _cmp_rdom, _cmp_af, _cmp_proto,
    lambda a, b: _cmp_addr(a.src, b.src), lambda a, b: _cmp_addr(a.dst, b.dst),
    lambda a, b: _cmp_port(a.src, b.src), lambda a, b: _cmp_port(a.dst, b.dst),
)


def _skip_append(lists: list[_SkipList], sk: _SkipList, por: _OptRule) -> None:
    sk.rules.append(por)
    i = lists.index(sk)
    while i > 0 and lists[i - 1].count < sk.count:
        lists[i - 1], lists[i] = lists[i], lists[i - 1]
        i -= 1


def _reorder_rules(block: _Block, before: list[_Block]) -> None:  # noqa: C901 - mirrors pfctl_optimize.c's reorder_rules()
    """Group rules that share a skip-step field; big groups become superblocks of their own
    (placed before *block*) and are reordered recursively."""
    for i in range(9):
        for por in block.rules:
            for sk in block.skipsteps[i]:
                if not _SKIP_CMP[i](por.rule, sk.rules[0].rule):
                    break
            else:
                sk = _SkipList()
                block.skipsteps[i].append(sk)
            _skip_append(block.skipsteps[i], sk, por)
    rule_count = len(block.rules)
    counts = [0] * 9
    largest = 0
    for i in range(9):
        n = block.skipsteps[i][0].count if block.skipsteps[i] else 0
        counts[i] = 0 if n in (rule_count, 1) else n
        largest = max(largest, counts[i])
    # pfctl zeroes the count of the first skip list of each field in place
    effective: list[list[int]] = [[sk.count for sk in lists] for lists in block.skipsteps]
    for i in range(9):
        if effective[i]:
            effective[i][0] = counts[i]
    if largest == 0:
        block.skipsteps = [[] for _ in range(9)]
        return
    head = list(block.rules)
    block.rules = []
    # the skip lists carry their counts separately from their members from here on
    sizes: dict[int, int] = {}
    for i in range(9):
        for k, sk in enumerate(block.skipsteps[i]):
            sizes[id(sk)] = effective[i][k]
    while head:
        largest, largest_list = 1, -1
        for i in range(9):
            lists = block.skipsteps[i]
            if lists and sizes[id(lists[0])] > largest:
                largest, largest_list = sizes[id(lists[0])], i
        if largest <= 1:
            block.rules.extend(head)
            head = []
            continue
        sk = block.skipsteps[largest_list].pop(0)
        if sizes[id(sk)] > 2:
            newblock = _Block([])
            before.append(newblock)
        else:
            newblock = block
        for por in list(sk.rules):
            head.remove(por)
            newblock.rules.append(por)
            _remove_from_skipsteps(block, largest_list, por, sk, sizes)
        sk.rules.clear()
        if newblock is not block:
            nested: list[_Block] = []
            _reorder_rules(newblock, nested)
            before[before.index(newblock):before.index(newblock)] = nested
    block.skipsteps = [[] for _ in range(9)]


def _remove_from_skipsteps(block: _Block, active_field: int, por: _OptRule, active: _SkipList,
                           sizes: dict[int, int]) -> None:
    for i in range(9):
        lists = block.skipsteps[i]
        if not lists or lists[0] is active or sizes[id(lists[0])] <= 1:
            continue
        for k, sk in enumerate(lists):
            if por in sk.rules:
                sk.rules.remove(por)
                sizes[id(sk)] -= 1
                while k + 1 < len(lists) and sizes[id(lists[k + 1])] > sizes[id(sk)]:
                    lists[k], lists[k + 1] = lists[k + 1], lists[k]
                    k += 1
                break
