"""``pf_exporter-ctl`` / ``python -m pf_exporter.ctl``: a pfctl-like command on the library.

pfctl's options and output formats, for what the library does::

    pf_exporter-ctl -s info -v              # pfctl -si -v
    pf_exporter-ctl -t bruteforce -T add 192.0.2.7
    pf_exporter-ctl -k 192.0.2.7            # kill its states
    pf_exporter-ctl -s rules --json         # every show has a JSON form; -f loads it back
    pf_exporter-ctl --simulate small -s Tables -vv

Operations run in pfctl's order: -d, -s, -z, -F, -k, -K, -T, -f, --fingerprints, -e, -x.
``--fingerprints FILE`` loads OS fingerprints from a pf.os(5) file (``default``: OpenBSD's own);
``-s Limiters`` shows OpenBSD 7.9's state and source limiters (``-v``: each source's entries) and
``--clear-source LIMITER/ADDRESS`` makes a source limiter forget one address.  Exit status 0, 1 on an
error (the message on stderr), 2 for ``-T test`` when not every address matches.
"""

from __future__ import annotations

import getopt
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from ..errors import PfError, PfNotFound
from ..pf import PacketFilter
from ..pf import types as T
from . import show
from .tables import CtlError, TableCommand

USAGE = """usage: pf_exporter-ctl [-degnqvz] [-a anchor] [-F modifier] [-f file] [-i interface]
        [-K host | network] [-k host | network | label | id | key] [-s modifier]
        [-t table -T command [address ...]] [-x level] [--json] [--simulate [scenario]]
        [--release R] [--device PATH] [--fingerprints pf.os|default]
        [--clear-source limiter/address]"""
SHOW = {"r": "rules", "l": "labels", "q": "queue", "s": "states", "S": "Sources", "i": "info", "I": "Interfaces",
        "m": "memory", "t": "timeouts", "T": "Tables", "o": "osfp", "A": "Anchors", "a": "all",
        "L": "Limiters"}
FLUSH = {"r": "rules", "s": "states", "S": "Sources", "i": "info", "T": "Tables", "o": "osfp", "a": "all"}
LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


class Options:
    def __init__(self) -> None:
        self.anchor = ""
        self.show: str | None = None
        self.flush: str | None = None
        self.file: str | None = None
        self.table: str | None = None
        self.tcmd: str | None = None
        self.kill: list[str] = []
        self.kill_nodes: list[str] = []
        self.interface = ""
        self.enable = self.disable = self.dry_run = self.quiet = self.debug_rules = self.zero = False
        self.json = False
        self.verbose = 0
        self.debug_level: str | None = None
        self.simulate: str | None = None
        self.fingerprints: str | None = None
        self.clear_source: str | None = None
        self.release: str | None = None
        self.device = "/dev/pf"
        self.args: list[str] = []

    @property
    def writes(self) -> bool:
        table_writes = self.tcmd is not None and not (self.tcmd.startswith(("s", "t")) or self.dry_run)
        return bool(self.enable or self.disable or self.flush or self.kill or self.kill_nodes or self.zero
                    or self.debug_level or table_writes or self.fingerprints or self.clear_source
                    or (self.file and not self.dry_run))


_FLAGS = {
    "-a": ("anchor", "set"), "-d": ("disable", "true"), "-e": ("enable", "true"), "-F": ("flush", "flush"),
    "-f": ("file", "set"), "-g": ("debug_rules", "true"), "-i": ("interface", "set"), "-K": ("kill_nodes", "append"),
    "-k": ("kill", "append"), "-n": ("dry_run", "true"), "-q": ("quiet", "true"), "-s": ("show", "show"),
    "-T": ("tcmd", "set"), "-t": ("table", "set"), "-v": ("verbose", "count"), "-x": ("debug_level", "set"),
    "-z": ("zero", "true"), "--json": ("json", "true"), "--simulate": ("simulate", "set"),
    "--release": ("release", "set"), "--device": ("device", "set"), "--fingerprints": ("fingerprints", "set"),
    "--clear-source": ("clear_source", "set"),
}


