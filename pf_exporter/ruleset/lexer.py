"""pf.conf tokens, with pfctl's lexical rules: ``$macro`` expansion by re-reading the
macro's text, backslash line continuation, quoted strings (which are never keywords and
never expanded), ``include`` files, and the number/string distinction that decides
whether ``10/8`` is a network or ``8000:8010`` a port range."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

KEYWORDS = frozenset(
    """af-to all allow-opts anchor antispoof any bandwidth binat-to bitmask block block-policy burst
    code debug default delay divert-packet divert-reply divert-to drop dup-to file fingerprints flags
    floating flows flush for fragment from global group hostid icmp-type icmp6-type if-bound in include
    inet inet6 keep label least-states limit load log loginterface match matches max max-mss
    max-pkt-rate max-src-conn max-src-conn-rate max-src-nodes max-src-states min min-ttl modulate
    nat-to no no-df no-route no-sync on once optimization os out overload parent pass pflow port prio
    probability proto qlimit quantum queue quick random random-id rdomain rdr-to reassemble
    received-on reply-to return return-icmp return-icmp6 return-rst round-robin route route-to
    rtable rule ruleset-optimization scrub set skip sloppy source-hash source-track state
    state-defaults state-policy static-port sticky-address syncookies synproxy table tag tagged
    timeout to tos ttl urpf-failed user weight""".split()
)

# token kinds
STRING, NUMBER, KEYWORD, PUNCT, NEWLINE, EOF, ERROR = "STRING", "NUMBER", "KEYWORD", "PUNCT", "NL", "EOF", "ERROR"
NE, LE, GE, PORTBINARY = "NE", "LE", "GE", "PORTBINARY"

# the operators of two characters: first character -> second character -> token kind
_TWO_CHAR_OPERATORS = {"!": {"=": NE}, "<": {">": PORTBINARY, "=": LE}, ">": {"<": PORTBINARY, "=": GE}}

BUFSIZE = 8096  # yylex()'s buffer; longer words are "string too long"
_START_EXPAND, _DONE_EXPAND = "\x01", "\x02"
_END_NUMBER = set(" \t\n\r\v\f),/}=")
_NOT_IN_STRING = set("(){}<>!=/#,")


@dataclass
class Token:
    kind: str
    value: str | int | None  # str for strings, keywords and punctuation; int for numbers; None at EOF
    line: int
    column: int
    file: str

    def __repr__(self) -> str:
        return f"<{self.kind} {self.value!r} {self.file}:{self.line}:{self.column}>"


class _File:
    def __init__(self, name: str, text: str, first_line: int) -> None:
        self.name = name
        self.text = text
        self.pos = 0
        self.lineno = first_line
        self.line_start = 0
        self.unget: list[str] = []
        self.eof_reached = False
        self.errors = 0


class Lexer:
    """Produces :class:`Token` values on demand; the parser pulls one token at a time so
    that side effects (macro errors, ``include``) happen when pfctl's would."""

    def __init__(self, text: str, name: str, report: Callable[[str, int, int, str], None],
                 macros: dict[str, str], persistent: set[str], read_file: Callable[[str], str]) -> None:
        self.files: list[_File] = [_File(name, text, 1)]
        self.report = report  # (file, line, column, message)
        self.macros = macros
        self.persistent = persistent
        self.used: set[str] = set()
        self.read_file = read_file
        self.expanding = False
        self.lineno = 1  # yylval.lineno: line of the token lexed last
        self.column = 1
        self.tokens_lexed = 0
        self.max_expansion: int | None = None  # characters of macro values substituted (None: unbounded)
        self.expanded = 0

    @property
    def file(self) -> _File:
        return self.files[-1]

    # -- characters -------------------------------------------------------------------
    def _igetc(self) -> str | None:
        f = self.file
        while True:
            if f.unget:
                c: str | None = f.unget.pop()
            elif f.pos < len(f.text):
                c = f.text[f.pos]
                f.pos += 1
            else:
                c = None
            if c == _START_EXPAND:
                self.expanding = True
            elif c == _DONE_EXPAND:
                self.expanding = False
            else:
                return c

    def _lgetc(self, quoted: bool = False) -> str | None:
        if quoted:
            c = self._igetc()
            if c is None:
                self.error("reached end of file while parsing quoted string")
                if len(self.files) == 1:
                    return None
                self._popfile()
                return '"'
            return c
        while True:
            c = self._igetc()
            if c != "\\":
                break
            nxt = self._igetc()
            if nxt != "\n":
                c = nxt
                break
            self.lineno = self.file.lineno
            self.file.lineno += 1
            self.file.line_start = self.file.pos
        if c is None:
            # a missing final newline still ends the last line
            if not self.file.eof_reached:
                self.file.eof_reached = True
                return "\n"
            while c is None:
                if len(self.files) == 1:
                    return None
                self._popfile()
                c = self._igetc()
        return c

    def _ungetc(self, c: str | None) -> None:
        if c is not None:
            self.file.unget.append(c)

    def _popfile(self) -> None:
        done = self.files.pop()
        self.files[-1].errors += done.errors

    def pushfile(self, name: str) -> bool:
        """``include``: read *name* next; its first token is a newline ending the include."""
        try:
            text = self.read_file(name)
        except OSError:
            return False
        self.files.append(_File(name, text, 0))
        self._ungetc("\n")
        return True

    def error(self, message: str) -> None:
        self.file.errors += 1
        self.report(self.file.name, self.lineno, self.column, message)

    def _findeol(self) -> Token:
        while True:
            c = self._lgetc()
            if c == "\n":
                self.file.lineno += 1
                self.file.line_start = self.file.pos
                break
            if c is None:
                break
        return self._token(ERROR, None)

    def _token(self, kind: str, value: str | int | None) -> Token:
        self.tokens_lexed += 1
        return Token(kind, value, self.lineno, self.column, self.file.name)

    # -- tokens -----------------------------------------------------------------------
    def next(self) -> Token:  # noqa: C901 - mirrors parse.y's yylex(): one case per token kind
        buf: list[str] = []
        while True:
            buf = []
            c = self._lgetc()
            while c in (" ", "\t"):
                c = self._lgetc()
            f = self.file
            self.lineno = f.lineno
            self.column = max(1, f.pos - f.line_start - len(f.unget))
            if c == "#":
                while c != "\n" and c is not None:
                    c = self._lgetc()
            if c == "$" and not self.expanding:
                while True:
                    c = self._lgetc()
                    if c is None:
                        return self._token(EOF, None)
                    if len(buf) + 1 >= BUFSIZE - 1:
                        self.error("string too long")
                        return self._findeol()
                    if c.isascii() and (c.isalnum() or c == "_"):
                        buf.append(c)
                        continue
                    self._ungetc(c)
                    break
                name = "".join(buf)
                value = self.macros.get(name)
                if value is None:
                    self.error(f"macro '{name}' not defined")
                    return self._findeol()
                self.used.add(name)
                self.expanded += len(value)
                if self.max_expansion is not None and self.expanded > self.max_expansion:
                    self.error(f"macros expand to more than {self.max_expansion} characters in all (macros "
                               "built from macros grow fast); use tables instead of long lists")
                    return self._findeol()
                self._ungetc(_DONE_EXPAND)
                for ch in reversed(value):
                    self._ungetc(ch)
                self._ungetc(_START_EXPAND)
                continue
            break

        if c in ("'", '"'):
            quote = c
            while True:
                c = self._lgetc(quoted=True)
                if c is None:
                    return self._token(EOF, None)
                if c == "\n":
                    self.file.lineno += 1
                    continue
                if c == "\\":
                    nxt = self._lgetc(quoted=True)
                    if nxt is None:
                        return self._token(EOF, None)
                    if nxt in (quote, " ", "\t"):
                        c = nxt
                    elif nxt == "\n":
                        self.file.lineno += 1
                        continue
                    else:
                        self._ungetc(nxt)
                elif c == quote:
                    break
                elif c == "\0":
                    self.error("syntax error")
                    return self._findeol()
                if len(buf) + 1 >= BUFSIZE - 1:
                    self.error("string too long")
                    return self._findeol()
                buf.append(c)
            return self._token(STRING, "".join(buf))
        if c is not None and c in _TWO_CHAR_OPERATORS:
            nxt = self._lgetc()
            if nxt is not None and nxt in _TWO_CHAR_OPERATORS[c]:
                return self._token(_TWO_CHAR_OPERATORS[c][nxt], c + nxt)
            self._ungetc(nxt)

        if c is not None and (c == "-" or (c.isascii() and c.isdigit())):
            while True:
                buf.append(c)
                if len(buf) >= BUFSIZE:
                    self.error("string too long")
                    return self._findeol()
                c = self._lgetc()
                if c is None or not (c.isascii() and c.isdigit()):
                    break
            self._ungetc(c)
            if not (len(buf) == 1 and buf[0] == "-") and (c is None or c in _END_NUMBER):
                text = "".join(buf)
                number: int | None
                try:
                    number = int(text)
                except ValueError:
                    number = None
                if number is None or not -(2**63) <= number < 2**63:
                    self.error(f'"{text}" invalid number: {"too small" if text.startswith("-") else "too large"}'
                               if number is not None else f'"{text}" invalid number: invalid')
                    return self._findeol()
                return self._token(NUMBER, number)
            for ch in reversed(buf[1:]):
                self._ungetc(ch)
            c = buf[0]
            buf = []
            if c == "-":
                return self._token(PUNCT, "-")

        if c is not None and ((c.isascii() and c.isalnum()) or c in ":_"):
            while True:
                buf.append(c)
                if len(buf) >= BUFSIZE:
                    self.error("string too long")
                    return self._findeol()
                c = self._lgetc()
                if c is None or not _allowed_in_string(c):
                    break
            self._ungetc(c)
            word = "".join(buf)
            if word in KEYWORDS:
                return self._token(KEYWORD, word)
            return self._token(STRING, word)
        if c == "\n":
            self.lineno = self.file.lineno
            self.file.lineno += 1
            self.file.line_start = self.file.pos
            return self._token(NEWLINE, "\n")
        if c is None:
            return self._token(EOF, None)
        return self._token(PUNCT, c)


def _allowed_in_string(c: str) -> bool:
    if not c.isascii():
        return False
    if c.isalnum():
        return True
    return c.isprintable() and not c.isspace() and not c.isalnum() and c not in _NOT_IN_STRING


def read_text_file(path: str) -> str:
    """Read an included or loaded file the way pfctl does (relative to the working directory)."""
    if os.path.isdir(path):
        raise IsADirectoryError(path)
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()
