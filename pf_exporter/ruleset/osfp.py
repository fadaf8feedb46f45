"""OS fingerprints (``pf.os``, pf.os(5)): parsing the file, numbering its names as pfctl does,
and resolving the names rules use (``os "OpenBSD 3.3"``) to the kernel's ``pf_osfp_t`` and back.

A line is ``window:ttl:df:size:options:class:version:subtype:details``; the window may be ``*``,
``%n``, ``Sn`` (n x MSS) or ``Tn`` (n x MTU), the size ``*`` or ``%n``, the options ``.`` or a list
of N, Wn, Mn (n, ``*`` or ``%n``), S, T, T0.  A class starting with ``@`` is a generic match, with
``*`` one whose details are not shown.  OpenBSD's own database ships as ``pf_exporter/data/pf.os``
(ISC licence, its notice at the top)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..abi import constants as C
from ..errors import PfInvalidArgument

_OPTION = re.compile(r"^(N|S|T0|T|E|[WM](\*|%\d+|\d+))$")


def standard_database() -> str:
    """OpenBSD's ``/etc/pf.os``, as shipped with pf_exporter."""
    return resources.files("pf_exporter").joinpath("data/pf.os").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Signature:
    """One parsed line, in the kernel's terms."""

    line: int
    wsize: int
    psize: int
    mss: int
    flags: int
    optcnt: int
    wscale: int
    ttl: int
    tcpopts: int
    os_class: str
    version: str
    subtype: str
    enflags: int


def _num(text: str, what: str, line: int, limit: int) -> int:
    if not text.isdigit() or int(text) > limit:
        raise PfInvalidArgument("fingerprints", f"line {line}: {what} {text[:20]!r} is not a number up to {limit}")
    return int(text)


def _value(text: str, what: str, line: int, dc: int, mod: int, limit: int) -> tuple[int, int]:
    """(value, flags) of a field that may be ``*`` (don't care) or ``%n`` (a multiple of n)."""
    if text == "*":
        return 0, dc
    if text.startswith("%"):
        return _num(text[1:], what, line, limit), mod
    return _num(text, what, line, limit), 0


def parse(text: str) -> list[Signature]:  # noqa: C901 - one branch per field of a pf.os line
    """Every signature of a pf.os text; PfInvalidArgument names the first bad line."""
    out: list[Signature] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(":")
        if len(fields) < 8:
            raise PfInvalidArgument("fingerprints", f"line {lineno}: expected window:ttl:df:size:options:class:"
                                    "version:subtype[:details]")
        window, ttl, df, size, options, os_class, version, subtype = (f.strip() for f in fields[:8])
        flags = 0
        if window[:1] in ("S", "T") and window[1:].isdigit():
            wsize, flags = int(window[1:]), C.PF_OSFP_WSIZE_MSS if window[0] == "S" else C.PF_OSFP_WSIZE_MTU
        else:
            wsize, f = _value(window, "window", lineno, C.PF_OSFP_WSIZE_DC, C.PF_OSFP_WSIZE_MOD, 65535)
            flags |= f
        ttl_n = _num(ttl, "ttl", lineno, 255)
        if df not in ("0", "1"):
            raise PfInvalidArgument("fingerprints", f"line {lineno}: the DF field is 0 or 1")
        flags |= C.PF_OSFP_DF if df == "1" else 0
        psize, f = _value(size, "packet size", lineno, C.PF_OSFP_PSIZE_DC, C.PF_OSFP_PSIZE_MOD, 65535)
        flags |= f
        mss = wscale = optcnt = tcpopts = 0
        if options != ".":
            for opt in (o for o in re.split(r"[,\s]+", options) if o):
                if not _OPTION.match(opt):
                    raise PfInvalidArgument("fingerprints", f"line {lineno}: unknown TCP option {opt[:10]!r}")
                if opt == "E":  # end of options: not a fingerprint option
                    continue
                if optcnt >= C.PF_OSFP_MAX_OPTS:
                    raise PfInvalidArgument("fingerprints", f"line {lineno}: more than {C.PF_OSFP_MAX_OPTS} options")
                if opt == "N":
                    code = C.PF_OSFP_TCPOPT_NOP
                elif opt == "S":
                    code = C.PF_OSFP_TCPOPT_SACK
                elif opt in ("T", "T0"):
                    code = C.PF_OSFP_TCPOPT_TS
                    flags |= C.PF_OSFP_TS0 if opt == "T0" else 0
                elif opt[0] == "W":
                    code = C.PF_OSFP_TCPOPT_WSCALE
                    wscale, f = _value(opt[1:], "window scale", lineno, C.PF_OSFP_WSCALE_DC, C.PF_OSFP_WSCALE_MOD,
                                       255)
                    flags |= f or C.PF_OSFP_WSCALE
                else:
                    code = C.PF_OSFP_TCPOPT_MSS
                    mss, f = _value(opt[1:], "MSS", lineno, C.PF_OSFP_MSS_DC, C.PF_OSFP_MSS_MOD, 65535)
                    flags |= f or C.PF_OSFP_MSS
                tcpopts = (tcpopts << C.PF_OSFP_TCPOPT_BITS) | code
                optcnt += 1
        enflags = 0
        if os_class.startswith("@"):
            os_class, enflags = os_class[1:], C.PF_OSFP_GENERIC
        elif os_class.startswith("*"):
            os_class, enflags = os_class[1:], C.PF_OSFP_NODETAIL
        for name, value in (("class", os_class), ("version", version), ("subtype", subtype)):
            if len(value.encode()) >= C.PF_OSFP_LEN:
                raise PfInvalidArgument("fingerprints", f"line {lineno}: the {name} is longer than "
                                        f"{C.PF_OSFP_LEN - 1} bytes")
        if not os_class:
            raise PfInvalidArgument("fingerprints", f"line {lineno}: no OS class")
        out.append(Signature(lineno, wsize, psize, mss, flags, optcnt, wscale, ttl_n, tcpopts, os_class, version,
                             subtype, enflags))
    return out


