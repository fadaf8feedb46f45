"""OS fingerprints in the kernel: encoding each parsed ``pf.os`` signature
(:mod:`pf_exporter.ruleset.osfp`) as ``struct pf_osfp_ioctl`` for DIOCOSFPADD, and reading the
kernel's list back (DIOCOSFPGET)."""

from __future__ import annotations

import ctypes
from typing import Any

from ..abi import constants as C
from ..ruleset.osfp import Signature, number, parse, standard_database
from . import types as T
from ._codec import set_cstr

__all__ = ["Signature", "decode", "encode", "number", "parse", "standard_database"]


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