def parse(argv: list[str]) -> Options:
    o = Options()
    try:
        opts, rest = getopt.gnu_getopt(argv, "a:deF:f:gi:K:k:nqs:T:t:vx:z",
                                       ["json", "simulate=", "release=", "device=", "fingerprints=", "clear-source=",
                                        "help"])
    except getopt.GetoptError as e:
        raise CtlError(f"pfctl: {e}\n{USAGE}") from None
    for flag, value in opts:
        if flag == "--help":
            raise CtlError(USAGE)
        attr, kind = _FLAGS[flag]
        if kind == "set":
            setattr(o, attr, value)
        elif kind == "true":
            setattr(o, attr, True)
        elif kind == "append":
            getattr(o, attr).append(value)
        elif kind == "count":
            o.verbose += 1
        else:
            setattr(o, attr, _modifier(value, SHOW if kind == "show" else FLUSH, kind))
    o.args = rest
    if (o.table is None) != (o.tcmd is None) and not (o.tcmd or "x").startswith("l"):  # -T load needs no -t
        raise CtlError("pfctl: -t and -T go together (-t table -T command)")
    if rest and o.tcmd is None:
        raise CtlError(f"pfctl: unexpected argument {rest[0]!r}\n{USAGE}")
    if len(o.kill) > 2 or len(o.kill_nodes) > 2:
        raise CtlError("pfctl: at most two -k (or -K) options")
    return o


def _modifier(value: str, table: dict[str, str], what: str) -> str:
    words = set(table.values())
    if value in words:
        return value
    if value and value[0] in table and table[value[0]].startswith(value):
        return table[value[0]]
    raise CtlError(f"pfctl: Unknown {what} modifier '{value}'")