def number(sigs: list[Signature]) -> list[int]:
    """The ``pf_osfp_t`` of each signature: class, version and subtype numbered in the order they
    first appear (from 1), packed as pfctl's PF_OSFP_PACK does (10 bits each)."""
    classes: dict[str, tuple[int, dict[str, tuple[int, dict[str, int]]]]] = {}
    out = []
    for s in sigs:
        cnum, versions = classes.setdefault(s.os_class, (len(classes) + 1, {}))
        vnum, subtypes = versions.setdefault(s.version, (len(versions) + 1, {})) if s.version else (0, {})
        snum = subtypes.setdefault(s.subtype, len(subtypes) + 1) if s.subtype else 0
        out.append((cnum << 20) | (vnum << 10) | snum)
    return out




def _connector(c: str) -> bool:
    return c in ". \t-"


class Fingerprints:
    """The names of a fingerprint list, numbered as the kernel's ids are (:func:`number`):
    ``lookup`` turns the name a rule gives (``"OpenBSD"``, ``"Windows 2000 SP2"``) into a
    ``pf_osfp_t`` as pfctl's pfctl_get_fingerprint() does, ``name`` turns an id back into the text
    ``pfctl -sr`` prints.  Built from parsed signatures or from (class, version, subtype, id)."""

    def __init__(self, entries: list[tuple[str, str, str, int]]) -> None:
        # class -> (number, {version -> (number, {subtype -> number})}), in first-seen order
        self._classes: dict[str, tuple[int, dict[str, tuple[int, dict[str, int]]]]] = {}
        for os_class, version, subtype, os_id in entries:
            cnum, vnum, snum = os_id >> 20 & 0x3FF, os_id >> 10 & 0x3FF, os_id & 0x3FF
            _n, versions = self._classes.setdefault(os_class, (cnum, {}))
            if version:
                _v, subtypes = versions.setdefault(version, (vnum, {}))
                if subtype:
                    subtypes.setdefault(subtype, snum)

    @classmethod
    def from_signatures(cls, sigs: list[Signature]) -> Fingerprints:
        return cls([(s.os_class, s.version, s.subtype, i) for s, i in zip(sigs, number(sigs), strict=True)])

    @classmethod
    def standard(cls) -> Fingerprints:
        return cls.from_signatures(parse(standard_database()))

    def __len__(self) -> int:
        return len(self._classes)

    def _find(self, table: dict[str, Any], name: str) -> Any:
        for key, value in table.items():  # pfctl compares names without case
            if key.lower() == name.lower():
                return value
        return None

    def lookup(self, name: str) -> int:
        """The ``pf_osfp_t`` for *name*: PF_OSFP_UNKNOWN for "unknown", PF_OSFP_NOMATCH when the
        list has no such class, class and version, or class, version and subtype."""
        if name.lower() == "unknown":
            return C.PF_OSFP_UNKNOWN
        found = self._find(self._classes, name)
        if found is not None:
            return found[0] << 20
        os_class, sep, rest = name.partition(" ")
        found = self._find(self._classes, os_class) if sep else None
        if found is None:
            return C.PF_OSFP_NOMATCH
        cnum, versions = found
        v = self._find(versions, rest)
        if v is not None:
            return cnum << 20 | v[0] << 10
        for version, (vnum, subtypes) in versions.items():
            n = len(version)
            if len(rest) < n + 2 or not _connector(rest[n]) or rest[:n].lower() != version.lower():
                continue
            for subtype, snum in subtypes.items():
                if subtype.lower() == rest[n + 1:].lower():
                    return cnum << 20 | vnum << 10 | snum
        return C.PF_OSFP_NOMATCH

    def name(self, os_id: int) -> str:
        """What ``pfctl -sr`` prints in ``os "..."`` for *os_id*: "unknown", "any", the class and
        its version and subtype, or "nomatch" for an id the list does not have."""
        if os_id == C.PF_OSFP_UNKNOWN:
            return "unknown"
        if os_id == C.PF_OSFP_ANY:
            return "any"
        cnum, vnum, snum = os_id >> 20 & 0x3FF, os_id >> 10 & 0x3FF, os_id & 0x3FF
        for os_class, (n, versions) in self._classes.items():
            if n != cnum:
                continue
            if not vnum:
                return os_class
            for version, (v, subtypes) in versions.items():
                if v != vnum:
                    continue
                if not snum:
                    return f"{os_class} {version}"
                for subtype, s in subtypes.items():
                    if s == snum:
                        return f"{os_class} {version} {subtype}"
        return "nomatch"
