""":class:`PacketFilter`'s high-availability reads: carp(4), pfsync(4), interface groups and their
carp demotion counters, the carp/pfsync statistics and settings (sysctl), ``kern.pfstatus``; and
``carp_demote`` for a planned failover (``ifconfig -g carp carpdemote N``).

Every read needs no privilege and no ``/dev/pf``; only :meth:`carp_demote` writes (root).  The
network device is opened on first use (a socket and libc on OpenBSD, the simulator's network on a
simulated handle)."""

from __future__ import annotations

import ctypes
import ipaddress
from typing import Any

from ..abi import array
from ..abi import net as N
from ..errors import PfInvalid, PfInvalidArgument, PfNotFound
from . import _codec as codec
from . import types as T
from ._args import _interface
from ._kernel import IoctlBackend

CARP_COUNTERS = ("badif", "badttl", "hdrops", "badsum", "badver", "badlen", "badauth", "badvhid", "badaddrs",
                 "onomem", "ostates")
PFSYNC_COUNTERS = ("badif", "badttl", "hdrops", "badver", "badact", "badlen", "badauth", "stale", "badval",
                   "badstate", "onomem", "oerrors")
MAX_TRIES = 8


def _name(raw: Any) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")


def _ipv4(addr: Any) -> str:
    value = int(addr.s_addr)
    return "" if value == 0 else str(ipaddress.IPv4Address(value.to_bytes(4, "little")))


