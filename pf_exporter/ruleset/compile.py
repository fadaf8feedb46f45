"""Compile pf.conf text into the kernel structs one DIOCXBEGIN ... DIOCXCOMMIT
transaction loads: rules per ruleset path (the target anchor and the inline anchors
below it), tables with their addresses, queues and options.

The admin API calls :func:`compile_ruleset`; on bad input it raises
:class:`~.errors.RulesetError` whose ``line``, ``column`` and ``message`` locate the
first error.  Reading files (``include``, ``load anchor``, ``table ... file``) is off
unless a reader is passed, so a ruleset sent over the network cannot read the disk.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..abi import Abi
from ..abi.constants import PF_TRANS_RULESET, PF_TRANS_TABLE
from .errors import Diagnostic, RulesetError
from .host import Host, corpus_host
from .model import QueueSpec, Rule, TableDef
from .parser import Options
from .pfctl import Ruleset, anchor_call, run_pfctl
from .structs import encode_queue, encode_rule, encode_table, encode_table_address


class FileAccessDisabled(OSError):
    """Raised instead of reading a file when the caller allowed no file access."""


def no_file_access(path: str) -> str:
    raise FileAccessDisabled(13, "reading files is disabled for this ruleset", path)


@dataclass
class CompiledRule:
    path: str  # the ruleset (anchor path) the rule is added to
    anchor_call: str  # pfioc_rule.anchor_call: the ruleset an anchor rule calls, else ""
    rule: ctypes.Structure  # struct pf_rule
    source: Rule


@dataclass
class CompiledTable:
    path: str
    table: ctypes.Structure  # struct pfr_table
    addresses: list[ctypes.Structure]  # struct pfr_addr
    source: TableDef


@dataclass
class CompiledRuleset:
    """Everything to load, in load order, as the release's structs."""

    abi: Abi
    anchor: str
    rules: list[CompiledRule] = field(default_factory=list)
    tables: list[CompiledTable] = field(default_factory=list)
    queues: list[ctypes.Structure] = field(default_factory=list)  # struct pf_queuespec, parents first
    options: Options = field(default_factory=Options)
    ruleset: Ruleset | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def ruleset_paths(self) -> list[str]:
        """Every ruleset the transaction replaces: the anchor itself, then inline anchors."""
        paths = [self.anchor]
        for r in self.rules:
            if r.path not in paths:
                paths.append(r.path)
        return paths

    def transaction(self) -> ctypes.Array:  # type: ignore[type-arg]
        """The ``pfioc_trans_e`` array for DIOCXBEGIN: a rules and a tables entry per ruleset."""
        entries = []
        for path in self.ruleset_paths:
            for kind in (PF_TRANS_RULESET, PF_TRANS_TABLE):
                e = self.abi.new("pfioc_trans_e", type=kind)
                e.anchor = path.encode()
                entries.append(e)
        array = (self.abi.layout.pfioc_trans_e * len(entries))(*entries)
        return array

    def pfioc_rules(self, ticket: Callable[[str], int]) -> Iterator[ctypes.Structure]:
        """``pfioc_rule`` arguments for DIOCADDRULE, in order; *ticket(path)* gives the
        rules ticket DIOCXBEGIN returned for that ruleset."""
        for cr in self.rules:
            pr = self.abi.new("pfioc_rule")
            pr.ticket = ticket(cr.path)
            pr.anchor = cr.path.encode()
            pr.anchor_call = cr.anchor_call.encode()
            ctypes.memmove(ctypes.addressof(pr.rule), ctypes.addressof(cr.rule), ctypes.sizeof(cr.rule))
            yield pr


MAX_RULES = 20_000  # rules after list expansion (lists multiply: 265 bytes can make 7,200 rules)
MAX_TABLE_ADDRESSES = 200_000  # table addresses defined by one text, over all its tables
MAX_MACRO_EXPANSION = 1 << 20  # characters of macro values substituted (macros of macros grow exponentially)


