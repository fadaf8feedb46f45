"""Compile pf.conf text into the kernel structs one DIOCXBEGIN ... DIOCXCOMMIT
transaction loads: rules per ruleset path (the target anchor and the inline anchors
below it), tables with their addresses, queues and options.

:func:`compile_ruleset` raises :class:`~pf_exporter.ruleset.errors.RulesetError` whose
``line``, ``column`` and ``message`` locate the first error; :func:`compile_load` adds what
the library's :meth:`~pf_exporter.pf.PacketFilter.load` cannot load and raises
:class:`~pf_exporter.errors.PfLoadError`.  Reading files (``include``, ``load anchor``,
``table ... file``) is off unless a reader is passed, so a ruleset sent over the network
cannot read the disk.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..abi import Abi
from ..abi.constants import PF_ANCHOR_MAXPATH, PF_ANCHOR_NAME_SIZE, PF_TRANS_RULESET, PF_TRANS_TABLE
from ..errors import PfLoadError, Problem
from ..ruleset.errors import Diagnostic, RulesetError
from ..ruleset.host import Host, Interface, corpus_host
from ..ruleset.model import QueueSpec, RuleDef, TableDef
from ..ruleset.nodes import Options
from ..ruleset.pfctl import Ruleset, anchor_call, run_pfctl
from ..ruleset.show import resolve_anchor
from ._structs import (
    encode_queue,
    encode_rule,
    encode_source_limiter,
    encode_state_limiter,
    encode_table,
    encode_table_address,
)


class FileAccessDisabled(OSError):
    """Raised instead of reading a file when the caller allowed no file access."""


def no_file_access(path: str) -> str:
    raise FileAccessDisabled(13, "reading files is disabled for this ruleset", path)


@dataclass
class CompiledRule:
    path: str  # the ruleset (anchor path) the rule is added to
    anchor_call: str  # pfioc_rule.anchor_call: the ruleset an anchor rule calls, else ""
    rule: ctypes.Structure  # struct pf_rule
    source: RuleDef


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
    loaded_anchors: list[str] = field(default_factory=list)  # `load anchor` targets, replaced even when empty
    state_limiters: list[ctypes.Structure] = field(default_factory=list)  # struct pfioc_statelim (7.9+)
    source_limiters: list[ctypes.Structure] = field(default_factory=list)  # struct pfioc_sourcelim
    # the pf.os text loaded into pf before the transaction (main ruleset: `set fingerprints`, or
    # OpenBSD's pf.os when a rule uses `os`), None: the kernel's fingerprints are left alone
    fingerprints: str | None = None

    @property
    def ruleset_paths(self) -> list[str]:
        """Every ruleset the transaction replaces: the anchor itself, then inline and loaded anchors."""
        paths = [self.anchor]
        for path in [r.path for r in self.rules] + self.loaded_anchors:
            if path not in paths:
                paths.append(path)
        return paths

    def transaction(self) -> Any:
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
                    max_macro_expansion: int | None = MAX_MACRO_EXPANSION, fingerprints: Any = None,
                    known_limiters: dict[str, dict[str, int]] | None = None) -> CompiledRuleset:
    """Parse *text* for *anchor* ("" is the main ruleset) and encode it for *abi*.

    The text may come from an untrusted sender, so its expansion is bounded: more than
    *max_rules* rules, *max_table_addresses* table addresses or *max_macro_expansion*
    characters of substituted macros is an error on the line that crosses the bound
    (checked before the work is done); None lifts a bound.

    *optimize* runs pfctl's basic optimizer, as ``pfctl -f`` does unless given ``-o none``.
    ``load anchor NAME from FILE`` is followed when *read_file* is given (it returns a file's
    text, or raises OSError), and refused otherwise.  *fingerprints* and *known_limiters* are
    :func:`~pf_exporter.ruleset.run_pfctl`'s: the OS fingerprint names and the 7.9 limiters pf
    has.  Raises :class:`RulesetError` on any error pfctl would report, and when the text uses 7.9
    limiters and *abi* is an older release."""
    if anchor.startswith("_") or "/_" in anchor:
        message = "anchor names beginning with '_' cannot be modified from the command line"
        raise RulesetError([Diagnostic(text=f"pfctl: {message}", message=message)])
    if anchor and (anchor.startswith("/") or anchor.endswith("/") or "//" in anchor or "*" in anchor):
        message = f"invalid anchor path {anchor!r}: use names separated by single slashes"
        raise RulesetError([Diagnostic(text=f"pfctl: {message}", message=message)])
    if anchor and any(part in (".", "..") for part in anchor.split("/")):
        message = f"invalid anchor path {anchor!r}: '.' and '..' are not anchor names (anchor paths are not file paths)"
        raise RulesetError([Diagnostic(text=f"pfctl: {message}", message=message)])
    ruleset = run_pfctl(text, filename, host=host or corpus_host(), anchor=anchor, macros=macros,
                        read_file=read_file or no_file_access, follow_load_anchors=read_file is not None,
                        optimize=optimize,
                        kernel_table_names=True, max_rules=max_rules, max_table_addresses=max_table_addresses,
                        max_macro_expansion=max_macro_expansion, fingerprints=fingerprints,
                        known_limiters=known_limiters)
    located: list[Diagnostic] = []
    if not abi.has_limiters:
        located += _limiters_refused(ruleset, filename, abi.release)
    if ruleset.load_anchors and read_file is None:
        line, name = ruleset.load_anchors[0]
        located.append(_unsupported(filename, line, f"load anchor \"{name}\" without its file (give the "
                                    "files' texts, or compile and load that anchor separately)"))
    if located:
        raise RulesetError(located)
    warnings = [d for d in ruleset.diagnostics if not d.is_error]
    options = ruleset.options
    if anchor and ruleset.option_lines:  # pfctl loads options only with the main ruleset
        line = ruleset.option_lines[0]
        message = "set options in an anchor are ignored; set them in the main ruleset"
        warnings.append(Diagnostic(text=f"{filename}:{line}: {message}", message=message, file=filename, line=line,
                                   column=1, is_error=False))
        options = Options()
    out = CompiledRuleset(abi=abi, anchor=anchor, options=options, ruleset=ruleset, warnings=warnings)
    if not anchor:
        if ruleset.fingerprints_file is not None:
            out.fingerprints = ruleset.fingerprints_file[1]
        elif ruleset.uses_os:
            from ..ruleset.osfp import standard_database

            out.fingerprints = standard_database()
    try:
        _encode(out, ruleset)
    except ValueError as e:
        raise RulesetError([Diagnostic(text=f"{filename}: {e}", message=str(e), file=filename)]) from None
    return out


def _anchor_call_problem(ruleset: str, call: str) -> str:
    """Why pf would refuse (EINVAL) an anchor rule in *ruleset* calling *call*, as
    pf_anchor_setup() and pf_find_or_create_ruleset() resolve it; "" when it would not.  An
    absolute call ("/x/y") starts at the main ruleset; a relative one at *ruleset*, each leading
    "../" going one level up."""
    ups = 0
    while call.startswith("../" * (ups + 1)):
        ups += 1
    if ups > len(ruleset.split("/") if ruleset else []):
        return f'anchor "{call}" goes above the main ruleset (pf refuses ".." beyond the root)'
    if call.endswith("/"):
        return f'anchor "{call}" has an empty path component ("//" or a trailing "/")'
    path = resolve_anchor(ruleset, call)
    if path.endswith("/*"):
        path = path[:-2]
    elif path == "*":
        path = ""
    parts = path.split("/") if path else []
    if not parts:
        return f'anchor "{call}" names the main ruleset, which cannot be called'
    for part in parts:
        if not part:
            return f'anchor "{call}" has an empty path component ("//" or a trailing "/")'
        if len(part.encode()) >= PF_ANCHOR_NAME_SIZE:
            return f'anchor "{call}": the name {part[:20]!r}... is longer than pf\'s {PF_ANCHOR_NAME_SIZE - 1} bytes'
    return ""


def _limiters_refused(ruleset: Ruleset, filename: str, release: str) -> list[Diagnostic]:
    """pf before 7.9 has no limiters: the first definition or rule that uses one, located."""
    lines = [d.line for d in ruleset.state_limiters + ruleset.source_limiters]
    lines += [r.line for a in [ruleset.main, *ruleset.anchors.values()] for r in _all_rules(a)
              if r.statelim[0] or r.sourcelim[0]]
    if not lines:
        return []
    line = min(lines)
    message = f"state and source limiters need OpenBSD 7.9 or later; this pf is OpenBSD {release}"
    return [Diagnostic(text=f"{filename}:{line}: {message}", message=message, file=filename, line=line, column=1)]


def _all_rules(anchor: Any) -> Iterator[RuleDef]:
    for r in anchor.rules:
        yield r
        if r.anchor is not None and r.anchor.inline:
            yield from _all_rules(r.anchor)


def _unsupported(filename: str, line: int, what: str) -> Diagnostic:
    message = f"unsupported: {what} at line {line}"
    return Diagnostic(text=f"{filename}:{line}: {message}", message=message, file=filename, line=line, column=1)


def _encode(out: CompiledRuleset, ruleset: Ruleset) -> None:
    abi = out.abi
    seen: set[int] = set()

    def walk(anchor_path: str, rules: list[RuleDef]) -> None:
        for r in rules:
            call = anchor_call(r)
            out.rules.append(CompiledRule(anchor_path, call, encode_rule(abi, r), r))
        for r in rules:
            if r.anchor is not None and r.anchor.inline and id(r.anchor) not in seen and r.anchor.rules:
                seen.add(id(r.anchor))
                walk(r.anchor.loaded_path, r.anchor.rules)

    seen.add(id(ruleset.main))
    walk(ruleset.main.loaded_path, ruleset.main.rules)
    for _line, name in ruleset.load_anchors:  # `load anchor`: its own ruleset, in the same transaction
        loaded = ruleset.anchors.get(name)
        path = name.lstrip("/")  # pf_find_or_create_ruleset() reads "/x" as "x"
        if path not in out.loaded_anchors:
            out.loaded_anchors.append(path)
        if loaded is not None and id(loaded) not in seen:
            seen.add(id(loaded))
            walk(path, loaded.rules)
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
    out.state_limiters = [encode_state_limiter(abi, d) for d in ruleset.state_limiters]
    out.source_limiters = [encode_source_limiter(abi, d) for d in ruleset.source_limiters]


def host_from_interfaces(names: list[str]) -> Host:
    """A compile host knowing the interface names pf reports, without addresses: ``on em0``
    and ``(em0)`` work; ``from em0`` (the interface's current addresses) does not."""
    host = Host()
    for i, name in enumerate(names, 1):
        host.interfaces.append(Interface(name=name, index=i, groups=("all",)))
    return host


def _problems(e: RulesetError, filename: str) -> list[Problem]:
    """The first located error (what pfctl reports first), then the other errors."""
    first = Problem(_clean(e.message, filename), e.line or None, e.column or None, e.message)
    rest = [Problem(_clean(d.message, filename), d.line or None, d.column or None, d.text)
            for d in e.diagnostics if d.is_error and (d.message, d.line or None) != (e.message, first.line)]
    return [first, *rest]


def _clean(text: str, filename: str) -> str:
    return text.removeprefix(filename + ":").strip()


def _refuse(message: str, line: int | None = None, column: int | None = None) -> PfLoadError:
    return PfLoadError("compile", message, problems=[Problem(message, line, column, message)])


def _reader(files: Mapping[str, str]) -> Callable[[str], str]:
    """``load anchor ... from FILE`` and ``include`` read only the texts given, nothing from disk."""
    def read(path: str) -> str:
        if path not in files:
            raise FileAccessDisabled(2, "No such file or directory (not among the files given)", path)
        return files[path]

    return read


def compile_load(text: str, abi: Abi, anchor: str = "", *, host: Host | None = None, filename: str = "stdin",
                 max_rules: int | None = None, max_table_addresses: int | None = None,
                 max_macro_expansion: int | None = None, files: Mapping[str, str] | None = None,
                 fingerprints: Any = None, known_limiters: dict[str, dict[str, int]] | None = None) -> CompiledRuleset:
    """*text* compiled for a load into *anchor* by :meth:`PacketFilter.load`: what does not compile,
    and what the load cannot apply, raise :class:`PfLoadError` (stage "compile") naming the line."""
    try:
        compiled = compile_ruleset(text, abi, anchor, host=host or Host(), filename=filename, max_rules=max_rules,
                                   max_table_addresses=max_table_addresses, max_macro_expansion=max_macro_expansion,
                                   read_file=None if files is None else _reader(files), fingerprints=fingerprints,
                                   known_limiters=known_limiters)
    except RulesetError as e:
        problems = _problems(e, filename)
        raise PfLoadError("compile", problems[0].message, problems=problems) from None
    if compiled.queues and anchor:
        raise _refuse("queue definitions belong to the main ruleset, not to an anchor")
    for cr in compiled.rules:
        # pf keeps anchor paths in MAXPATHLEN buffers and refuses paths longer than
        # PF_ANCHOR_MAXPATH; inline anchors nest below the target anchor and can outgrow it
        for path in (cr.path, cr.anchor_call):
            if len(path.encode()) > PF_ANCHOR_MAXPATH:
                raise _refuse(f"this rule's anchor path ({path[:40]}...) is {len(path.encode())} bytes, longer "
                              f"than pf's limit of {PF_ANCHOR_MAXPATH}; use shorter anchor names or fewer levels "
                              "of nesting", cr.source.line or None, 1)
    for cr in compiled.rules:
        if cr.anchor_call:
            problem = _anchor_call_problem(cr.path, cr.anchor_call)
            if problem:
                raise _refuse(problem, cr.source.line or None, 1)
    for path in compiled.loaded_anchors:
        parts = path.split("/")
        if "" in parts or "." in parts or ".." in parts:
            raise _refuse(f'load anchor "{path}": pf would refuse this path (an empty component, e.g. an absolute '
                          'name inside an anchor, or ".." in it); name the anchor relative to the ruleset it is '
                          'in, or load it from the main ruleset')
    for path in compiled.ruleset_paths:
        if anchor and path != anchor and not path.startswith(anchor + "/"):
            raise _refuse(f"the ruleset would change anchor {path!r} outside {anchor!r}")
    for ct in compiled.tables:
        if ct.path not in compiled.ruleset_paths:
            raise _refuse(f"table <{ct.source.name}> belongs to anchor {ct.path!r} outside {anchor!r}",
                          ct.source.line or None)
    return compiled
