"""OS fingerprints (``pf.os``, pf.os(5)): parsing the file, encoding each signature as
``struct pf_osfp_ioctl`` for DIOCOSFPADD, and reading the kernel's list back (DIOCOSFPGET).

A line is ``window:ttl:df:size:options:class:version:subtype:details``; the window may be ``*``,
``%n``, ``Sn`` (n x MSS) or ``Tn`` (n x MTU), the size ``*`` or ``%n``, the options ``.`` or a list
of N, Wn, Mn (n, ``*`` or ``%n``), S, T, T0.  A class starting with ``@`` is a generic match, with
``*`` one whose details are not shown.  OpenBSD's own database ships as ``pf_exporter/data/pf.os``
(ISC licence, its notice at the top)."""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..abi import constants as C
from ..errors import PfInvalidArgument
from . import types as T
from ._codec import set_cstr

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


def encode(abi: Any, s: Signature, os_id: int) -> Any:
    fp = abi.new("pf_osfp_ioctl", fp_tcpopts=s.tcpopts, fp_wsize=s.wsize, fp_psize=s.psize, fp_mss=s.mss,
                 fp_flags=s.flags, fp_optcnt=s.optcnt, fp_wscale=s.wscale, fp_ttl=s.ttl)
    fp.fp_os.fp_os = os_id
    fp.fp_os.fp_enflags = s.enflags
    set_cstr(fp.fp_os, "fp_class_nm", s.os_class)
    set_cstr(fp.fp_os, "fp_version_nm", s.version)
    set_cstr(fp.fp_os, "fp_subtype_nm", s.subtype)
    return fp


def _name(raw: Any) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")


def _field(value: int, flags: int, dc: int, mod: int) -> str:
    return "*" if flags & dc else f"%{value}" if flags & mod else str(value)


def decode(fp: ctypes.Structure) -> T.OsFingerprint:
    """A DIOCOSFPGET answer, with its signature written back in pf.os syntax."""
    flags = int(fp.fp_flags)
    if flags & C.PF_OSFP_WSIZE_MSS:
        window = f"S{fp.fp_wsize}"
    elif flags & C.PF_OSFP_WSIZE_MTU:
        window = f"T{fp.fp_wsize}"
    else:
        window = _field(int(fp.fp_wsize), flags, C.PF_OSFP_WSIZE_DC, C.PF_OSFP_WSIZE_MOD)
    opts = []
    for i in range(int(fp.fp_optcnt) - 1, -1, -1):
        code = (int(fp.fp_tcpopts) >> (i * C.PF_OSFP_TCPOPT_BITS)) & ((1 << C.PF_OSFP_TCPOPT_BITS) - 1)
        if code == C.PF_OSFP_TCPOPT_NOP:
            opts.append("N")
        elif code == C.PF_OSFP_TCPOPT_SACK:
            opts.append("S")
        elif code == C.PF_OSFP_TCPOPT_TS:
            opts.append("T0" if flags & C.PF_OSFP_TS0 else "T")
        elif code == C.PF_OSFP_TCPOPT_WSCALE:
            opts.append("W" + _field(int(fp.fp_wscale), flags, C.PF_OSFP_WSCALE_DC, C.PF_OSFP_WSCALE_MOD))
        else:
            opts.append("M" + _field(int(fp.fp_mss), flags, C.PF_OSFP_MSS_DC, C.PF_OSFP_MSS_MOD))
    signature = ":".join((window, str(fp.fp_ttl), "1" if flags & C.PF_OSFP_DF else "0",
                          _field(int(fp.fp_psize), flags, C.PF_OSFP_PSIZE_DC, C.PF_OSFP_PSIZE_MOD),
                          ",".join(opts) or "."))
    enflags = int(fp.fp_os.fp_enflags)
    return T.OsFingerprint(os_class=_name(fp.fp_os.fp_class_nm), version=_name(fp.fp_os.fp_version_nm),
                           subtype=_name(fp.fp_os.fp_subtype_nm), signature=signature, id=int(fp.fp_os.fp_os),
                           generic=bool(enflags & C.PF_OSFP_GENERIC))
