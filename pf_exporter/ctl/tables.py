"""``pfctl -t table -T command``: the table commands of pfctl_table.c, on the library."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import TextIO

from ..errors import PfError, PfInvalidArgument, PfNotFound
from ..pf import PacketFilter
from ..pf import types as T
from . import show

COMMANDS = ("kill", "flush", "add", "delete", "replace", "show", "test", "zero", "expire", "load")


class CtlError(Exception):
    """A pfctl-style failure: the message goes to stderr as is, the command exits 1."""


def _command(word: str) -> str:
    """pfctl takes any unambiguous prefix of a -T command (``-T a`` is add)."""
    hits = [c for c in COMMANDS if c.startswith(word)] if word else []
    if len(hits) == 1 or word in COMMANDS:
        return word if word in COMMANDS else hits[0]
    raise CtlError(f"pfctl: Unknown table command '{word}'" if not hits else f"pfctl: Ambiguous table command '{word}'")


def read_address_file(text: str) -> list[str]:
    """An address file (``-f``): words separated by blanks, ``#`` to the end of a line is a comment."""
    words: list[str] = []
    for line in text.splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words


def resolve(word: str, lookup: Callable[[str], list[str]] | None = None) -> list[str]:
    """One address argument as pfctl's host() takes it: an address or network (``10/8`` shorthand
    included), ``!`` negation, or a host name (every address it resolves to, with ``/bits``)."""
    text = word.lstrip("!")
    neg = "!" if (len(word) - len(text)) % 2 else ""  # each ! negates the one after it, as pfctl reads them
    try:
        from ..pf._args import _address_arg  # the library's one parser (no ctypes in it)

        _address_arg(text)
        return [neg + text]
    except PfInvalidArgument:
        pass
    host, _, bits = text.partition("/")
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host) or (bits and not bits.isdigit()):
        raise CtlError(f"no IP address found for {word}")
    found = (lookup or _dns)(host)
    if not found:
        raise CtlError(f"no IP address found for {word}")
    return [neg + a + (f"/{bits}" if bits else "") for a in found]


