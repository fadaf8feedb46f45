"""The network side of the simulator: carp(4) and pfsync(4) interfaces, interface groups and
their carp demotion counters, the carp and pfsync statistics, and the sysctl nodes that serve
them, answering the real SIOC*/sysctl bytes with the kernel's semantics (NET-NOTES.md):
SIOCGVH fills a ``carpreq`` (the key only for root, ``carpr_state`` never), group lists are sized
with ``ifgr_len = 0`` first and EINVAL on a short buffer, SIOCSIFGATTR needs root and stays in
0..255, a new sysctl value is EPERM.

A demoted group makes its carp masters advertise worse: with ``net.inet.carp.preempt`` on, a
demoted master becomes backup (the peer, on another simulator, is not modelled: a pair is two
simulators, one per exporter)."""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..abi import net as N
from .wire import KernelError

if TYPE_CHECKING:
    from .kernel import PfKernel


@dataclass
class Vhost:
    vhid: int
    advskew: int
    state: int  # N.CARP_STATES index


@dataclass
class NetIf:
    name: str
    groups: list[str]
    carpdev: str = ""
    vhosts: list[Vhost] = field(default_factory=list)
    advbase: int = 1
    peer: str = "224.0.0.18"
    key: bytes = b""
    syncdev: str = ""  # pfsync
    syncpeer: str = ""
    maxupdates: int = 128
    defer: int = 0

    @property
    def is_carp(self) -> bool:
        return self.name.startswith("carp")

    @property
    def is_pfsync(self) -> bool:
        return self.name.startswith("pfsync")


CARP_FIELDS = ("ipackets", "ipackets6", "badif", "badttl", "hdrops", "badsum", "badver", "badlen", "badauth",
               "badvhid", "badaddrs", "opackets", "opackets6", "onomem", "ostates", "preempt")
PFSYNC_FIELDS = ("ipackets", "ipackets6", "badif", "badttl", "hdrops", "badver", "badact", "badlen", "badauth",
                 "stale", "badval", "badstate", "opackets", "opackets6", "onomem", "oerrors")


