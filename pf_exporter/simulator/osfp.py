"""OS fingerprints (net/pf_osfp.c): DIOCOSFPADD, DIOCOSFPFLUSH, DIOCOSFPGET.

pf keeps a list of fingerprints (the signature fields) each with a list of OS entries (class,
version, subtype names and pfctl's packed id).  Adding an entry to a signature it already has
is EEXIST; DIOCOSFPGET numbers the (fingerprint, entry) pairs from 0 and is EBUSY past the end."""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING

from .handlers import fail, handles

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport

SIGNATURE = ("fp_tcpopts", "fp_wsize", "fp_psize", "fp_mss", "fp_flags", "fp_optcnt", "fp_wscale", "fp_ttl")


def _key(fp: ctypes.Structure) -> tuple[int, ...]:
    return tuple(int(getattr(fp, f)) for f in SIGNATURE)


def _entry(fp: ctypes.Structure) -> tuple[int, int, bytes, bytes, bytes]:
    os = fp.fp_os
    return (int(os.fp_os), int(os.fp_enflags), bytes(os.fp_class_nm).split(b"\0")[0],
            bytes(os.fp_version_nm).split(b"\0")[0], bytes(os.fp_subtype_nm).split(b"\0")[0])


@handles("DIOCOSFPADD")
def diocosfpadd(sim: Simulator, fd: SimTransport, fp: ctypes.Structure) -> None:
    """pf_osfp_add(): a new entry for a (new or known) signature; EEXIST for one it has."""
    key, entry = _key(fp), _entry(fp)
    entries = sim.osfp.setdefault(key, [])
    if any(e[2:] == entry[2:] for e in entries):
        fail(errno.EEXIST)
    entries.insert(0, entry)  # SLIST_INSERT_HEAD


@handles("DIOCOSFPFLUSH")
def diocosfpflush(sim: Simulator, fd: SimTransport, k: None) -> None:
    """pf_osfp_flush()."""
    sim.osfp.clear()


@handles("DIOCOSFPGET")
def diocosfpget(sim: Simulator, fd: SimTransport, fp: ctypes.Structure) -> None:
    """pf_osfp_get(): the fp_getnum-th entry, counting through every fingerprint's entries."""
    num = int(fp.fp_getnum)
    i = 0
    for key, entries in reversed(list(sim.osfp.items())):  # the kernel's list has the newest first
        for entry in entries:
            if i == num:
                ctypes.memset(ctypes.addressof(fp), 0, ctypes.sizeof(fp))
                for name, value in zip(SIGNATURE, key, strict=True):
                    setattr(fp, name, value)
                fp.fp_os.fp_os, fp.fp_os.fp_enflags = entry[0], entry[1]
                for field, raw in zip(("fp_class_nm", "fp_version_nm", "fp_subtype_nm"), entry[2:], strict=True):
                    ctypes.memmove(ctypes.addressof(fp.fp_os) + getattr(type(fp.fp_os), field).offset, raw, len(raw))
                fp.fp_getnum = num
                return
            i += 1
    fail(errno.EBUSY)
