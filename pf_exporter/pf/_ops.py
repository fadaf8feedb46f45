""":class:`PacketFilter`'s source nodes, counter clearing and state kill by key
(``pfctl -sS``, ``-K``, ``-F Sources``, ``-z``, ``-k key``)."""

from __future__ import annotations

import ctypes
import ipaddress
import re
import sys
from collections.abc import Iterator
from typing import Any

from ..abi import array
from ..abi import constants as C
from ..errors import PfBusy, PfExists, PfInvalidArgument, PfNotFound, PfUnsupported
from . import _codec as codec
from . import types as T
from ._args import AddressLike, _address_arg, _anchor
from ._codec import set_cstr
from ._kernel import IoctlBackend

_KEY = re.compile(r"^\s*(?P<proto>[A-Za-z0-9-]+)\s+(?P<a>\S+)\s+(?P<dir>->|<-)\s+(?P<b>\S+)\s*$")
_PROTOCOLS = {"tcp": C.IPPROTO_TCP, "udp": C.IPPROTO_UDP, "icmp": C.IPPROTO_ICMP, "icmp6": C.IPPROTO_ICMPV6}


def parse_endpoint(text: str) -> T.Endpoint:
    """``192.0.2.1:80``, ``[2001:db8::1]:80``, ``2001:db8::1[80]`` (pfctl -ss's form) or an address."""
    m = re.match(r"^\[(?P<h>[^\]]+)\]:(?P<p>\d+)$", text) or re.match(r"^(?P<h>[0-9a-fA-F:.]+)\[(?P<p>\d+)\]$", text)
    if m is None and text.count(":") == 1:
        m = re.match(r"^(?P<h>[0-9.]+):(?P<p>\d+)$", text)
    host, port = (m.group("h"), int(m.group("p"))) if m else (text, 0)
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise PfInvalidArgument("key", f"{text!r} is not an address[:port]") from None
    if not 0 <= port <= 65535:
        raise PfInvalidArgument("key", f"port {port} is out of range 0-65535")
    return T.Endpoint(addr, port)


def parse_key(key: str) -> tuple[int, T.Endpoint, T.Endpoint]:
    """``pfctl -k key``'s key: ``proto source -> destination`` (or ``destination <- source``, as
    ``pfctl -ss`` prints inbound states).  Returns (protocol, source, destination)."""
    m = _KEY.match(key) if isinstance(key, str) else None
    if m is None:
        raise PfInvalidArgument("key", f"{key!r} is not a state key (e.g. 'tcp 192.0.2.1:1234 -> 198.51.100.2:22')")
    proto = m.group("proto").lower()
    number = _PROTOCOLS.get(proto) if not proto.isdigit() else int(proto)
    if number is None or not 0 < number < 256:
        raise PfInvalidArgument("key", f"unknown protocol {proto!r} in the key (tcp, udp, icmp, icmp6 or a number)")
    a, b = parse_endpoint(m.group("a")), parse_endpoint(m.group("b"))
    if a.address.version != b.address.version:
        raise PfInvalidArgument("key", "the key's two addresses are of different families")
    src, dst = (a, b) if m.group("dir") == "->" else (b, a)
    return number, src, dst


def _net_addr(addr: ctypes.Structure, af: int) -> T.IPAddress:
    raw = bytes(addr)
    return ipaddress.IPv4Address(raw[:4]) if af == C.AF_INET else ipaddress.IPv6Address(raw[:16])


def decode_src_node(sn: ctypes.Structure) -> T.SourceNode:
    af = int(sn.af)
    naf = int(sn.naf) or af
    nr = int(sn.rule.nr)
    kind = int(sn.type)
    return T.SourceNode(
        family="inet" if af == C.AF_INET else "inet6", address=_net_addr(sn.addr, af),
        redirect=_net_addr(sn.raddr, naf), rule=None if nr == 0xFFFFFFFF else nr,
        kind=T.SOURCE_NODE_KINDS[kind] if 0 <= kind < len(T.SOURCE_NODE_KINDS) else str(kind),
        states=int(sn.states), connections=int(sn.conn), rate=int(sn.conn_rate.count) / 1000,
        rate_seconds=int(sn.conn_rate.seconds), age=int(sn.creation), expires_in=int(sn.expire),
        packets=(int(sn.packets[0]), int(sn.packets[1])), bytes=(int(sn.bytes[0]), int(sn.bytes[1])))


