"""Diagnostics pfctl would print, and the exception raised for a ruleset that does not load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One line pfctl writes to stderr.

    ``text`` is the exact line (``stdin:3: syntax error``, ``no IP address found for x``,
    ``pfctl: no default queue specified``); ``line``/``column`` locate it in ``file``
    when it refers to a place (0 otherwise)."""

    text: str
    message: str
    file: str = ""
    line: int = 0
    column: int = 0
    is_error: bool = True


class RulesetError(Exception):
    """A ruleset failed to compile.  ``.line``, ``.column`` and ``.message`` describe the
    first located error; ``.diagnostics`` has every line pfctl would have printed."""

    def __init__(self, diagnostics: list[Diagnostic], output: str = "", quiet_output: str = "") -> None:
        self.diagnostics = list(diagnostics)
        self.output = output  # what pfctl -v had printed to stdout before failing
        self.quiet_output = quiet_output  # the same without -v
        errors = [d for d in self.diagnostics if d.is_error] or self.diagnostics
        located = [d for d in errors if d.line] or errors
        first = located[0] if located else Diagnostic(text="error", message="error")
        self.message = first.message
        self.line = first.line
        self.column = first.column
        self.file = first.file
        super().__init__("\n".join(d.text for d in self.diagnostics) or self.message)


class Unsupported(Exception):
    """Raised inside the parser for a construct this compiler deliberately does not handle."""
