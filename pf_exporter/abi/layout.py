"""Build ctypes classes from the C declarations in :mod:`decls` for one architecture.

The same declarations give the amd64/arm64 layout (LP64, 64-bit integers 8-aligned)
and the i386 layout (ILP32, 64-bit integers and ``time_t`` only 4-aligned, which
``_pack_ = 4`` reproduces because no i386 type is aligned beyond 4).  Pointer-sized
fields use ``c_void_p``/``c_size_t`` when the target's word size is the host's, so
real buffer addresses can be stored in them; otherwise a same-width integer.
"""

from __future__ import annotations

import ctypes
import re
import sys
from dataclasses import dataclass
from typing import Any

from .decls import Anon, Record

# Word size and maximum field alignment per OpenBSD architecture.
ARCH_WORD = {"amd64": 8, "arm64": 8, "i386": 4}
ARCH_PACK = {"amd64": None, "arm64": None, "i386": 4}

_FIXED: dict[str, Any] = {
    "char": ctypes.c_char,
    "u_char": ctypes.c_uint8,
    "u_int8_t": ctypes.c_uint8,
    "__uint8_t": ctypes.c_uint8,
    "int8_t": ctypes.c_int8,
    "unsigned char": ctypes.c_uint8,
    "short": ctypes.c_int16,
    "sa_family_t": ctypes.c_uint8,
    "u_int16_t": ctypes.c_uint16,
    "in_port_t": ctypes.c_uint16,
    "u_int32_t": ctypes.c_uint32,
    "uint32_t": ctypes.c_uint32,
    "u_int": ctypes.c_uint32,
    "unsigned int": ctypes.c_uint32,
    "in_addr_t": ctypes.c_uint32,
    "uid_t": ctypes.c_uint32,
    "gid_t": ctypes.c_uint32,
    "pf_osfp_t": ctypes.c_uint32,
    "int": ctypes.c_int32,
    "int32_t": ctypes.c_int32,
    "pid_t": ctypes.c_int32,
    "u_int64_t": ctypes.c_uint64,
    "uint64_t": ctypes.c_uint64,
    "int64_t": ctypes.c_int64,
    "pf_tcpopts_t": ctypes.c_uint64,
    "time_t": ctypes.c_int64,  # 64-bit on every OpenBSD architecture since 5.5
}

_TYPE_RE = re.compile(r"^(?P<base>[A-Za-z_][\w ]*?)\s*(?P<ptr>\*+)?\s*(?P<dims>(\[\d+\])*)$")


@dataclass
class Layout:
    """ctypes classes for one (release, arch), looked up by C tag (``layout.pf_status``)."""

    arch: str
    classes: dict[str, Any]  # built ctypes.Structure / ctypes.Union subclasses

    def __getattr__(self, tag: str) -> Any:  # a ctypes class made at run time: no static type to give
        try:
            return self.classes[tag]
        except KeyError:
            raise AttributeError(tag) from None

    def __contains__(self, tag: str) -> bool:
        return tag in self.classes


def _word_types(arch: str) -> dict[str, Any]:
    word = ARCH_WORD[arch]
    native = ctypes.sizeof(ctypes.c_void_p) == word
    uword = ctypes.c_uint64 if word == 8 else ctypes.c_uint32
    sword = ctypes.c_int64 if word == 8 else ctypes.c_int32
    return {
        "pointer": ctypes.c_void_p if native else uword,
        "size_t": ctypes.c_size_t if native else uword,
        "u_long": uword,
        "long": sword,
    }


def build_layout(records: dict[str, Record], arch: str) -> Layout:  # noqa: C901 - one case per C declaration kind (struct, union, array, scalar, bit-field)
    """Return ctypes classes for every record under *arch*'s C ABI."""
    if arch not in ARCH_WORD:
        raise ValueError(f"unknown architecture {arch!r}: expected one of {sorted(ARCH_WORD)}")
    words = _word_types(arch)
    pack = ARCH_PACK[arch]
    built: dict[str, Any] = {}
    counter = [0]

    def make(name: str, kind: str, fields: tuple[Any, ...], packed: bool) -> Any:
        base = ctypes.Union if kind == "union" else ctypes.Structure
        ns: dict[str, object] = {}
        p = 1 if packed else pack
        if p is not None:
            ns["_pack_"] = p
            if sys.version_info >= (3, 14):
                ns["_layout_"] = "ms"
        ns["_fields_"] = [(fname, ctype(ftype)) for fname, ftype in fields]
        return type(name, (base,), ns)

    def record(tag: str) -> Any:
        if tag not in built:
            rec = records[tag]
            built[tag] = make(tag, rec.kind, rec.fields, rec.packed)
        return built[tag]

    def ctype(spec: object) -> Any:
        if isinstance(spec, Anon):
            counter[0] += 1
            return make(f"anon_{spec.kind}_{counter[0]}", spec.kind, spec.fields, False)
        m = _TYPE_RE.match(str(spec))
        if not m:
            raise ValueError(f"cannot parse C type {spec!r}")
        base, ptr, dims = m.group("base").strip(), m.group("ptr"), m.group("dims")
        t: Any
        if ptr:
            t = words["pointer"]
        elif base.startswith(("struct ", "union ")):
            t = record(base.split(" ", 1)[1])
        elif base in words:
            t = words[base]
        elif base == "caddr_t":
            t = words["pointer"]
        else:
            t = _FIXED[base]
        for n in reversed([int(x) for x in re.findall(r"\[(\d+)\]", dims)]):
            t = t * n
        return t

    for tag in records:
        record(tag)
    return Layout(arch, built)
