"""What ``pfctl -o none -nv -f FILE`` does after reading its options: parse the file,
check and print the queues, number the rules (``$nr``), print the rulesets with their
anchors, then parse the files named by ``load anchor``.  The result keeps pfctl's
standard output and standard error apart, and the rulesets ready for loading."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..abi.constants import PFQS_DEFAULT, PFQS_FLOWQUEUE, PFQS_ROOTCLASS
from . import lexer as lx
from .errors import Diagnostic, RulesetError
from .host import Host, corpus_host
from .model import Anchor, QueueSpec, RuleDef, SourceLimiterDef, StateLimiterDef, TableDef
from .nodes import FatalError, Options, ParseState
from .optimizer import Optimizer
from .parser import Parser
from .printer import format_queuespec, format_rule, format_tabledef


@dataclass
class Ruleset:
    """Everything one pfctl run would load: the rulesets (the main one or ``-a``'s, and
    every anchor below), tables, queues and options, plus what pfctl printed."""

    main: Anchor
    anchors: dict[str, Anchor] = field(default_factory=dict)  # path -> ruleset, loaded anchors included
    tables: list[TableDef] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)  # root queues, children nested
    options: Options = field(default_factory=Options)
    load_anchors: list[tuple[int, str]] = field(default_factory=list)  # (line, anchor) of `load anchor`
    option_lines: list[int] = field(default_factory=list)  # lines of `set` statements in the main file
    stdout: list[str] = field(default_factory=list)
    stdout_always: set[int] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    state_limiters: list[StateLimiterDef] = field(default_factory=list)  # 7.9+
    source_limiters: list[SourceLimiterDef] = field(default_factory=list)
    # OS fingerprints the main ruleset loads (`set fingerprints`, or pf.os when a rule uses `os`)
    fingerprints_file: tuple[str, str] | None = None
    uses_os: bool = False

    @property
    def output(self) -> str:
        """What ``pfctl -nv`` prints on standard output."""
        return "".join(line + "\n" for line in self.stdout)

    @property
    def quiet_output(self) -> str:
        """What pfctl prints on standard output without -v."""
        return "".join(line + "\n" for i, line in enumerate(self.stdout) if i in self.stdout_always)

    @property
    def stderr(self) -> str:
        return "".join(d.text + "\n" for d in self.diagnostics)


class _Exit(Exception):
    pass


def run_pfctl(text: str, filename: str = "stdin", *, host: Host | None = None, anchor: str = "",
              macros: dict[str, str] | None = None, numeric: bool = False,
              read_file: Callable[[str], str] = lx.read_text_file, follow_load_anchors: bool = True,
              optimize: bool = False, kernel_table_names: bool = False, max_rules: int | None = None,
              max_table_addresses: int | None = None, max_macro_expansion: int | None = None,
              fingerprints: Any = None, known_limiters: dict[str, dict[str, int]] | None = None) -> Ruleset:
    """Parse and "load" a ruleset like ``pfctl -o none -nv [-a anchor] [-D m=v] -f FILE``
    (with *optimize*, like ``pfctl -o basic``).

    Raises :class:`RulesetError` (with everything pfctl would have printed) when pfctl
    would exit non-zero.  The ``max_*`` bounds (None: none, like pfctl) make a ruleset that
    expands past them an error on the line that does.  *fingerprints* (a
    :class:`~.osfp.Fingerprints`, or a callable returning one when a rule first needs it) is the
    list ``os "name"`` is resolved in, OpenBSD's pf.os by default; *known_limiters* names the
    7.9 limiters pf already has (``{"state": {name: id}, "source": {...}}``) for an anchor's rules."""
    state = ParseState(host=host or corpus_host(), anchorname=anchor, numeric=numeric, read_file=read_file,
                       optimize=optimize, kernel_table_names=kernel_table_names, max_rules=max_rules,
                       max_table_addresses=max_table_addresses, max_macro_expansion=max_macro_expansion,
                       fingerprints=fingerprints, known_limiters=dict(known_limiters or {}))
    main = _new_anchor(anchor)
    result = Ruleset(main=main, stdout=state.stdout, stdout_always=state.stdout_always,
                     diagnostics=state.diagnostics)
    try:
        _rules(state, result, text, filename, main, anchor, dict(macros or {}), is_main=True)
        result.options = state.options
        result.option_lines = list(state.option_lines)
        result.load_anchors = [(line, name) for name, _, line in state.load_anchors]
        done = 0
        while follow_load_anchors and done < len(state.load_anchors):
            name, path, _ = state.load_anchors[done]
            done += 1
            for text in ("", f"Loading anchor {name} from {path}"):
                state.diagnostics.append(Diagnostic(text=text, message=text, is_error=False))
            try:
                sub_text = read_file(path)
            except OSError as e:
                state.warn(f"pfctl: pushfile: {path}: {e.strerror}")
                state.warn("pfctl: cannot open the main config file!: " + (e.strerror or str(e)))
                state.warn("pfctl: load anchors")
                raise _Exit from None
            sub = _new_anchor(name)
            if not _rules(state, result, sub_text, path, sub, name, {}, is_main=False):
                state.warn("pfctl: load anchors")
                raise _Exit
    except _Exit:
        raise RulesetError(state.diagnostics, result.output, result.quiet_output) from None
    except FatalError as e:
        state.warn(f"pfctl: {e}")
        raise RulesetError(state.diagnostics, result.output, result.quiet_output) from None
    result.tables = list(state.tables)
    result.state_limiters = list(state.state_limiters)
    result.source_limiters = list(state.source_limiters)
    result.fingerprints_file = state.fingerprints_file
    result.uses_os = state.uses_os
    return result


