"""The parser's foundation: its state, the token helpers and pfctl's diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from . import lexer as lx
from . import netdb
from .errors import Diagnostic
from .model import Anchor
from .nodes import (
    _T,
    FilterOpts,
    ParseState,
    ParseSyntaxError,
    QueueOpts,
    StatementAborted,
)


class ParserBase:
    """Part of :class:`.parser.Parser` (parsebase)."""

    def __init__(self, text: str, filename: str, state: ParseState, anchor: Anchor,
                 macros: dict[str, str] | None = None, persistent: set[str] | None = None) -> None:
        self.state = state
        self.host = state.host
        self.macros = macros if macros is not None else {}
        self.persistent = persistent if persistent is not None else set()
        self.lex = lx.Lexer(text, filename, self._report, self.macros, self.persistent, state.read_file)
        self.lex.max_expansion = state.max_macro_expansion
        self.tok: lx.Token | None = None
        self.quiet = 0  # tokens to read before the next syntax error is reported (yacc's yyerrflag)
        self.main = anchor
        self.anchor = anchor  # where rules go now
        self.astack: list[Anchor] = [anchor]
        self.brace_counter = 0
        self.alast: Anchor | None = None
        self.returnicmpdefault = (netdb.ICMP_UNREACH << 8) | netdb.ICMP_UNREACH_PORT
        self.returnicmp6default = (netdb.ICMP6_DST_UNREACH << 8) | netdb.ICMP6_DST_UNREACH_NOPORT
        self.inline_anchors: dict[str, Anchor] = {}
        self.rule_oses: list[str] | None = None  # the `os` list of the rule being parsed (fromto)

    # -- diagnostics ------------------------------------------------------------------
    def _report(self, file: str, line: int, column: int, message: str) -> None:
        self.state.errors += 1
        self.state.diagnostics.append(
            Diagnostic(text=f"{file}:{line}: {message}", message=message, file=file, line=line, column=column))

    def yyerror(self, message: str) -> None:
        self._report(self.lex.file.name, self.lex.lineno, self.lex.column, message)

    def _anchor_path(self) -> str:
        """The path of the ruleset rules go into now."""
        return self.anchor.path

    def fail(self, message: str) -> NoReturn:
        self.yyerror(message)
        raise StatementAborted

    def warn(self, text: str) -> None:
        self.state.warn(text)

    def unsupported(self, what: str) -> NoReturn:
        self.yyerror(f"unsupported: {what} at line {self.lex.lineno}")
        raise StatementAborted

    # -- tokens -----------------------------------------------------------------------
    def peek(self) -> lx.Token:
        if self.tok is None:
            self.tok = self.lex.next()
        return self.tok

    def advance(self) -> lx.Token:
        tok = self.peek()
        self.tok = None
        if self.quiet:
            self.quiet -= 1
        return tok

    def at_kw(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == lx.KEYWORD and t.value in words

    def at_punct(self, *chars: str) -> bool:
        t = self.peek()
        return t.kind == lx.PUNCT and t.value in chars

    def at(self, kind: str) -> bool:
        return self.peek().kind == kind

    def expect_kw(self, word: str) -> None:
        if not self.at_kw(word):
            raise ParseSyntaxError
        self.advance()

    def expect_punct(self, char: str) -> None:
        if not self.at_punct(char):
            raise ParseSyntaxError
        self.advance()

    def expect(self, kind: str) -> lx.Token:
        if not self.at(kind):
            raise ParseSyntaxError
        return self.advance()

    def accept_punct(self, char: str) -> bool:
        if self.at_punct(char):
            self.advance()
            return True
        return False

    def accept_kw(self, word: str) -> bool:
        if self.at_kw(word):
            self.advance()
            return True
        return False

    def optnl(self) -> None:
        while self.at(lx.NEWLINE):
            self.advance()

    def comma(self) -> None:
        self.accept_punct(",")

    def string(self) -> str:
        """`string`: one or more STRING tokens joined by spaces."""
        parts = [self.expect(lx.STRING).value]
        while self.at(lx.STRING):
            parts.append(self.advance().value)
        return " ".join(str(p) for p in parts)

    def numberstring(self) -> str:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            return str(t.value)
        return str(self.expect(lx.STRING).value)

    def number(self) -> int:
        return int(self.expect(lx.NUMBER).value or 0)

    def _once(self, opts: QueueOpts | FilterOpts, bit: int, message: str) -> None:
        """Record option `bit` in `opts.marker`; fail with `message` if the option was given already."""
        if opts.marker & bit:
            self.fail(message)
        opts.marker |= bit

    def _seen_once(self, seen: set[str], what: str) -> None:
        """Record `what` in `seen`; fail as pfctl does if it was given already in this option list."""
        if what in seen:
            self.fail(f"{what} cannot be respecified")
        seen.add(what)

    def _in_range(self, value: int, low: int, high: int, message: str) -> int:
        """Return `value`, or fail with `message` if it lies outside [low, high]."""
        if value < low or value > high:
            self.fail(message)
        return value

    def _list(self, item: Callable[[], _T]) -> list[_T]:
        """One `item`, or `{ item [,] item ... }` with newlines allowed between the items."""
        if self.accept_punct("{"):
            self.optnl()
            items = [item()]
            self.optnl()
            while not self.at_punct("}"):
                self.comma()
                items.append(item())
                self.optnl()
            self.advance()
            return items
        return [item()]

    def require_nl(self) -> None:
        """The statement ends here: LALR only reduces it (running its action) when the
        next token is the newline, so anything else is a syntax error first."""
        if not self.at(lx.NEWLINE):
            raise ParseSyntaxError

    def end_of_statement(self) -> None:
        if not self.at(lx.NEWLINE):
            raise ParseSyntaxError
        self.advance()