def compile_ruleset(text: str, abi: Abi, anchor: str = "", *, host: Host | None = None,
                    macros: dict[str, str] | None = None, filename: str = "stdin",
                    read_file: Callable[[str], str] | None = None, optimize: bool = False,
                    max_rules: int | None = MAX_RULES, max_table_addresses: int | None = MAX_TABLE_ADDRESSES,
                    max_macro_expansion: int | None = MAX_MACRO_EXPANSION) -> CompiledRuleset:
    """Parse *text* for *anchor* ("" is the main ruleset) and encode it for *abi*.

    The text may come from an untrusted sender, so its expansion is bounded: more than
    *max_rules* rules, *max_table_addresses* table addresses or *max_macro_expansion*
    characters of substituted macros is an error on the line that crosses the bound
    (checked before the work is done); None lifts a bound.

    *optimize* runs pfctl's basic optimizer, as ``pfctl -f`` does unless given ``-o none``.
    Raises :class:`RulesetError` on any error pfctl would report, and for what this
    compiler does not load: ``load anchor`` (load that anchor separately), option and
    queue statements inside an anchor (pfctl ignores the former)."""
    if anchor.startswith("_") or "/_" in anchor:
        message = "anchor names beginning with '_' cannot be modified from the command line"
        raise RulesetError([Diagnostic(text=f"pfctl: {message}", message=message)])
    if anchor and (anchor.startswith("/") or anchor.endswith("/") or "//" in anchor or "*" in anchor):
        message = f"invalid anchor path {anchor!r}: use names separated by single slashes"
        raise RulesetError([Diagnostic(text=f"pfctl: {message}", message=message)])
    ruleset = run_pfctl(text, filename, host=host or corpus_host(), anchor=anchor, macros=macros,
                        read_file=read_file or no_file_access, follow_load_anchors=False, optimize=optimize,
                        kernel_table_names=True, max_rules=max_rules, max_table_addresses=max_table_addresses,
                        max_macro_expansion=max_macro_expansion)
    located: list[Diagnostic] = []
    if ruleset.load_anchors:
        line, name = ruleset.load_anchors[0]
        located.append(_unsupported(filename, line,
                                    f"load anchor \"{name}\" (compile and load that anchor separately)"))
    if anchor and ruleset.option_lines:
        located.append(_unsupported(filename, ruleset.option_lines[0],
                                    "set options in an anchor (pfctl ignores them; set them in the main ruleset)"))
    if located:
        raise RulesetError(located)
    out = CompiledRuleset(abi=abi, anchor=anchor, options=ruleset.options, ruleset=ruleset,
                          warnings=[d for d in ruleset.diagnostics if not d.is_error])
    try:
        _encode(out, ruleset)
    except ValueError as e:
        raise RulesetError([Diagnostic(text=f"{filename}: {e}", message=str(e), file=filename)]) from None
    return out


def _unsupported(filename: str, line: int, what: str) -> Diagnostic:
    message = f"unsupported: {what} at line {line}"
    return Diagnostic(text=f"{filename}:{line}: {message}", message=message, file=filename, line=line, column=1)


def _encode(out: CompiledRuleset, ruleset: Ruleset) -> None:
    abi = out.abi
    seen: set[int] = set()

    def walk(anchor_path: str, rules: list[Rule]) -> None:
        for r in rules:
            call = anchor_call(r)
            out.rules.append(CompiledRule(anchor_path, call, encode_rule(abi, r), r))
        for r in rules:
            if r.anchor is not None and r.anchor.inline and id(r.anchor) not in seen and r.anchor.rules:
                seen.add(id(r.anchor))
                walk(r.anchor.loaded_path, r.anchor.rules)

    seen.add(id(ruleset.main))
    walk(ruleset.main.loaded_path, ruleset.main.rules)
    for t in ruleset.tables:
        path = t.anchor
        out.tables.append(CompiledTable(path, encode_table(abi, t, path),
                                        [encode_table_address(abi, a) for a in t.addresses], t))

    def queues(q: QueueSpec) -> None:
        out.queues.append(encode_queue(abi, q))
        for child in q.children:
            queues(child)

    for q in ruleset.queues:
        queues(q)
