"""Addresses as the kernel stores them: a ``struct pf_addr`` is 16 bytes in network
order, an IPv4 address occupying the first four.  Conversion and formatting helpers
that behave like the C library functions pfctl uses (inet_pton, inet_net_pton,
inet_ntop)."""

from __future__ import annotations

from ..abi.constants import AF_INET, AF_INET6

ZERO = bytes(16)
ONES = b"\xff" * 16


def mask_bytes(bits: int) -> bytes:
    """A 16-byte netmask with *bits* leading one bits (0-128)."""
    value = ((1 << 128) - 1) ^ ((1 << (128 - bits)) - 1) if bits else 0
    return value.to_bytes(16, "big")


def unmask(mask: bytes) -> int:
    """Count leading one bits, stopping at the first zero bit (pfctl's unmask())."""
    value = int.from_bytes(mask, "big")
    bits = 0
    for i in range(127, -1, -1):
        if not value >> i & 1:
            break
        bits += 1
    return bits


def and_bytes(a: bytes, b: bytes) -> bytes:
    return bytes(x & y for x, y in zip(a, b, strict=True))


def is_zero(addr: bytes, af: int) -> bool:
    """PF_AZERO(): false for an unknown family, as in pfvar.h."""
    if af == AF_INET:
        return addr[:4] == b"\0\0\0\0"
    if af == AF_INET6:
        return addr == ZERO
    return False


def pton4(text: str) -> bytes | None:
    """Strict dotted quad, like inet_pton(AF_INET): four decimal parts, no leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    out = bytearray()
    for part in parts:
        if not part.isascii() or not part.isdigit() or len(part) > 3 or (len(part) > 1 and part[0] == "0"):
            return None
        value = int(part)
        if value > 255:
            return None
        out.append(value)
    return bytes(out) + bytes(12)


def pton6(text: str) -> bytes | None:
    """inet_pton(AF_INET6), including a trailing dotted quad."""
    if not text or not all(c in "0123456789abcdefABCDEF:." for c in text):
        return None
    if "." in text:
        head, sep, quad = text.rpartition(":")
        raw4 = pton4(quad) if sep else None
        if raw4 is None:
            return None
        text = f"{head}:{raw4[0] << 8 | raw4[1]:x}:{raw4[2] << 8 | raw4[3]:x}"
    if text.count("::") > 1:
        return None
    if "::" in text:
        left, right = text.split("::")
        lparts = left.split(":") if left else []
        rparts = right.split(":") if right else []
        missing = 8 - len(lparts) - len(rparts)
        if missing < 1:
            return None
        parts = lparts + ["0"] * missing + rparts
    else:
        parts = text.split(":")
        if len(parts) != 8:
            return None
    words: list[int] = []
    for part in parts:
        if not part or len(part) > 4:
            return None
        words.append(int(part, 16))
    return b"".join(w.to_bytes(2, "big") for w in words)


def inet_net_pton4(text: str) -> bytes | None:
    """inet_net_pton(AF_INET) for the address part: "10", "10.1", "0x0a01", ..."""
    if text[:2] in ("0x", "0X"):
        digits = text[2:]
        if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits) or len(digits) > 8:
            return None
        if len(digits) % 2:
            digits += "0"
        raw = bytes.fromhex(digits)
        return raw + bytes(16 - len(raw))
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    out = bytearray()
    for part in parts:
        if not part.isascii() or not part.isdigit():
            return None
        value = int(part)
        if value > 255:
            return None
        out.append(value)
    return bytes(out) + bytes(16 - len(out))


def ntop(af: int, addr: bytes) -> str | None:
    """inet_ntop(): None for an unknown family (pfctl then prints "?")."""
    if af == AF_INET:
        return ".".join(str(b) for b in addr[:4])
    if af == AF_INET6:
        return _ntop6(addr)
    return None


def _ntop6(addr: bytes) -> str:
    words = [addr[i] << 8 | addr[i + 1] for i in range(0, 16, 2)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, w in enumerate(words):
        if w == 0:
            if cur_base == -1:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if cur_base != -1 and (best_base == -1 or cur_len > best_len):
        best_base, best_len = cur_base, cur_len
    if best_base != -1 and best_len < 2:
        best_base = -1
    out = ""
    i = 0
    while i < 8:
        if best_base != -1 and best_base <= i < best_base + best_len:
            if i == best_base:
                out += ":"
            i += 1
            continue
        if i:
            out += ":"
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out += ".".join(str(b) for b in addr[12:16])
            break
        out += f"{words[i]:x}"
        i += 1
    if best_base != -1 and best_base + best_len == 8:
        out += ":"
    return out


def v4(text: str) -> bytes:
    """Dotted quad to 16-byte pf_addr (for tables of constants and tests)."""
    raw = pton4(text)
    if raw is None:
        raise ValueError(f"not an IPv4 address: {text!r}")
    return raw


def v6(text: str) -> bytes:
    raw = pton6(text)
    if raw is None:
        raise ValueError(f"not an IPv6 address: {text!r}")
    return raw