def _new_anchor(path: str) -> Anchor:
    return Anchor(name=path.rsplit("/", 1)[-1] if path else "", path=path)


def _rules(state: ParseState, result: Ruleset, text: str, filename: str, main: Anchor, anchorname: str,
           macros: dict[str, str], is_main: bool) -> bool:
    """pfctl_rules(): parse one file into *main* and print it; False when it failed."""
    state.errors = 0
    state.anchorname = anchorname
    if not is_main:
        state.options = Options()
    parser = Parser(text, "stdin" if filename == "-" else filename, state, main, macros=macros,
                    persistent=set(macros))
    parser.parse()
    if state.errors:
        if is_main:
            raise _Exit
        return False
    if is_main and not anchorname:
        _check_queues(state, main)
        result.queues = list(state.rootqs)
        for q in state.rootqs:
            _print_queue(state, q)
    _load_ruleset(state, result, main, 0, set(), anchorname)
    for tdef in state.tables:
        owner = state.table_owner.get(id(tdef))
        if owner is not None:
            tdef.anchor = owner.loaded_path or owner.path
    return True


def _load_ruleset(state: ParseState, result: Ruleset, anchor: Anchor, depth: int, loaded: set[int],
                  path: str) -> None:
    """pfctl_load_ruleset(): number and print the rules; anchors recursively.  An inline
    anchor is loaded at its parent's path plus its name."""
    anchor.loaded_path = path
    result.anchors[path] = anchor
    if state.optimize and id(anchor) not in loaded:
        anchor.rules = _optimizer(state, path).optimize(anchor.rules)
    rules = anchor.rules if id(anchor) not in loaded else []
    loaded.add(id(anchor))
    for rno, r in enumerate(rules):
        r.nr = rno
        for attr in ("label", "tagname", "match_tagname"):
            value = getattr(r, attr)
            if "$nr" in value:
                setattr(r, attr, value.replace("$nr", str(rno)))
        name = anchor_call(r)
        line = "  " * depth + format_rule(r, name, protocol_names=state.host.protocol_names)
        if r.anchor is not None:
            child_rules = r.anchor.rules if id(r.anchor) not in loaded else []
            if child_rules:
                state.out(line + " {")
                child = f"{path}/{r.anchor.name}" if path else r.anchor.name
                _load_ruleset(state, result, r.anchor, depth + 1, loaded, child)
                state.out("  " * depth + "}")
            else:
                state.out(line)
                loaded.add(id(r.anchor))
        else:
            state.out(line)


def _optimizer(state: ParseState, path: str) -> Optimizer:
    def define(tdef: TableDef) -> str:
        if state.kernel_table_names:
            tdef.name = state.kernel_table_name()
        tdef.anchor = path
        state.tables.append(tdef)
        state.out(format_tabledef(tdef.name, tdef.flags, tdef.init_addr, tdef.init))
        return tdef.name

    return Optimizer(state.temporary_table_name, define)