class Ctl:
    def __init__(self, pf: PacketFilter, o: Options, out: TextIO, err: TextIO, read_file: Callable[[str], str],
                 resolver: Callable[[str], list[str]] | None = None) -> None:
        self.pf, self.o, self.out, self.err, self.read_file = pf, o, out, err, read_file
        self.resolver = resolver

    def say(self, text: str, stop: str = ".") -> None:
        """pfctl's xprintf: a message on stderr ending in a full stop, nothing with -q."""
        if not self.o.quiet:
            self.err.write(text + stop + "\n")

    def run(self) -> int:
        o, pf = self.o, self.pf
        rc = 0
        if o.disable:
            self.say("pf disabled" if pf.disable() else "pf not enabled")
        if o.show:
            self.show(o.show)
        if o.zero:
            pf.clear_rule_counters(o.anchor)
        if o.flush:
            self.flush(o.flush)
        if o.kill:
            self.kill_states()
        if o.clear_source:
            limiter, _, address = o.clear_source.partition("/")
            if not address:
                raise CtlError("pfctl: --clear-source takes LIMITER/ADDRESS (a source limiter's id or name)")
            pf.clear_source_entry(int(limiter) if limiter.isdigit() else limiter, address)
            self.say(f"source {address} of limiter {limiter} cleared")
        if o.kill_nodes:
            n = pf.kill_source_nodes(*o.kill_nodes[:2])
            self.say(f"killed {n} src nodes from 1 sources and {len(o.kill_nodes) - 1} destinations")
        if o.tcmd is not None:
            text = self.read_file(o.file) if o.file else None
            rc = TableCommand(pf, o.table or "", o.anchor, dry_run=o.dry_run, quiet=o.quiet, verbose=o.verbose,
                              out=self.out, err=self.err).run(o.tcmd, o.args, text, self.resolver)
        elif o.file:
            self.load(self.read_file(o.file))
        if o.fingerprints:
            loaded = pf.load_fingerprints(None if o.fingerprints == "default" else self.read_file(o.fingerprints))
            for w in loaded.warnings:
                self.err.write(w + "\n")
        if o.enable:
            self.say("pf enabled" if pf.enable() else "pf already enabled")
        if o.debug_level:
            level = pf.set_debug(o.debug_level).debug
            self.say(f"debug level set to '{level}'")
        return rc

    def load(self, text: str) -> None:
        if text.lstrip().startswith("{"):  # what -s rules --json printed: load its rules back
            try:
                doc = json.loads(text)
                text = "".join(r["text"] + "\n" for r in doc["rules"] if r.get("action") != "anchor"
                               or r.get("text"))
            except (ValueError, KeyError, TypeError) as e:
                raise CtlError(f"pfctl: not a -s rules --json document: {e}") from None
        result = self.pf.load(text, self.o.anchor, dry_run=self.o.dry_run, files=DiskFiles())
        for w in result.warnings:
            self.err.write(w + "\n")

    def flush(self, what: str) -> None:
        pf, anchor = self.pf, self.o.anchor
        if what in ("rules", "all"):
            pf.load("", anchor)
            self.say("rules cleared", "")  # pfctl_flush_rules() prints it without a full stop
        if what in ("Tables", "all"):
            self.say(f"{pf.flush_tables(anchor)} tables deleted")
        if what in ("states", "all"):
            self.say(f"{pf.kill_states(all=True, interface=self.o.interface or None)} states cleared")
        if what in ("Sources", "all"):
            pf.flush_source_nodes()
            self.say("source tracking entries cleared")
        if what in ("info", "all"):
            pf.clear_counters(self.o.interface or None)
            self.say("pf: statistics cleared")
        if what in ("osfp", "all"):
            pf.flush_fingerprints()
            self.say("pf: OS fingerprints cleared")

    def kill_states(self) -> None:
        pf, k = self.pf, self.o.kill
        if k[0] in ("label", "id", "key"):
            if len(k) != 2:
                raise CtlError(f"pfctl: -k {k[0]} needs a second -k with the {k[0]}")
            if k[0] == "label":
                n = pf.kill_states(label=k[1])
            elif k[0] == "id":
                ident, _, creator = k[1].partition("/")
                n = pf.kill_states(id=int(ident, 16), creator_id=int(creator, 16) if creator else None)
            else:
                n = pf.kill_state_key(k[1], interface=self.o.interface)
            self.say(f"killed {n} states")
            return
        cond: dict[str, str] = {"source": k[0]}
        if len(k) == 2:
            cond["destination"] = k[1]
        if self.o.interface:
            cond["interface"] = self.o.interface
        n = pf.kill_states(**cond)  # type: ignore[arg-type]  # the keys are kill_states' condition names
        self.say(f"killed {n} states from 1 sources and {len(k) - 1} destinations")

    def show(self, what: str) -> None:  # noqa: C901 - one branch per pfctl -s modifier
        pf, o, v = self.pf, self.o, self.o.verbose
        data: object
        if what == "all":
            for part, title in (("rules", "FILTER RULES"), ("states", "STATES"), ("info", "INFO"),
                                ("timeouts", "TIMEOUTS"), ("memory", "LIMITS"), ("Tables", "TABLES")):
                if not o.json:
                    self.out.write(f"{title}:\n")
                self.show(part)
                if not o.json:
                    self.out.write("\n")
            return
        if what == "rules":
            if o.json:
                return self.emit({"anchor": o.anchor, "rules": pf.rules(o.anchor)})
            return self.write(pf.ruleset_text(o.anchor, verbose=v, debug=o.debug_rules))
        if what == "labels":
            data = pf.rules(o.anchor)
            return self.emit([r for r in data if r.label]) if o.json else self.write(show.labels(data))
        if what == "info":
            st = pf.status()
            return self.emit(st) if o.json else self.write(show.info(st, pf.syncookie_watermarks(), v))
        if what == "memory":
            return self.emit(dict(pf.limits())) if o.json else self.write(show.memory(pf.limits()))
        if what == "timeouts":
            return self.emit(dict(pf.timeouts())) if o.json else self.write(show.timeouts(pf.timeouts()))
        if what == "Tables":
            data = self.tables()
            return self.emit(data) if o.json else self.write("".join(show.table_line(t, v) for t in data))
        if what == "states":
            states = list(pf.states(interface=o.interface) if o.interface else pf.states())
            return self.emit(states) if o.json else self.write("".join(show.state_line(s, v) for s in states))
        if what == "Sources":
            nodes = pf.source_nodes()
            return self.emit(nodes) if o.json else self.write("".join(show.source_line(n, v) for n in nodes))
        if what == "Interfaces":
            ifs = [i for i in pf.interfaces() if not o.interface or i.name == o.interface]
            return self.emit(ifs) if o.json else self.write("".join(show.interface_line(i, v) for i in ifs))
        if what == "queue":
            qs = pf.queues()
            return self.emit(qs) if o.json else self.write("".join(show.queue_line(q, v) for q in qs))
        if what == "Limiters":  # OpenBSD 7.9's state and source limiters (-v: each source's entries)
            state_lims, source_lims = pf.state_limiters(), pf.source_limiters()
            entries = {x.id: pf.source_limiter_entries(x.id) for x in source_lims} if v or o.json else {}
            if o.json:
                return self.emit({"state_limiters": state_lims, "source_limiters": source_lims,
                                  "sources": {str(k): e for k, e in entries.items()}})
            return self.write(show.limiters(state_lims, source_lims, entries))
        if what == "Anchors":
            names = [a for a in pf.anchors() if not o.anchor or a.startswith(o.anchor + "/")]
            return self.emit(names) if o.json else self.write("".join(f"  {a}\n" for a in names))
        fps = pf.fingerprints()  # osfp
        return self.emit(fps) if o.json else self.write(show.fingerprints(fps))

    def tables(self) -> list[Any]:
        """-s Tables: every anchor's, or -a's (an anchor that does not exist has none: pfr12 expects
        an empty list once the regress anchor went with its last table); -v adds inactive ones."""
        o = self.o
        try:
            found = self.pf.tables(o.anchor or None, inactive=bool(o.verbose))
        except PfNotFound:
            return []
        return [t for t in found if not o.anchor or t.anchor == o.anchor]

    def write(self, text: str) -> None:
        self.out.write(text)

    def emit(self, value: object) -> None:
        self.out.write(json.dumps(T.as_json(value), indent=2, sort_keys=False) + "\n")


