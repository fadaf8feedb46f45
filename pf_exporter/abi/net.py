"""The network side of the ABI (pure data): pfsync, carp and interface-group structs, the SIOC*
requests that read them, the sysctl MIBs of their statistics, and their constants.

Identical in every supported release (7.6 .. -current); only the architecture changes the
layouts (``ifgroupreq`` holds a pointer).  Spelled as ``net/if_pfsync.h``, ``netinet/ip_carp.h``
and ``net/if.h`` declare them; tests compare every layout, request number and MIB with the
compiler-generated ``openbsd-<release>-net.json`` manifests.
"""

from __future__ import annotations

from functools import cache

from .decls import AU, COMMON, Record, S
from .ioctls import ioc
from .layout import Layout, build_layout

IFNAMSIZ = 16
CARP_MAXNODES = 32
CARP_KEY_LEN = 20
CTL_KERN, CTL_NET = 1, 4
PF_INET, PF_INET6 = 2, 24
IPPROTO_CARP, IPPROTO_PFSYNC = 112, 240
KERN_PFSTATUS = 86
PFSYNCCTL_STATS = 1
CARPCTL_ALLOW, CARPCTL_PREEMPT, CARPCTL_LOG, CARPCTL_STATS = 1, 2, 3, 4
INADDR_CARP_GROUP = 0xE0000012  # 224.0.0.18
CARP_STATES = ("init", "backup", "master")  # ip_carp.c's private enum: INIT 0, BACKUP 1, MASTER 2

NET_RECORDS: dict[str, Record] = {
    "in_addr": COMMON["in_addr"],
    "sockaddr": S(("sa_len", "__uint8_t"), ("sa_family", "sa_family_t"), ("sa_data", "char[14]")),
    "pfsyncstats": S(*((f"pfsyncs_{n}", "u_int64_t") for n in (
        "ipackets", "ipackets6", "badif", "badttl", "hdrops", "badver", "badact", "badlen", "badauth", "stale",
        "badval", "badstate", "opackets", "opackets6", "onomem", "oerrors"))),
    "pfsyncreq": S(("pfsyncr_syncdev", "char[16]"), ("pfsyncr_syncpeer", "struct in_addr"),
                   ("pfsyncr_maxupdates", "int"), ("pfsyncr_defer", "int")),
    "carpstats": S(*((f"carps_{n}", "u_int64_t") for n in (
        "ipackets", "ipackets6", "badif", "badttl", "hdrops", "badsum", "badver", "badlen", "badauth", "badvhid",
        "badaddrs", "opackets", "opackets6", "onomem", "ostates", "preempt"))),
    "carpreq": S(("carpr_state", "int"), ("carpr_carpdev", "char[16]"), ("carpr_vhids", "u_int8_t[32]"),
                 ("carpr_advskews", "u_int8_t[32]"), ("carpr_states", "u_int8_t[32]"),
                 ("carpr_balancing", "u_int8_t"), ("carpr_advbase", "int"), ("carpr_key", "unsigned char[20]"),
                 ("carpr_peer", "struct in_addr")),
    "ifreq": S(("ifr_name", "char[16]"), ("ifr_ifru", AU(
        ("ifru_addr", "struct sockaddr"), ("ifru_dstaddr", "struct sockaddr"), ("ifru_broadaddr", "struct sockaddr"),
        ("ifru_flags", "short"), ("ifru_metric", "int"), ("ifru_vnetid", "int64_t"), ("ifru_media", "uint64_t"),
        ("ifru_data", "caddr_t"), ("ifru_index", "unsigned int")))),
    "ifg_attrib": S(("ifg_carp_demoted", "int")),
    "ifg_req": S(("ifgrq_ifgrqu", AU(("ifgrqu_group", "char[16]"), ("ifgrqu_member", "char[16]")))),
    "ifgroupreq": S(("ifgr_name", "char[16]"), ("ifgr_len", "u_int"), ("ifgr_ifgru", AU(
        ("ifgru_group", "char[16]"), ("ifgru_groups", "struct ifg_req *"), ("ifgru_attrib", "struct ifg_attrib")))),
}

# name -> (direction, group, number, argument struct), as sys/sockio.h and the drivers define them
NET_REQUESTS: dict[str, tuple[str, str, int, str]] = {
    "SIOCGVH": ("_IOWR", "i", 246, "ifreq"),
    "SIOCSVH": ("_IOWR", "i", 245, "ifreq"),
    "SIOCGETPFSYNC": ("_IOWR", "i", 248, "ifreq"),
    "SIOCGIFGROUP": ("_IOWR", "i", 136, "ifgroupreq"),
    "SIOCGIFGMEMB": ("_IOWR", "i", 138, "ifgroupreq"),
    "SIOCGIFGATTR": ("_IOWR", "i", 139, "ifgroupreq"),
    "SIOCSIFGATTR": ("_IOW", "i", 140, "ifgroupreq"),
    "SIOCGIFGLIST": ("_IOWR", "i", 141, "ifgroupreq"),
}
READ_ONLY_NET = frozenset({"SIOCGVH", "SIOCGETPFSYNC", "SIOCGIFGROUP", "SIOCGIFGMEMB", "SIOCGIFGATTR",
                           "SIOCGIFGLIST"})

# the sysctl MIBs read (all readable by any user; a new value needs root and is never sent)
SYSCTLS: dict[str, tuple[int, ...]] = {
    "kern.pfstatus": (CTL_KERN, KERN_PFSTATUS),
    "net.inet.pfsync.stats": (CTL_NET, PF_INET, IPPROTO_PFSYNC, PFSYNCCTL_STATS),
    "net.inet.carp.stats": (CTL_NET, PF_INET, IPPROTO_CARP, CARPCTL_STATS),
    "net.inet.carp.allow": (CTL_NET, PF_INET, IPPROTO_CARP, CARPCTL_ALLOW),
    "net.inet.carp.preempt": (CTL_NET, PF_INET, IPPROTO_CARP, CARPCTL_PREEMPT),
    "net.inet.carp.log": (CTL_NET, PF_INET, IPPROTO_CARP, CARPCTL_LOG),
}


class NetAbi:
    """One architecture's network layouts and request numbers."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.layout: Layout = build_layout(NET_RECORDS, arch)
        self.requests: dict[str, int] = {
            name: ioc(d, g, n, _sizeof(self.layout, arg)) for name, (d, g, n, arg) in NET_REQUESTS.items()}
        self.names: dict[int, str] = {v: k for k, v in self.requests.items()}

    def new(self, tag: str, **values: object) -> object:
        obj = getattr(self.layout, tag)()
        for k, v in values.items():
            setattr(obj, k, v)
        return obj


def _sizeof(layout: Layout, tag: str) -> int:
    import ctypes

    return ctypes.sizeof(getattr(layout, tag))


@cache
def net_abi(arch: str) -> NetAbi:
    return NetAbi(arch)
