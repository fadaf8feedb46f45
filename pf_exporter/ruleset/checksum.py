"""The ruleset checksum the kernel computes when a main ruleset is committed
(pf_calc_chksum() over pf_hash_rule() of each rule, net/pf_ioctl.c) and ``pfctl -vsi``
prints as ``Checksum: 0x...``; pfsync peers compare it.  Computed here from the rules as
they are loaded, so a ruleset's checksum is known before loading it."""

from __future__ import annotations

import hashlib
import struct

from ..abi.constants import PF_ADDR_ADDRMASK, PF_ADDR_DYNIFTL, PF_ADDR_RTLABEL, PF_ADDR_TABLE
from .model import RuleAddr, RuleDef

PF_OPTIMIZER_TABLE_PFX = "__automatic_"


def _fixed(text: str, size: int) -> bytes:
    raw = text.encode()[: size - 1]
    return raw + bytes(size - len(raw))


def _hash_addr(md5: hashlib._Hash, ra: RuleAddr) -> None:
    aw = ra.addr
    md5.update(bytes([aw.type]))
    if aw.type == PF_ADDR_DYNIFTL:
        md5.update(_fixed(aw.ifname, 16))
        md5.update(bytes([aw.iflags]))
    elif aw.type == PF_ADDR_TABLE:
        if not aw.tblname.startswith(PF_OPTIMIZER_TABLE_PFX):
            md5.update(_fixed(aw.tblname, 32))
    elif aw.type == PF_ADDR_ADDRMASK:
        md5.update(aw.addr)
        md5.update(aw.mask)
    elif aw.type == PF_ADDR_RTLABEL:
        md5.update(_fixed(aw.rtlabelname, 32))
    md5.update(struct.pack(">HH", *ra.port))  # stored in network order
    md5.update(bytes([int(ra.neg), ra.port_op]))


def hash_rule(md5: hashlib._Hash, r: RuleDef, match_tag: int = 0) -> None:
    """pf_hash_rule(); *match_tag* is the tag number the kernel gave match_tagname."""
    _hash_addr(md5, r.src)
    _hash_addr(md5, r.dst)
    for text in (r.label, r.ifname, r.rcv_ifname, r.match_tagname):
        md5.update(text.encode())
    md5.update(struct.pack(">H", match_tag))
    md5.update(struct.pack(">IIII", r.os_fingerprint, r.prob, r.uid[1], r.uid[2]))
    md5.update(bytes([r.uid[0]]))
    md5.update(struct.pack(">II", r.gid[1], r.gid[2]))
    md5.update(bytes([r.gid[0]]))
    md5.update(struct.pack(">I", r.rule_flag & 0xFFFFFFFF))
    md5.update(bytes([r.action, r.direction, r.af, int(r.quick), int(r.ifnot), int(r.rcvifnot),
                      int(r.match_tag_not), r.keep_state, r.proto, r.type, r.code, r.flags, r.flagset,
                      int(r.allow_opts), r.rt, r.tos]))


def ruleset_checksum(rules: list[RuleDef]) -> bytes:
    """The 16-byte MD5 pf_status.pf_chksum holds after loading *rules* as the main ruleset.

    Tag numbers are the kernel's; they are assigned in order of first use, starting at 1,
    which holds for a ruleset loaded into a pf without other tags."""
    md5 = hashlib.md5(usedforsecurity=False)
    tags: dict[str, int] = {}
    for r in rules:
        for name in (r.tagname, r.match_tagname):
            if name and name not in tags:
                tags[name] = len(tags) + 1
        hash_rule(md5, r, tags.get(r.match_tagname, 0) if r.match_tagname else 0)
    return md5.digest()
