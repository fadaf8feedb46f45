"""From a request body to kernel structs: JSON rules and pf.conf text, through one compiler.

There is one compiler in the project, :func:`pf_exporter.ruleset.compile.compile_ruleset`.
JSON rules are first rendered to pf.conf text (:func:`.rules.render_ruleset`, one line
per table and per rule) and compiled like any pf.conf; an error on line *n* is reported
against the JSON member that produced that line (``rules[3]``, ``tables.web``).

The compiler never reads files (``include``, ``load anchor``, ``table ... file`` are
refused) and never resolves host names: a ruleset sent over the network cannot make
the exporter touch the disk or the DNS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..abi import Abi
from ..abi.constants import PF_ANCHOR_MAXPATH
from .pfops import AnchorLoad, RuleLoad, TableLoad
from .rules import Rendered, RulesetSpec, render_ruleset


class CompileError(Exception):
    """The rules do not compile; *field* (JSON) or *line*/*column* (pf.conf) say where."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line
        self.column = column


@dataclass
class Compiled:
    """What one PUT loads: the target anchor first, then inline anchors below it."""

    loads: list[AnchorLoad]
    warnings: list[str] = field(default_factory=list)

    @property
    def rule_count(self) -> int:
        return sum(len(x.rules) for x in self.loads)

    @property
    def table_count(self) -> int:
        return sum(len(x.tables) for x in self.loads)


class Compiler:
    """Turns a :class:`RulesetSpec` or pf.conf text into a :class:`Compiled` for one anchor."""

    def __init__(self, abi: Abi, host_factory: Callable[[], Any] | None = None) -> None:
        self.abi = abi
        self.host_factory = host_factory  # the machine's interfaces for pfctl's lookups

    def compile_text(self, text: str, anchor: str) -> Compiled:
        from ..ruleset.compile import compile_ruleset
        from ..ruleset.errors import RulesetError

        host = self.host_factory() if self.host_factory is not None else _empty_host()
        try:
            compiled = compile_ruleset(text, self.abi, anchor, host=host, filename="body")
        except RulesetError as e:
            raise CompileError(_clean(e.message), line=e.line or None, column=e.column or None) from None
        if compiled.queues:
            raise CompileError("queue definitions are not loaded by the admin API; load queues with pfctl -f")
        # `set` lines that reach the kernel (limits, timeouts, skip, debug, ...) are not loaded by the
        # admin API.  block-policy, state-policy and state-defaults only shape the rules as they are
        # compiled, and ruleset-optimization has no effect here (no optimizer runs), so those are fine.
        # (In an anchor compile_ruleset refuses the former itself.)
        option_lines = compiled.ruleset.option_lines if compiled.ruleset is not None else []
        if option_lines:
            raise CompileError(f"the set option on line {option_lines[0]} is not applied by the admin API (only "
                               "block-policy, state-policy and state-defaults, which shape the rules, and "
                               "ruleset-optimization are accepted); remove it, or load the ruleset with pfctl -f",
                               line=option_lines[0], column=1)
        for cr in compiled.rules:
            # pf keeps anchor paths in MAXPATHLEN buffers and refuses paths longer than
            # PF_ANCHOR_MAXPATH; inline anchors nest below the target anchor and can outgrow it
            for path in (cr.path, cr.anchor_call):
                if len(path.encode()) > PF_ANCHOR_MAXPATH:
                    raise CompileError(f"this rule's anchor path ({path[:40]}...) is {len(path.encode())} bytes, "
                                       f"longer than pf's limit of {PF_ANCHOR_MAXPATH}; use shorter anchor names "
                                       "or fewer levels of nesting", line=cr.source.line or None, column=1)
        loads: dict[str, AnchorLoad] = {}
        for path in compiled.ruleset_paths:
            if anchor and path != anchor and not path.startswith(anchor + "/"):
                raise CompileError(f"the ruleset would change anchor {path!r} outside {anchor!r}")
            loads[path] = AnchorLoad(path)
        for cr in compiled.rules:
            loads[cr.path].rules.append(
                RuleLoad(cr.rule, cr.anchor_call, source=f"line {cr.source.line}" if cr.source.line else "",
                         line=cr.source.line or None))
        for ct in compiled.tables:
            if ct.path not in loads:
                raise CompileError(f"table <{ct.source.name}> belongs to anchor {ct.path!r} outside {anchor!r}",
                                   line=ct.source.line or None)
            loads[ct.path].tables.append(
                TableLoad(ct.source.name, int(ct.table.pfrt_flags),
                          raw_addresses=list(ct.addresses) if ct.source.init_addr else None,
                          source=f"line {ct.source.line}" if ct.source.line else "", line=ct.source.line or None))
        warnings = [_clean(d.text) for d in compiled.warnings]
        return Compiled(list(loads.values()), warnings)

    def compile_spec(self, spec: RulesetSpec, anchor: str) -> Compiled:
        rendered = render_ruleset(spec)
        try:
            compiled = self.compile_text(rendered.text, anchor)
        except CompileError as e:
            raise map_error(e, rendered) from None
        for load in compiled.loads:
            for item in (*load.rules, *load.tables):
                if item.line is not None and item.line in rendered.sources:
                    item.source = rendered.sources[item.line]
                    item.line = item.column = None
        return compiled


def map_error(e: CompileError, rendered: Rendered) -> CompileError:
    """A compile error in rendered text, re-addressed to the JSON member of that line."""
    source = rendered.sources.get(e.line or 0)
    if source is None:
        return e
    lines = rendered.text.splitlines()
    line_text = lines[e.line - 1] if e.line and e.line <= len(lines) else ""
    return CompileError(f"{source}: {e.message} (as pf.conf: {line_text})", field=source)


def _clean(text: str) -> str:
    return text.removeprefix("body:").strip()


def _empty_host() -> Any:
    from ..ruleset.host import Host

    return Host()


def host_from_interfaces(names: list[str]) -> Any:
    """A compile host knowing the interface names pf reports, without addresses: ``on em0``
    and ``(em0)`` work; ``from em0`` (the interface's current addresses) does not."""
    from ..ruleset.host import Host, Interface

    host = Host()
    for i, name in enumerate(names, 1):
        host.interfaces.append(Interface(name=name, index=i, groups=("all",)))
    return host


def default_compiler(abi: Abi, reader: Any = None) -> Compiler:
    factory = None
    if reader is not None:
        def factory() -> Any:
            try:
                return host_from_interfaces([i.name for i in reader.interfaces() if not i.is_group])
            except Exception:  # pf unreadable: compile without interface knowledge
                return _empty_host()
    return Compiler(abi, factory)
