"""What the simulator's modules share: C-string and byte-order helpers, the kernel's error, and
the packed ``pfsync_state`` format the state table is exported in."""

from __future__ import annotations

import ctypes
import struct

U32 = 0xFFFFFFFF


def cstr(raw: bytes) -> str:
    """A C string from a char array's bytes (up to the first NUL)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def field_bytes(obj: ctypes.Structure, field: str) -> bytes:
    """The raw bytes of one field of a ctypes struct (char arrays included, NULs and all)."""
    desc = getattr(type(obj), field)
    return ctypes.string_at(ctypes.addressof(obj) + desc.offset, desc.size)


def set_cstr(obj: ctypes.Structure, field: str, value: str | bytes) -> None:
    """Store *value* in char array *field* NUL-padded (strlcpy into a zeroed buffer)."""
    desc = getattr(type(obj), field)
    data = value.encode() if isinstance(value, str) else value
    data = data.split(b"\0", 1)[0][: desc.size - 1]
    ctypes.memmove(ctypes.addressof(obj) + desc.offset, data.ljust(desc.size, b"\0"), desc.size)


class KernelError(OSError):
    """An errno a kernel function returns; the ioctl layer turns it into the ioctl's result."""

    def __init__(self, err: int) -> None:
        import os

        super().__init__(err, os.strerror(err))


class SimulatorUnsupported(RuntimeError):
    """A request the simulator cannot serve (not an errno the kernel would return)."""


# pfsync_state as exported by pf_state_export(): __packed, multi-byte fields in network order.
PFSYNC_STATE = struct.Struct(
    ">Q16s"  # id, ifname
    "16s16sHHHBB"  # key[PF_SK_WIRE]: addr[2], port[2], rdomain, af, pad
    "16s16sHHHBB"  # key[PF_SK_STACK]
    "HBBIIIIHHBB6s"  # src peer: scrub{flags, ttl, scrub_flag, ts_mod}, seqlo, seqhi, seqdiff, max_win, mss, state,
    "HBBIIIIHHBB6s"  # dst peer                                                      wscale, pad
    "16s"  # rt_addr
    "13I"  # rule, anchor, nat_rule, creation, expire, packets[2][2], bytes[2][2]
    "I2i"  # creatorid, rtableid[2]
    "HBBBBBBBBBBH2B"  # max_mss, af, proto, direction, log, rt, timeout, sync_flags, updates, min_ttl, set_tos,
)  # state_flags, set_prio[2]
DYNAMIC = struct.Struct(">13I")
STATE_DYNAMIC_OFFSET = 8 + 16 + 80 + 32 + 32 + 16  # pfsync_state.rule


def ntohs(v: int) -> int:
    return ((v & 0xFF) << 8) | (v >> 8)


def htons(v: int) -> int:
    """A port in network byte order, as the native value of its u_int16_t field."""
    return ((v & 0xFF) << 8) | (v >> 8)