def _dns(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out: list[str] = []
    for info in infos:
        addr = str(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        if addr not in out:
            out.append(addr)
    return out


class TableCommand:
    """One ``-T`` invocation; *say* is pfctl's xprintf (stderr, quiet with -q, ``(dummy)`` with -n)."""

    def __init__(self, pf: PacketFilter, table: str, anchor: str, *, dry_run: bool, quiet: bool, verbose: int,
                 out: TextIO, err: TextIO) -> None:
        self.pf, self.table, self.anchor = pf, table, anchor
        self.dry_run, self.quiet, self.verbose = dry_run, quiet, verbose
        self.out, self.err = out, err

    def say(self, text: str) -> None:
        if not self.quiet:
            self.err.write(text + (" (dummy)" if self.dry_run else "") + ".\n")

    def _feedback(self, results: tuple[T.AddressResult, ...]) -> None:
        if self.verbose:
            for r in results:
                if self.verbose >= 2 or r.result != "none":
                    self.out.write(str(r) + "\n")

    def _ensure_table(self) -> None:
        """CREATE_TABLE: add and replace create a missing table, persistent."""
        if self.pf.create_table(self.table, self.anchor, dry_run=self.dry_run):
            self.say("1 table created")

    def run(self, command: str, args: list[str], file_text: str | None = None, lookup: Callable[[str], list[str]]
            | None = None) -> int:
        command = _command(command)
        words = list(args) + (read_address_file(file_text) if file_text is not None and command != "load" else [])
        addrs: list[str] = []
        if command in ("add", "delete", "replace", "test", "zero"):
            for w in words:
                addrs.extend(resolve(w, lookup))
        elif command not in ("expire",) and args:
            raise CtlError(f"pfctl: -T {command} takes no arguments")
        try:
            return getattr(self, "do_" + command)(addrs, words, file_text)
        except PfNotFound:
            raise CtlError("pfctl: Table does not exist.") from None

    def do_add(self, addrs: list[str], _w: list[str], _f: str | None) -> int:
        self._ensure_table()
        c = self.pf.add_addresses(self.table, addrs, self.anchor, dry_run=self.dry_run, feedback=bool(self.verbose))
        self.say(f"{c.added}/{len(addrs)} addresses added")
        self._feedback(c.results)
        return 0

    def do_delete(self, addrs: list[str], _w: list[str], _f: str | None) -> int:
        c = self.pf.delete_addresses(self.table, addrs, self.anchor, dry_run=self.dry_run,
                                     feedback=bool(self.verbose))
        self.say(f"{c.deleted}/{len(addrs)} addresses deleted")
        self._feedback(c.results)
        return 0

    def do_replace(self, addrs: list[str], _w: list[str], _f: str | None) -> int:
        self._ensure_table()
        c = self.pf.replace_addresses(self.table, addrs, self.anchor, dry_run=self.dry_run,
                                      feedback=bool(self.verbose))
        if c.added:
            self.say(f"{c.added} addresses added")
        if c.deleted:
            self.say(f"{c.deleted} addresses deleted")
        if c.changed:
            self.say(f"{c.changed} addresses changed")
        if not (c.added or c.deleted or c.changed):
            self.say("no changes")
        self._feedback(c.results)
        return 0

    def do_test(self, addrs: list[str], _w: list[str], _f: str | None) -> int:
        t = self.pf.test_addresses(self.table, addrs, self.anchor)
        self.say(f"{t.matched}/{len(addrs)} addresses match")
        if self.verbose == 1:
            for r in t.results:
                if r.result == "match":
                    self.out.write(str(r) + "\n")
        elif self.verbose >= 2:
            for r in t.results:
                self.out.write(str(r) + (f"  ->  {r.entry}" if r.entry is not None else "") + "\n")
        return 0 if t.all_match else 2

    def do_zero(self, addrs: list[str], _w: list[str], _f: str | None) -> int:
        if addrs:
            n = self.pf.zero_addresses(self.table, addrs, self.anchor, dry_run=self.dry_run)
            self.say(f"{n}/{len(addrs)} stats cleared")
        else:
            n = self.pf.zero_tables(self.table, self.anchor, dry_run=self.dry_run)
            self.say(f"{n} table/stats cleared")
        return 0

    def do_expire(self, _a: list[str], words: list[str], _f: str | None) -> int:
        if len(words) != 1 or not words[0].isdigit():
            raise CtlError("pfctl: usage: -T expire <seconds>")
        c = self.pf.expire_addresses(self.table, int(words[0]), self.anchor, dry_run=self.dry_run, feedback=True)
        self.say(f"{c.deleted}/{len(c.results)} addresses expired")
        self._feedback(c.results)
        return 0

    def do_kill(self, _a: list[str], _w: list[str], _f: str | None) -> int:
        self.say(f"{self.pf.delete_table(self.table, self.anchor, dry_run=self.dry_run)} table deleted")
        return 0

    def do_flush(self, _a: list[str], _w: list[str], _f: str | None) -> int:
        self.say(f"{self.pf.flush_table(self.table, self.anchor, dry_run=self.dry_run)} addresses deleted")
        return 0

    def do_show(self, _a: list[str], _w: list[str], _f: str | None) -> int:
        for a in self.pf.table_addresses(self.table, self.anchor, counters=bool(self.verbose)):
            self.out.write(show.address_line(a, self.verbose))
        return 0

    def do_load(self, _a: list[str], _w: list[str], file_text: str | None) -> int:
        if file_text is None:
            raise CtlError("pfctl: -T load needs -f file")
        try:
            self.pf.load(file_text, self.anchor, dry_run=self.dry_run, tables_only=True)
        except PfError as e:
            raise CtlError(str(e)) from None
        return 0
