"""From a request body to kernel structs: JSON rules and pf.conf text, through one compiler.

There is one compiler in the project, :mod:`pf_exporter.ruleset`.  JSON rules are first
rendered to pf.conf text (:func:`.rules.render_ruleset`, one line per table and per rule)
and compiled like any pf.conf; a compile error on line *n* is reported against the JSON
member that produced that line.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..abi import Abi
from .pfops import RuleLoad, TableLoad
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
class Compiler:
    """Turns a :class:`RulesetSpec` or pf.conf text into (rules, tables) for one anchor."""

    abi: Abi

    @property
    def accepts_text(self) -> bool:
        return False

    def compile_text(self, text: str, anchor: str) -> tuple[list[RuleLoad], list[TableLoad]]:
        raise CompileError("pf.conf bodies are not supported by this compiler")

    def compile_spec(self, spec: RulesetSpec, anchor: str) -> tuple[list[RuleLoad], list[TableLoad]]:
        rendered = render_ruleset(spec)
        try:
            rules, tables = self.compile_text(rendered.text, anchor)
        except CompileError as e:
            raise map_error(e, rendered) from None
        return attribute(rules, tables, rendered)


def map_error(e: CompileError, rendered: Rendered) -> CompileError:
    """A compile error in rendered text, re-addressed to the JSON member of that line."""
    source = rendered.sources.get(e.line or 0)
    if source is None:
        return e
    lines = rendered.text.splitlines()
    line_text = lines[e.line - 1] if e.line and e.line <= len(lines) else ""
    return CompileError(f"{source}: {e.message} (as pf.conf: {line_text})", field=source)


def attribute(rules: list[RuleLoad], tables: list[TableLoad],
              rendered: Rendered) -> tuple[list[RuleLoad], list[TableLoad]]:
    """Point each compiled rule and table at the JSON member its line came from."""
    for item in (*rules, *tables):
        if item.line is not None and item.line in rendered.sources:
            item.source = rendered.sources[item.line]
            item.line = item.column = None
    return rules, tables


def default_compiler(abi: Abi) -> Compiler:
    """The ruleset compiler of :mod:`pf_exporter.ruleset` when it is available."""
    return Compiler(abi)