class OpsMixin:
    """Source nodes, counters, key kills and OS fingerprints (``backend``/``_writable()`` are
    :class:`PacketFilter`'s)."""

    backend: IoctlBackend

    def _writable(self, what: str) -> None:  # PacketFilter's
        raise NotImplementedError

    # --- source nodes ------------------------------------------------------------------------

    def source_nodes(self) -> list[T.SourceNode]:
        """DIOCGETSRCNODES: every source-tracking node (``pfctl -sS -v``)."""
        b = self.backend
        L = b.layout
        esize = ctypes.sizeof(L.pf_src_node)

        def attempt(n: int) -> tuple[int, list[T.SourceNode] | None]:
            psn = b.abi.new("pfioc_src_nodes", psn_len=0)
            buf = array(L.pf_src_node, n)
            psn.psn_len = ctypes.sizeof(buf)
            psn.psn_u.psu_buf = ctypes.addressof(buf)
            b.device.ioctl("DIOCGETSRCNODES", psn)
            got = int(psn.psn_len) // esize
            if got >= n:  # it may have grown: ask again with more room
                return n * 2, None
            return got, [decode_src_node(buf[i]) for i in range(got)]

        probe = b.abi.new("pfioc_src_nodes", psn_len=0)  # psn_len 0: how many bytes they take now
        b.device.ioctl("DIOCGETSRCNODES", probe)
        need = int(probe.psn_len) // esize
        return [] if need == 0 else b._grow("DIOCGETSRCNODES", need + max(16, need // 16), attempt)

    def kill_source_nodes(self, source: AddressLike | None = None, destination: AddressLike | None = None, *,
                          family: str | None = None) -> int:
        """``pfctl -K source [-K destination]``: remove the source-tracking nodes of *source* (an
        address or network, ``!`` negates) bound to *destination* (their redirection address); their
        states keep running.  Returns how many nodes went."""
        if source is None and destination is None:
            raise PfInvalidArgument("kill_source_nodes", "name a source (or destination) address; "
                                    "flush_source_nodes() removes them all")
        s = _address_arg(source, "source") if source is not None else None
        d = _address_arg(destination, "destination") if destination is not None else None
        if family not in (None, "inet", "inet6"):
            raise PfInvalidArgument("family", "family is inet or inet6")
        self._writable("kill_source_nodes")
        b = self.backend
        psnk = b.abi.new("pfioc_src_node_kill")
        fam = family or (("inet" if s.network.version == 4 else "inet6") if s else
                         ("inet" if d and d.network.version == 4 else "inet6"))
        psnk.psnk_af = codec.FAMILY_NUMBERS[fam]
        for match, ra in ((s, psnk.psnk_src), (d, psnk.psnk_dst)):
            if match is not None:
                codec.fill(ra.addr.v.a.addr, match.network.network_address.packed)
                codec.fill(ra.addr.v.a.mask, match.network.netmask.packed)
                ra.neg = 1 if match.negated else 0
        b.device.ioctl("DIOCKILLSRCNODES", psnk)
        return int(psnk.psnk_killed)

    def flush_source_nodes(self) -> None:
        """``pfctl -F Sources``: remove every source-tracking node (DIOCCLRSRCNODES)."""
        self._writable("flush_source_nodes")
        self.backend.device.ioctl("DIOCCLRSRCNODES", None)

    # --- counters ----------------------------------------------------------------------------

    def clear_counters(self, interface: str | None = None) -> None:
        """``pfctl -z``: zero pf's global counters (``-si``), or only *interface*'s (``-i if -z``;
        a group name zeroes each member).  Rule and table counters are :meth:`clear_rule_counters`'
        and :meth:`zero_tables`'."""
        pi = self.backend.abi.new("pfioc_iface")
        if interface is not None:
            if not isinstance(interface, str) or not interface or len(interface.encode()) >= C.IFNAMSIZ:
                raise PfInvalidArgument("interface", f"{interface!r} is not an interface name")
            set_cstr(pi, "pfiio_name", interface)
        self._writable("clear_counters")
        self.backend.device.ioctl("DIOCCLRSTATUS", pi)

    def clear_rule_counters(self, anchor: str = "") -> int:
        """``pfctl -z -sr``: zero the evaluations, packets, bytes and state creations of every rule of
        *anchor* (DIOCGETRULE with PF_GET_CLR_CNTR); returns how many rules."""
        path = _anchor(anchor)
        self._writable("clear_rule_counters")
        b = self.backend
        n = 0
        with b.device.ruleset_ticket(path) as (ticket, nr):
            pr = b.abi.new("pfioc_rule", ticket=ticket, action=C.PF_GET_CLR_CNTR)
            set_cstr(pr, "anchor", path)
            for i in range(nr):
                pr.nr = i
                try:
                    b.device.ioctl("DIOCGETRULE", pr)
                except PfNotFound:
                    break
                n += 1
        return n

    # --- states --------------------------------------------------------------------------------

    def kill_state_key(self, key: str, *, interface: str = "", rdomain: int = 0) -> int:
        """``pfctl -k key -k 'tcp 192.0.2.1:1234 -> 198.51.100.2:22'``: kill the state of exactly this
        connection (either key side, as pf looks it up); returns how many states went (0 or 1)."""
        proto, src, dst = parse_key(key)
        if not isinstance(rdomain, int) or isinstance(rdomain, bool) or not 0 <= rdomain <= 255:
            raise PfInvalidArgument("rdomain", f"rdomain is 0..{255}")
        self._writable("kill_state_key")
        b = self.backend
        psk = b.abi.new("pfioc_state_kill")
        psk.psk_af = C.AF_INET if src.address.version == 4 else C.AF_INET6
        psk.psk_proto = proto
        psk.psk_rdomain = rdomain
        for end, ra in ((src, psk.psk_src), (dst, psk.psk_dst)):
            codec.fill(ra.addr.v.a.addr, end.address.packed)
            ra.port_op = C.PF_OP_EQ
            ra.port[0] = int.from_bytes(end.port.to_bytes(2, "big"), sys.byteorder)
        if interface:
            set_cstr(psk, "psk_ifname", interface)
        b.device.ioctl("DIOCKILLSTATES", psk)
        return int(psk.psk_killed)

    # --- 7.9 source limiter entries ---------------------------------------------------------

    def _source_limiter_id(self, limiter: int | str) -> tuple[int, int, int]:
        """(id, inet prefix, inet6 prefix) of a source limiter named by id or name."""
        if "limiters" not in self.backend.features:
            raise PfUnsupported("source_limiter_entries", f"OpenBSD {self.backend.release} has no source limiters "
                                "(7.9 and later do)")
        for lim in self.backend.source_limiters():
            if limiter in (lim.id, lim.name):
                return lim.id, lim.inet_prefix, lim.inet6_prefix
        raise PfInvalidArgument("limiter", f"no source limiter {limiter!r}")

    def source_limiter_entries(self, limiter: int | str) -> list[T.SourceEntry]:
        """DIOCGETNSOURCE: the source addresses a 7.9 source limiter tracks (by its id or name),
        read page by page from the lowest up."""
        lim_id, p4, p6 = self._source_limiter_id(limiter)
        b = self.backend
        L = b.layout
        esize = ctypes.sizeof(L.pfioc_source_entry)
        page = 256
        out: list[T.SourceEntry] = []
        key = L.pfioc_source_entry()
        last: tuple[int, int, bytes] | None = None
        while True:
            buf = array(L.pfioc_source_entry, page)
            ioc = b.abi.new("pfioc_source", id=lim_id, entry_size=esize, entrieslen=ctypes.sizeof(buf))
            ioc.key = ctypes.addressof(key)
            ioc.entries = ctypes.addressof(buf)
            b.device.ioctl("DIOCGETNSOURCE", ioc)
            n = int(ioc.entrieslen) // esize
            for e in buf[:n]:
                here = (int(e.af), int(e.rdomain), bytes(e.addr))
                if here == last:
                    continue  # the key itself, read again as the first of the next page
                family = "inet" if e.af == C.AF_INET else "inet6"
                addr = _net_addr(e.addr, int(e.af))
                net = ipaddress.ip_network((addr, p4 if family == "inet" else p6), strict=False)
                out.append(T.SourceEntry(lim_id, family, int(e.rdomain), net, int(e.inuse), int(e.admitted),
                                         int(e.hardlimited), int(e.ratelimited)))
                last = here
            if n < page:
                return out
            ctypes.memmove(ctypes.addressof(key), ctypes.addressof(buf[n - 1]), esize)

    def clear_source_entry(self, limiter: int | str, address: AddressLike, *, rdomain: int = 0,
                           kill_states: bool = False) -> None:
        """DIOCCLRSOURCE: make a 7.9 source limiter forget one source address (and, with
        *kill_states*, kill that source's states).  PfNotFound when it does not track it."""
        lim_id, _p4, _p6 = self._source_limiter_id(limiter)
        match = _address_arg(address, "address")
        if not isinstance(rdomain, int) or isinstance(rdomain, bool) or not 0 <= rdomain <= 255:
            raise PfInvalidArgument("rdomain", "rdomain is 0..255")
        self._writable("clear_source_entry")
        b = self.backend
        ioc = b.abi.new("pfioc_source_kill", id=lim_id, rdomain=rdomain, rmstates=1 if kill_states else 0)
        ioc.af = C.AF_INET if match.network.version == 4 else C.AF_INET6
        codec.fill(ioc.addr, match.network.network_address.packed)
        b.device.ioctl("DIOCCLRSOURCE", ioc)

    # --- OS fingerprints -----------------------------------------------------------------------

    def fingerprints(self) -> list[T.OsFingerprint]:
        """DIOCOSFPGET: every OS fingerprint pf holds (``pfctl -s osfp``)."""
        from ._osfp import decode

        return [decode(fp) for fp in self._osfp_answers()]

    def _osfp_answers(self) -> Iterator[ctypes.Structure]:
        """DIOCOSFPGET for entry 0, 1, ... until pf answers EBUSY (past the last one)."""
        b = self.backend
        for i in range(1 << 20):
            fp = b.abi.new("pf_osfp_ioctl", fp_getnum=i)
            try:
                b.device.ioctl("DIOCOSFPGET", fp)
            except PfBusy:
                return
            yield fp

    def _fingerprint_structs(self) -> list[bytes]:
        """The kernel's fingerprints as DIOCOSFPADD arguments (DIOCOSFPGET's answers, numbering
        cleared), to put them back after a failed load."""
        out = []
        for fp in self._osfp_answers():
            fp.fp_getnum = 0
            out.append(bytes(fp))
        return out

    def _put_fingerprints(self, structs: list[bytes]) -> None:
        """Flush pf's fingerprints and add *structs* (``pf_osfp_ioctl`` bytes); duplicates skipped."""
        b = self.backend
        b.device.ioctl("DIOCOSFPFLUSH", None)
        for raw in structs:
            fp = b.abi.new("pf_osfp_ioctl")
            ctypes.memmove(ctypes.addressof(fp), raw, len(raw))
            try:
                b.device.ioctl("DIOCOSFPADD", fp)
            except PfExists:
                pass

    def _fingerprint_names(self) -> Any:
        """The kernel's fingerprint names (:class:`~pf_exporter.ruleset.osfp.Fingerprints`): what
        ``os "name"`` resolves to in a rule loaded into an anchor, and how rules read back print."""
        from ..ruleset.osfp import Fingerprints

        return Fingerprints([(f.os_class, f.version, f.subtype, f.id) for f in self.fingerprints()])

    def load_fingerprints(self, text: str | None = None) -> T.FingerprintLoad:
        """Replace pf's OS fingerprints with those of a pf.os(5) *text* (default: OpenBSD's own
        ``/etc/pf.os``, shipped with pf_exporter), as pfctl does when it loads a ruleset: flush,
        then DIOCOSFPADD each.  The text is checked whole first (PfInvalidArgument names the line);
        a signature listed twice is skipped with a warning, as pfctl warns."""
        from ._osfp import encode, number, parse, standard_database

        sigs = parse(standard_database() if text is None else text)
        self._writable("load_fingerprints")
        ids = number(sigs)
        b = self.backend
        warnings = []
        added = 0
        with b.device.lock:
            b.device.ioctl("DIOCOSFPFLUSH", None)
            for sig, os_id in zip(sigs, ids, strict=True):
                try:
                    b.device.ioctl("DIOCOSFPADD", encode(b.abi, sig, os_id))
                    added += 1
                except PfExists:
                    warnings.append(f"line {sig.line}: duplicate signature for {sig.os_class} {sig.version} "
                                    f"{sig.subtype}".rstrip())
        return T.FingerprintLoad(added, tuple(warnings))

    def flush_fingerprints(self) -> None:
        """``pfctl -F osfp``: remove every OS fingerprint (rules with ``os`` then match nothing)."""
        self._writable("flush_fingerprints")
        self.backend.device.ioctl("DIOCOSFPFLUSH", None)