def anchor_call(r: RuleDef) -> str:
    """The name an anchor rule calls (pr.anchor_call): the last path component of an
    inline anchor that holds rules, otherwise the path as written."""
    if r.anchor is None:
        return ""
    return r.anchor.name if r.anchor.match else r.anchor.path


# -- queues ------------------------------------------------------------------------------
def _check_queues(state: ParseState, main: Anchor) -> None:
    for qi in state.rootqs:
        flags = _find_childqs(state, qi)
        if not qi.flags & PFQS_ROOTCLASS and qi.children:
            if qi.flags & PFQS_FLOWQUEUE:
                _errx(state, f"root queue {qi.qname} doesn't support hierarchy")
            _errx(state, f"no bandwidth was specified for root queue {qi.qname}")
        if qi.flags & PFQS_ROOTCLASS and not flags & PFQS_DEFAULT:
            _errx(state, "no default queue specified")
    if _check_leaf_assignments(state, main, set()):
        raise _Exit
    for qi in state.qspecs:
        if qi.matches == 0:
            _errx(state, f"queue {qi.qname}: parent {qi.parent} not found")
        if any(sc[0][1] or sc[2][1] for sc in (qi.realtime, qi.linkshare, qi.upperlimit)):
            _errx(state, "only absolute bandwidth specs for now")
        if qi.parent and not qi.linkshare[0][0] and not qi.linkshare[2][0]:
            _errx(state, f"queue {qi.qname}: no bandwidth was specified")


def _find_childqs(state: ParseState, qi: QueueSpec) -> int:
    flags = qi.flags
    for p in state.qspecs:
        if p.parent != qi.qname:
            continue
        if p.ifname and p.ifname != qi.ifname:
            continue
        p.matches += 1
        if p.matches > 10000:
            _errx(state, "pfctl_find_childqs: excessive matches, loop?")
        existing = next((c for c in qi.children if c.qname == p.qname), None)
        if existing is None:
            qi.children.append(QueueSpec(**{**p.__dict__, "children": [], "matches": 0}))
        else:
            if existing.ifname and p.ifname:
                _errx(state, f"queue {existing.qname} on {existing.ifname} respecified")
            if not existing.ifname and not p.ifname:
                _errx(state, f"queue {existing.qname} respecified")
            if not existing.ifname:
                existing.__dict__.update({k: v for k, v in p.__dict__.items() if k not in ("children", "matches")})
    for child in qi.children:
        flags |= _find_childqs(state, child)
    if qi.children:
        if qi.flags & PFQS_DEFAULT:
            _errx(state, f"default queue {qi.qname} is not a leaf queue")
        if qi.flags & PFQS_FLOWQUEUE:
            _errx(state, f"flow queue {qi.qname} is not a leaf queue")
    return flags


def _check_leaf_assignments(state: ParseState, anchor: Anchor, seen: set[int]) -> int:
    errors = 0
    if id(anchor) in seen:
        return 0
    seen.add(id(anchor))
    for r in anchor.rules:
        if r.anchor is not None:
            errors += _check_leaf_assignments(state, r.anchor, seen)
        for name in (r.qname, r.pqname):
            if name and _is_inner_queue(state, name):
                state.out(f"queue {name}: packets must be assigned to leaf queues only", always=True)
                errors += 1
                break
    return errors


def _is_inner_queue(state: ParseState, name: str) -> bool:
    return any(q.qname == name and q.children for q in (*state.rootqs, *state.qspecs))


def _print_queue(state: ParseState, q: QueueSpec) -> None:
    state.out(format_queuespec(q))
    for child in q.children:
        child.ifname = q.ifname
        _print_queue(state, child)


def _errx(state: ParseState, message: str) -> None:
    state.warn(f"pfctl: {message}")
    raise _Exit


def pfctl_output(text: str, filename: str = "stdin", verbose: bool = True, **kwargs: object) -> tuple[str, str, int]:
    """(stdout, stderr, exit status) of ``pfctl -o none -n[v]``; stderr comes first when
    both are captured together, since pfctl's stdout is block-buffered."""
    try:
        result = run_pfctl(text, filename, **kwargs)  # type: ignore[arg-type]  # the corpus passes run_pfctl's own keywords
    except RulesetError as e:
        return (e.output if verbose else e.quiet_output), "".join(d.text + "\n" for d in e.diagnostics), 1
    return (result.output if verbose else result.quiet_output), result.stderr, 0