class NetMixin:
    """Mixed into :class:`PacketFilter` (its ``backend`` and ``_writable()``)."""

    backend: IoctlBackend
    _netdev: Any = None

    def _writable(self, what: str) -> None:  # PacketFilter's
        raise NotImplementedError

    @property
    def _net(self) -> Any:
        if self._netdev is None:
            from .backend import net_device

            self._netdev = net_device(self.backend)
        return self._netdev

    # --- interface groups ----------------------------------------------------------------------

    def _group_list(self, request: str, name: str) -> list[str]:
        """SIOCGIFGMEMB / SIOCGIFGROUP / SIOCGIFGLIST: ask the size (ifgr_len 0), read, retry while
        membership changes in between (EINVAL: the buffer was short)."""
        dev = self._net
        L = dev.netabi.layout
        esize = ctypes.sizeof(L.ifg_req)
        for _ in range(MAX_TRIES):
            req = L.ifgroupreq()
            req.ifgr_name = name.encode()
            dev.ioctl(request, req)
            n = int(req.ifgr_len) // esize + 1
            buf = array(L.ifg_req, n)
            req.ifgr_len = ctypes.sizeof(buf)
            req.ifgr_ifgru.ifgru_groups = ctypes.addressof(buf)
            try:
                dev.ioctl(request, req)
            except PfInvalid:
                continue
            out = []
            for e in buf:
                member = _name(e.ifgrq_ifgrqu.ifgrqu_member)
                if not member:
                    break
                out.append(member)
            return out
        raise PfInvalid(22, request, "the group kept changing while being read; retry")

    def group_members(self, group: str) -> list[str]:
        """The interfaces of an interface group (``ifconfig -g group``); [] for a group that does not exist."""
        try:
            return self._group_list("SIOCGIFGMEMB", _interface(group, "group"))
        except PfNotFound:
            return []

    def interface_groups(self, interface: str) -> list[str]:
        """The groups an interface belongs to."""
        return self._group_list("SIOCGIFGROUP", _interface(interface, "interface"))

    def group_demotion(self, group: str) -> int:
        """SIOCGIFGATTR: a group's carp demotion counter (``ifconfig -g group``: carp demote count)."""
        req = self._net.netabi.layout.ifgroupreq()
        req.ifgr_name = _interface(group, "group").encode()
        self._net.ioctl("SIOCGIFGATTR", req)
        return int(req.ifgr_ifgru.ifgru_attrib.ifg_carp_demoted)

    def carp_demote(self, group: str = "carp", by: int = 1) -> int:
        """SIOCSIFGATTR: add *by* (negative to undo) to a group's demotion counter, as
        ``ifconfig -g carp carpdemote N`` does for a planned failover; pf keeps it in 0..255 (the
        kernel refuses with EINVAL otherwise).  Needs root.  Returns the new counter."""
        name = _interface(group, "group")
        if isinstance(by, bool) or not isinstance(by, int) or not -255 <= by <= 255 or by == 0:
            raise PfInvalidArgument("by", "demote by a whole number from -255 to 255, not 0")
        current = self.group_demotion(name)
        if not 0 <= current + by <= 255:
            raise PfInvalidArgument("by", f"the demotion counter of {name} is {current}; {current} + {by} "
                                    "leaves 0..255")
        self._writable("carp_demote")
        req = self._net.netabi.layout.ifgroupreq()
        req.ifgr_name = name.encode()
        req.ifgr_ifgru.ifgru_attrib.ifg_carp_demoted = by
        self._net.ioctl("SIOCSIFGATTR", req)
        return self.group_demotion(name)

    # --- carp and pfsync -------------------------------------------------------------------------

    def carp_interfaces(self) -> list[T.CarpInterface]:
        """Every carp interface: the members of group "carp" that answer SIOCGVH (pfsync interfaces
        are in that group too, and are not carp)."""
        dev = self._net
        L = dev.netabi.layout
        out = []
        for name in self.group_members("carp"):
            cr = L.carpreq()
            ifr = L.ifreq()
            ifr.ifr_name = name.encode()
            ifr.ifr_ifru.ifru_data = ctypes.addressof(cr)
            try:
                dev.ioctl("SIOCGVH", ifr)
            except PfNotFound:
                continue  # not carp (pfsync), or gone
            vhosts = []
            for i in range(N.CARP_MAXNODES):
                vhid = int(cr.carpr_vhids[i])
                if vhid == 0:
                    break
                state = int(cr.carpr_states[i])  # carpr_state (the scalar) is never set
                vhosts.append(T.CarpVhost(vhid, int(cr.carpr_advskews[i]),
                                          N.CARP_STATES[state] if state < len(N.CARP_STATES) else str(state)))
            out.append(T.CarpInterface(name, _name(cr.carpr_carpdev), int(cr.carpr_advbase), _ipv4(cr.carpr_peer),
                                       int(cr.carpr_balancing), tuple(vhosts)))
        return out

    def pfsync_interfaces(self) -> list[T.PfsyncInterface]:
        """Every pfsync interface (group "pfsync"), SIOCGETPFSYNC."""
        dev = self._net
        L = dev.netabi.layout
        out = []
        for name in self.group_members("pfsync"):
            pr = L.pfsyncreq()
            ifr = L.ifreq()
            ifr.ifr_name = name.encode()
            ifr.ifr_ifru.ifru_data = ctypes.addressof(pr)
            try:
                dev.ioctl("SIOCGETPFSYNC", ifr)
            except PfNotFound:
                continue
            out.append(T.PfsyncInterface(name, _name(pr.pfsyncr_syncdev), _ipv4(pr.pfsyncr_syncpeer),
                                         int(pr.pfsyncr_maxupdates), bool(pr.pfsyncr_defer)))
        return out

    def _stats(self, name: str, tag: str) -> Any:
        L = self._net.netabi.layout
        size = ctypes.sizeof(getattr(L, tag))
        data = self._net.sysctl(name, N.SYSCTLS[name], size)
        return getattr(L, tag).from_buffer_copy(data.ljust(size, b"\0"))

    def carp_stats(self) -> dict[str, int]:
        """sysctl net.inet.carp.stats, by the carpstats field name without ``carps_`` (both
        families' counters are in the one struct)."""
        st = self._stats("net.inet.carp.stats", "carpstats")
        return {n[len("carps_"):]: int(getattr(st, n)) for n, _t in st._fields_}

    def pfsync_stats(self) -> dict[str, int]:
        """sysctl net.inet.pfsync.stats, by field name without ``pfsyncs_``; PfNotFound on a kernel
        without pfsync."""
        st = self._stats("net.inet.pfsync.stats", "pfsyncstats")
        return {n[len("pfsyncs_"):]: int(getattr(st, n)) for n, _t in st._fields_}

    def carp_settings(self) -> T.CarpSettings:
        """sysctl net.inet.carp.allow, .preempt, .log."""
        def read(name: str) -> int:
            return int.from_bytes(self._net.sysctl(name, N.SYSCTLS[name], 4)[:4], "little", signed=True)

        return T.CarpSettings(read("net.inet.carp.allow"), read("net.inet.carp.preempt"), read("net.inet.carp.log"))

    def status_sysctl(self) -> T.Status:
        """pf's status from sysctl kern.pfstatus: no /dev/pf access needed (the status collector can
        run where the exporter may not open the device)."""
        L = self.backend.layout
        size = ctypes.sizeof(L.pf_status)
        data = self._net.sysctl("kern.pfstatus", N.SYSCTLS["kern.pfstatus"], size)
        st = L.pf_status.from_buffer_copy(data.ljust(size, b"\0"))
        return codec.decode_status(st, self.backend.uptime(), self.backend.now())