class SimNet:
    """The interfaces, groups and counters one simulated firewall has."""

    def __init__(self, kernel: PfKernel) -> None:
        self.kernel = kernel
        self.abi = N.net_abi(kernel.abi.arch)
        self.ifs: dict[str, NetIf] = {}
        self.demoted: dict[str, int] = {}  # group -> ifg_carp_demoted
        self.carp = [0.0] * len(CARP_FIELDS)
        self.pfsync = [0.0] * len(PFSYNC_FIELDS)
        self.allow, self.preempt, self.log = 1, 0, 2
        self.failovers = 0

    # --- building --------------------------------------------------------------------------

    def add(self, nif: NetIf) -> None:
        for g in nif.groups:
            self.demoted.setdefault(g, 0)
        self.ifs[nif.name] = nif

    def groups(self) -> list[str]:
        out: list[str] = []
        for nif in self.ifs.values():
            out += [g for g in nif.groups if g not in out]
        return out

    def members(self, group: str) -> list[str]:
        return [n.name for n in self.ifs.values() if group in n.groups]

    # --- time ------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Advertisements: each master vhost sends one per advbase, backups receive its peer's;
        pfsync sends updates as states are inserted and removed."""
        for nif in self.ifs.values():
            for v in nif.vhosts:
                sent = seconds / max(1, nif.advbase)
                if v.state == 2:
                    self.carp[CARP_FIELDS.index("opackets")] += sent
                elif v.state == 1:
                    self.carp[CARP_FIELDS.index("ipackets")] += sent
        if any(n.is_pfsync and n.syncdev for n in self.ifs.values()):
            churn = self.kernel.state_target / max(1.0, self.kernel.state_mean_life) * seconds
            self.pfsync[PFSYNC_FIELDS.index("opackets")] += churn / 4 + seconds
            self.pfsync[PFSYNC_FIELDS.index("ipackets")] += churn / 8

    def _apply_demotion(self) -> None:
        """carp_group_demote_count(): a master whose groups are demoted gives way when preempting."""
        for nif in self.ifs.values():
            if not nif.is_carp:
                continue
            demote = min(255, sum(self.demoted.get(g, 0) for g in nif.groups if g != "all"))
            for v in nif.vhosts:
                if demote and v.state == 2 and self.preempt:
                    v.state = 1
                    self.failovers += 1
                    self.carp[CARP_FIELDS.index("preempt")] += 1

    # --- requests --------------------------------------------------------------------------

    def ioctl(self, request: int, arg: Any, root: bool) -> None:
        name = self.abi.names.get(request)
        if name is None:
            raise KernelError(errno.ENOTTY)
        getattr(self, "_" + name.lower())(arg, root)

    def _ifreq_if(self, ifr: Any) -> NetIf:
        name = bytes(ifr.ifr_name).split(b"\0")[0].decode()
        nif = self.ifs.get(name)
        if nif is None:
            raise KernelError(errno.ENXIO)
        return nif

    @staticmethod
    def _copyout(address: int, obj: Any) -> None:
        if not address:
            raise KernelError(errno.EFAULT)
        ctypes.memmove(address, ctypes.addressof(obj), ctypes.sizeof(obj))

    def _siocgvh(self, ifr: Any, root: bool) -> None:
        nif = self._ifreq_if(ifr)
        if not nif.is_carp:
            raise KernelError(errno.ENOTTY)
        cr = self.abi.layout.carpreq()  # zeroed; carpr_state stays 0
        cr.carpr_carpdev = nif.carpdev.encode()
        for i, v in enumerate(nif.vhosts[:N.CARP_MAXNODES]):
            cr.carpr_vhids[i], cr.carpr_advskews[i], cr.carpr_states[i] = v.vhid, v.advskew, v.state
        cr.carpr_advbase = nif.advbase
        if root and nif.key:
            ctypes.memmove(ctypes.addressof(cr.carpr_key), nif.key[:N.CARP_KEY_LEN], len(nif.key[:N.CARP_KEY_LEN]))
        cr.carpr_peer.s_addr = int.from_bytes(ipaddress.IPv4Address(nif.peer).packed, "little")
        self._copyout(ifr.ifr_ifru.ifru_data, cr)

    def _siocsvh(self, ifr: Any, root: bool) -> None:
        if not root:
            raise KernelError(errno.EPERM)
        raise KernelError(errno.EOPNOTSUPP)  # reconfiguring carp is not simulated

    def _siocgetpfsync(self, ifr: Any, root: bool) -> None:
        nif = self._ifreq_if(ifr)
        if not nif.is_pfsync:
            raise KernelError(errno.ENOTTY)
        pr = self.abi.layout.pfsyncreq()
        pr.pfsyncr_syncdev = nif.syncdev.encode()
        if nif.syncpeer:
            pr.pfsyncr_syncpeer.s_addr = int.from_bytes(ipaddress.IPv4Address(nif.syncpeer).packed, "little")
        pr.pfsyncr_maxupdates, pr.pfsyncr_defer = nif.maxupdates, nif.defer
        self._copyout(ifr.ifr_ifru.ifru_data, pr)

    def _group_name(self, ifgr: Any) -> str:
        return bytes(ifgr.ifgr_name).split(b"\0")[0].decode()

    def _list(self, ifgr: Any, names: list[str]) -> None:
        """The ifgr_len protocol: 0 asks the size; a short buffer is EINVAL (entries copied stay)."""
        esize = ctypes.sizeof(self.abi.layout.ifg_req)
        need = esize * len(names)
        if ifgr.ifgr_len == 0:
            ifgr.ifgr_len = need
            return
        address = ifgr.ifgr_ifgru.ifgru_groups
        room = ifgr.ifgr_len // esize
        for i, name in enumerate(names[:room]):
            entry = self.abi.layout.ifg_req()
            entry.ifgrq_ifgrqu.ifgrqu_member = name.encode()
            self._copyout(address + i * esize, entry)
        if room < len(names):
            raise KernelError(errno.EINVAL)

    def _siocgifgmemb(self, ifgr: Any, root: bool) -> None:
        group = self._group_name(ifgr)
        members = self.members(group)
        if not members:
            raise KernelError(errno.ENOENT)
        self._list(ifgr, members)

    def _siocgifgroup(self, ifgr: Any, root: bool) -> None:
        nif = self.ifs.get(self._group_name(ifgr))
        if nif is None:
            raise KernelError(errno.ENXIO)
        self._list(ifgr, nif.groups)

    def _siocgifglist(self, ifgr: Any, root: bool) -> None:
        self._list(ifgr, self.groups())

    def _siocgifgattr(self, ifgr: Any, root: bool) -> None:
        group = self._group_name(ifgr)
        if group not in self.demoted:
            raise KernelError(errno.ENOENT)
        ifgr.ifgr_ifgru.ifgru_attrib.ifg_carp_demoted = self.demoted[group]

    def _siocsifgattr(self, ifgr: Any, root: bool) -> None:
        if not root:
            raise KernelError(errno.EPERM)
        group = self._group_name(ifgr)
        if group not in self.demoted:
            raise KernelError(errno.ENOENT)
        new = self.demoted[group] + int(ifgr.ifgr_ifgru.ifgru_attrib.ifg_carp_demoted)
        if not 0 <= new <= 255:
            raise KernelError(errno.EINVAL)
        if group != "all":  # carp_group_demote_adj never adjusts "all"
            self.demoted[group] = new
        self._apply_demotion()

    def sysctl(self, mib: tuple[int, ...], size: int) -> bytes:
        """sysctl_rdstruct()/sysctl_int() reads: a short buffer is ENOMEM."""
        if mib == N.SYSCTLS["kern.pfstatus"]:
            from .ioctl_status import diocgetstatus

            st = self.kernel.layout.pf_status()
            diocgetstatus(self.kernel, None, st)  # type: ignore[arg-type]  # the handler ignores the descriptor
            data = bytes(st)
        elif mib == N.SYSCTLS["net.inet.pfsync.stats"]:
            if not any(n.is_pfsync for n in self.ifs.values()) and not self.pfsync_compiled:
                raise KernelError(errno.ENOPROTOOPT)
            data = self._stats("pfsyncstats", PFSYNC_FIELDS, self.pfsync, "pfsyncs_")
        elif mib in (N.SYSCTLS["net.inet.carp.stats"], (N.CTL_NET, N.PF_INET6, N.IPPROTO_CARP, N.CARPCTL_STATS)):
            data = self._stats("carpstats", CARP_FIELDS, self.carp, "carps_")
        elif mib in (N.SYSCTLS["net.inet.carp.allow"], N.SYSCTLS["net.inet.carp.preempt"],
                     N.SYSCTLS["net.inet.carp.log"]):
            value = {N.CARPCTL_ALLOW: self.allow, N.CARPCTL_PREEMPT: self.preempt, N.CARPCTL_LOG: self.log}[mib[3]]
            data = int(value).to_bytes(4, "little", signed=True)
        else:
            raise KernelError(errno.EOPNOTSUPP)
        if size < len(data):
            raise KernelError(errno.ENOMEM)
        return data

    pfsync_compiled = True  # GENERIC kernels have pfsync: its stats node exists without an interface

    def _stats(self, tag: str, names: tuple[str, ...], values: list[float], prefix: str) -> bytes:
        st = getattr(self.abi.layout, tag)()
        for n, v in zip(names, values, strict=True):
            setattr(st, prefix + n, int(v))
        return bytes(st)


class SimNetTransport:
    """The simulator behind :class:`pf_exporter.device.NetDevice` (a socket and libc on OpenBSD)."""

    def __init__(self, net: SimNet, root: bool = False, lock: Any = None) -> None:
        self.net = net
        self.root = root
        self.lock = lock  # the simulator's shared lock, when its descriptors have one

    def ioctl(self, request: int, arg: object) -> None:
        try:
            if self.lock is not None:
                with self.lock:
                    self.net.ioctl(request, arg, self.root)
            else:
                self.net.ioctl(request, arg, self.root)
        except KernelError as e:
            raise OSError(e.errno, os.strerror(e.errno or errno.EIO)) from None

    def sysctl(self, mib: tuple[int, ...], size: int) -> bytes:
        try:
            if self.lock is not None:
                with self.lock:
                    return self.net.sysctl(mib, size)
            return self.net.sysctl(mib, size)
        except KernelError as e:
            raise OSError(e.errno, os.strerror(e.errno or errno.EIO)) from None

    def close(self) -> None:
        pass


def build_ha(net: SimNet, role: str) -> None:
    """A pair member: carp0 (vhids 1 and 2) and carp1 (vhid 3) on em0/em1, pfsync0 on em2.
    *role*: master, backup, or splitbrain (master while its peer is too: both advertise)."""
    state = {"master": 2, "backup": 1, "splitbrain": 2}[role]
    skew = 0 if role != "backup" else 100
    net.add(NetIf("em0", ["all", "egress"]))
    net.add(NetIf("em1", ["all"]))
    net.add(NetIf("em2", ["all"]))
    net.add(NetIf("carp0", ["all", "carp"], carpdev="em0", vhosts=[Vhost(1, skew, state), Vhost(2, skew, state)],
                  peer="203.0.113.3", key=b"s3cr3t-carp-key"))
    net.add(NetIf("carp1", ["all", "carp"], carpdev="em1", vhosts=[Vhost(3, skew, state)]))
    net.add(NetIf("pfsync0", ["all", "carp", "pfsync"], syncdev="em2", syncpeer="192.0.2.2", defer=1))
    net.preempt = 1
    if role == "splitbrain":
        net.carp[CARP_FIELDS.index("badauth")] = 3  # a peer it cannot authenticate: why both are master
