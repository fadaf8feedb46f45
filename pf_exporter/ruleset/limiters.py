"""OpenBSD 7.9's state and source limiters in pf.conf: their definitions and the rule options
that refer to them.

    state limiter NAME [id N] limit N [rate N/SECONDS] [description "TEXT"]
    source limiter NAME [id N] entries N limit N [rate N/SECONDS] [inet mask N] [inet6 mask N]
                   [table <NAME> above N [below N]] [description "TEXT"]
    pass ... state limiter NAME [(block | no-match)] source limiter NAME [(block | no-match)]

The settings are the fields of ``struct pfioc_statelim`` / ``struct pfioc_sourcelim`` and the
rule's ``statelim``/``sourcelim`` ``{id, limiter_action}``, checked against the kernel's bounds
(``PF_STATELIM_*``, ``PF_SOURCELIM_*``).  The grammar is written from pf.conf(5) of OpenBSD
7.9 as this project reads it; without a 7.9 pfctl to compare with, the spelling of the
printout is this project's (docs/ruleset.md says what was derived how).  A rule may name a
limiter by name or as ``id N`` (how a rule read back from a kernel that does not name it is
printed).  Limiters belong to the main ruleset: pf commits them with it."""

from __future__ import annotations

from ..abi.constants import (
    PF_LIMITER_BLOCK,
    PF_LIMITER_NOMATCH,
    PF_SOURCELIM_DESCR_LEN,
    PF_SOURCELIM_ID_MAX,
    PF_SOURCELIM_ID_MIN,
    PF_SOURCELIM_NAME_LEN,
    PF_STATELIM_DESCR_LEN,
    PF_STATELIM_ID_MAX,
    PF_STATELIM_ID_MIN,
    PF_STATELIM_LIMIT_MAX,
    PF_STATELIM_LIMIT_MIN,
    PF_STATELIM_NAME_LEN,
    PF_TABLE_NAME_SIZE,
)
from . import lexer as lx
from .model import SourceLimiterDef, StateLimiterDef
from .nodes import FilterOpts, ParseSyntaxError
from .printer import format_source_limiter, format_state_limiter
from .queues import QueueParsing

UINT_MAX = 0xFFFFFFFF


