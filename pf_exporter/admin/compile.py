"""From a request body to a load plan: JSON rules and pf.conf text, through the library's one compiler.

JSON rules are first rendered to pf.conf text (:func:`.jsonrules.render_ruleset`, one line
per table and per rule) and compiled like any pf.conf by
:meth:`pf_exporter.pf.PacketFilter.compile`; an error on line *n* is reported against the
JSON member that produced that line (``rules[3]``, ``tables.web``).

The compiler never reads files (``include``, ``load anchor``, ``table ... file`` are
refused) and never resolves host names: a ruleset sent over the network cannot make
the exporter touch the disk or the DNS.  Its expansion is bounded (:data:`MAX_RULES` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..pf import LoadPlan, PfLoadError
from .jsonrules import Rendered, RulesetSpec, render_ruleset

MAX_RULES = 20_000  # rules after list expansion (lists multiply: 265 bytes can make 7,200 rules)
MAX_TABLE_ADDRESSES = 200_000  # table addresses defined by one text, over all its tables
MAX_MACRO_EXPANSION = 1 << 20  # characters of macro values substituted (macros of macros grow exponentially)


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
    """What one PUT loads: the plan, and for JSON bodies which member each pf.conf line came from."""

    plan: LoadPlan
    sources: dict[int, str] = field(default_factory=dict)

    @property
    def rule_count(self) -> int:
        return self.plan.rules

    @property
    def table_count(self) -> int:
        return self.plan.tables

    @property
    def anchors(self) -> list[str]:
        return list(self.plan.anchors)

    @property
    def warnings(self) -> list[str]:
        return list(self.plan.warnings)

    def source_of(self, line: int | None) -> str:
        """Where line *line* of the compiled text came from ("rules[3]", "line 4", or "")."""
        if line is None:
            return ""
        return self.sources.get(line, f"line {line}")


class Compiler:
    """Turns a :class:`RulesetSpec` or pf.conf text into a :class:`Compiled` for one anchor of *pf*
    (whose interface names the rules are checked against)."""

    def __init__(self, pf: Any) -> None:
        self.pf = pf

    def compile_text(self, text: str, anchor: str) -> Compiled:
        try:
            plan = self.pf.compile(text, anchor, filename="body", max_rules=MAX_RULES,
                                   max_table_addresses=MAX_TABLE_ADDRESSES, max_macro_expansion=MAX_MACRO_EXPANSION)
        except PfLoadError as e:
            raise CompileError(e.detail, line=e.line, column=e.column) from None
        return Compiled(plan)

    def compile_spec(self, spec: RulesetSpec, anchor: str) -> Compiled:
        rendered = render_ruleset(spec)
        try:
            compiled = self.compile_text(rendered.text, anchor)
        except CompileError as e:
            raise map_error(e, rendered) from None
        compiled.sources = dict(rendered.sources)
        return compiled


def map_error(e: CompileError, rendered: Rendered) -> CompileError:
    """A compile error in rendered text, re-addressed to the JSON member of that line."""
    source = rendered.sources.get(e.line or 0)
    if source is None:
        return e
    lines = rendered.text.splitlines()
    line_text = lines[e.line - 1] if e.line and e.line <= len(lines) else ""
    return CompileError(f"{source}: {e.message} (as pf.conf: {line_text})", field=source)