class DiskFiles(Mapping[str, str]):
    """``load anchor ... from FILE`` and ``include`` read from disk, as pfctl does (this is the
    local command, run by the firewall's administrator)."""

    def __getitem__(self, path: str) -> str:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            raise KeyError(path) from None

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and os.path.isfile(path)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _read(path: str, stdin: TextIO) -> str:
    if path == "-":
        return stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise CtlError(f"pfctl: {path}: {e.strerror}") from None


def main(argv: list[str] | None = None, *, pf: PacketFilter | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         resolver: Callable[[str], list[str]] | None = None) -> int:
    """Run one command; *pf* is a handle to use instead of opening one (tests, the regress driver),
    *resolver* a host name lookup instead of the system's."""
    inp, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        o = parse(["--simulate=small" if a == "--simulate" else a for a in args])
        handle = pf
        if handle is None:
            if o.simulate is not None:
                handle = PacketFilter.simulated(o.simulate or "small", release=o.release)
            else:
                handle = PacketFilter.open(o.device, writable=o.writes, release=o.release)
        try:
            return Ctl(handle, o, out, err, lambda p: _read(p, inp), resolver).run()
        finally:
            if pf is None:
                handle.close()
    except CtlError as e:
        err.write(str(e) + "\n")
        return 1
    except PfError as e:
        err.write(f"pfctl: {e}\n")
        return 1
    except ValueError as e:
        err.write(f"pfctl: {e}\n")
        return 1