class LimiterParsing(QueueParsing):
    """Part of :class:`.parser.Parser` (7.9 limiters)."""

    def at_word(self, word: str) -> bool:
        """*word* as a keyword or a bare string (the limiter words are not reserved: a macro may
        still be called ``source``)."""
        t = self.peek()
        return t.kind in (lx.KEYWORD, lx.STRING) and t.value == word

    def accept_word(self, word: str) -> bool:
        if self.at_word(word):
            self.advance()
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise ParseSyntaxError

    # -- definitions ------------------------------------------------------------------------
    def _limiter_name(self, kind: str, size: int) -> str:
        name = str(self.expect(lx.STRING).value)
        if not name or len(name.encode()) >= size or any(c.isspace() or c in "\"'<>" for c in name):
            self.fail(f"{kind} limiter name {name!r} is not valid: 1 to {size - 1} characters, no spaces or quotes")
        return name

    def _rate(self, kind: str) -> tuple[int, int]:
        limit = self.number()
        self.expect_punct("/")
        seconds = self.number()
        if not 0 < limit <= UINT_MAX or not 0 < seconds <= UINT_MAX:
            self.fail(f"{kind} limiter rate must be a positive number per a positive number of seconds")
        return limit, seconds

    def _description(self, kind: str, size: int) -> str:
        text = str(self.expect(lx.STRING).value)
        if len(text.encode()) >= size:
            self.fail(f"{kind} limiter description is longer than {size - 1} bytes")
        if any(c == '"' or not c.isprintable() for c in text):
            self.fail(f"{kind} limiter description may not contain quotes or control characters")
        return text

    def _define_check(self, kind: str) -> None:
        if self.state.anchorname:
            self.fail(f'{kind} limiters can only be defined in the main ruleset, not in anchor '
                      f'"{self.state.anchorname}"')
        if self.anchor is not self.main:
            self.fail(f"{kind} limiters can only be defined in the main ruleset, not inside an anchor")

    def _limiter_id(self, kind: str, given: int | None, taken: set[int], low: int, high: int) -> int:
        if given is None:
            free = [i for i in range(low, high + 1) if i not in taken]
            if not free:
                self.fail(f"too many {kind} limiters (at most {high - low + 1})")
            return free[0]
        if not low <= given <= high:
            self.fail(f"{kind} limiter id {given} is out of range ({low} to {high})")
        if given in taken:
            self.fail(f"{kind} limiter id {given} is already used")
        return given

    def _seen(self, seen: set[str], kind: str, word: str) -> None:
        if word in seen:
            self.fail(f"{kind} limiter {word} cannot be respecified")
        seen.add(word)

    def state_limiter(self) -> None:
        """``state limiter NAME [id N] limit N [rate N/S] [description "..."]``"""
        line = self.advance().line
        self.expect_word("limiter")
        self._define_check("state")
        name = self._limiter_name("state", PF_STATELIM_NAME_LEN)
        seen: set[str] = set()
        lim_id: int | None = None
        limit = 0
        rate = (0, 0)
        description = ""
        while not self.at(lx.NEWLINE):
            if self.accept_word("id"):
                self._seen(seen, "state", "id")
                lim_id = self.number()
            elif self.accept_kw("limit"):
                self._seen(seen, "state", "limit")
                limit = self.number()
                if not PF_STATELIM_LIMIT_MIN <= limit <= PF_STATELIM_LIMIT_MAX:
                    self.fail(f"state limiter limit {limit} is out of range "
                              f"({PF_STATELIM_LIMIT_MIN} to {PF_STATELIM_LIMIT_MAX})")
            elif self.accept_word("rate"):
                self._seen(seen, "state", "rate")
                rate = self._rate("state")
            elif self.accept_word("description"):
                self._seen(seen, "state", "description")
                description = self._description("state", PF_STATELIM_DESCR_LEN)
            else:
                raise ParseSyntaxError
        if "limit" not in seen:
            self.fail(f"state limiter {name} needs a limit")
        defs: list[StateLimiterDef] = self.state.state_limiters
        if any(d.name == name for d in defs):
            self.fail(f"state limiter {name} is already defined")
        lim_id = self._limiter_id("state", lim_id, {d.id for d in defs}, PF_STATELIM_ID_MIN, PF_STATELIM_ID_MAX)
        d = StateLimiterDef(name, lim_id, limit, rate, description, line)
        defs.append(d)
        self.state.out(format_state_limiter(d))

    def source_limiter(self) -> None:  # noqa: C901 - one branch per setting
        """``source limiter NAME [id N] entries N limit N [rate N/S] [inet mask N] [inet6 mask N]
        [table <T> above N [below N]] [description "..."]`` (after the word ``source``)."""
        line = self.peek().line
        self.expect_word("limiter")
        self._define_check("source")
        name = self._limiter_name("source", PF_SOURCELIM_NAME_LEN)
        seen: set[str] = set()
        d = SourceLimiterDef(name, 0, 0, 0, line=line)
        lim_id: int | None = None
        while not self.at(lx.NEWLINE):
            if self.accept_word("id"):
                self._seen(seen, "source", "id")
                lim_id = self.number()
            elif self.accept_word("entries"):
                self._seen(seen, "source", "entries")
                d.entries = self.number()
                if not 0 < d.entries <= UINT_MAX:
                    self.fail("source limiter entries must be a positive number")
            elif self.accept_kw("limit"):
                self._seen(seen, "source", "limit")
                d.limit = self.number()
                if not 0 < d.limit <= UINT_MAX:
                    self.fail("source limiter limit must be a positive number")
            elif self.accept_word("rate"):
                self._seen(seen, "source", "rate")
                d.rate = self._rate("source")
            elif self.at_kw("inet", "inet6"):
                family = str(self.advance().value)
                self._seen(seen, "source", f"{family} mask")
                self.expect_word("mask")
                bits = self.number()
                most = 32 if family == "inet" else 128
                if not 0 <= bits <= most:
                    self.fail(f"source limiter {family} mask {bits} is out of range (0 to {most})")
                if family == "inet":
                    d.inet_prefix = bits
                else:
                    d.inet6_prefix = bits
            elif self.accept_kw("table"):
                self._seen(seen, "source", "table")
                self.expect_punct("<")
                d.table = str(self.expect(lx.STRING).value)
                self.expect_punct(">")
                if not d.table or len(d.table.encode()) >= PF_TABLE_NAME_SIZE:
                    self.fail(f"source limiter table name is empty or longer than {PF_TABLE_NAME_SIZE - 1}")
                self.expect_word("above")
                d.above = self.number()
                if self.accept_word("below"):
                    d.below = self.number()
                if not 0 <= d.below <= d.above <= UINT_MAX:
                    self.fail("source limiter table: 'below' must not be more than 'above'")
            elif self.accept_word("description"):
                self._seen(seen, "source", "description")
                d.description = self._description("source", PF_SOURCELIM_DESCR_LEN)
            else:
                raise ParseSyntaxError
        for needed in ("entries", "limit"):
            if needed not in seen:
                self.fail(f"source limiter {name} needs {needed}")
        defs: list[SourceLimiterDef] = self.state.source_limiters
        if any(x.name == name for x in defs):
            self.fail(f"source limiter {name} is already defined")
        d.id = self._limiter_id("source", lim_id, {x.id for x in defs}, PF_SOURCELIM_ID_MIN, PF_SOURCELIM_ID_MAX)
        defs.append(d)
        self.state.out(format_source_limiter(d))

    # -- rule options -------------------------------------------------------------------------
    def limiter_option(self, fo: FilterOpts, kind: str) -> None:
        """``state limiter NAME [(block | no-match)]`` after ``state``/``source`` in a rule."""
        self.expect_word("limiter")
        ref: str | int
        if self.accept_word("id"):
            ref = self.number()
        else:
            ref = str(self.expect(lx.STRING).value)
        action = PF_LIMITER_BLOCK
        if self.accept_punct("("):
            if self.accept_kw("block"):
                action = PF_LIMITER_BLOCK
            elif self.accept_word("no-match"):
                action = PF_LIMITER_NOMATCH
            else:
                raise ParseSyntaxError
            self.expect_punct(")")
        attr = "statelim" if kind == "state" else "sourcelim"
        if getattr(fo, attr) is not None:
            self.fail(f"{kind} limiter cannot be respecified")
        setattr(fo, attr, (ref, action))

    def resolve_limiter(self, kind: str, ref: tuple[str | int, int]) -> tuple[tuple[int, int], str]:
        """((id, action), name) of a rule's limiter reference: a limiter this text defines, or one
        pf has (for a rule loaded into an anchor)."""
        key, action = ref
        defs = self.state.state_limiters if kind == "state" else self.state.source_limiters
        known = self.state.known_limiters.get(kind, {})
        if isinstance(key, int):
            high = PF_STATELIM_ID_MAX if kind == "state" else PF_SOURCELIM_ID_MAX
            if not 1 <= key <= high:
                self.fail(f"{kind} limiter id {key} is out of range (1 to {high})")
            names = [d.name for d in defs if d.id == key] or [n for n, i in known.items() if i == key]
            return (key, action), names[0] if names else ""
        for d in defs:
            if d.name == key:
                return (d.id, action), key
        if key in known:
            return (known[key], action), key
        self.fail(f"{kind} limiter {key} is not defined")
