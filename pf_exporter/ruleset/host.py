"""The machine a ruleset is compiled for: its interfaces and their addresses, interface
groups, routing tables, host names, services, protocols, users and groups.

pfctl resolves interface names, ``self``, host names and service names while parsing,
so the same pf.conf compiles differently on different machines.  A :class:`Host`
describes one machine explicitly; :func:`corpus_host` is the machine OpenBSD's pfctl
regression suite was recorded on, and :meth:`Host.from_dict` builds one from a plain
description (JSON/YAML friendly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..abi.constants import AF_INET, AF_INET6
from . import netdb
from .addr import ZERO, mask_bytes, pton4, pton6

IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10


@dataclass(frozen=True)
class IfAddress:
    """One address of an interface, as getifaddrs(3) reports it."""

    af: int
    addr: bytes  # 16-byte pf_addr
    prefixlen: int
    broadcast: bytes = ZERO
    peer: bytes = ZERO
    scope: int = 0  # IPv6 link-local scope id (the interface index), else 0

    @property
    def mask(self) -> bytes:
        return mask_bytes(self.prefixlen)


@dataclass(frozen=True)
class Interface:
    name: str
    index: int
    flags: int = 0  # IFF_* bits
    addresses: tuple[IfAddress, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass
class Host:
    """Everything pfctl asks the running system while it parses a ruleset."""

    interfaces: list[Interface] = field(default_factory=list)
    hostnames: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    rtables: frozenset[int] = frozenset({0})
    services: dict[tuple[str, str], int] = field(default_factory=netdb.builtin_services)
    protocols: dict[str, int] = field(default_factory=lambda: netdb.builtin_protocols()[0])
    protocol_names: dict[int, str] = field(default_factory=lambda: netdb.builtin_protocols()[1])
    users: dict[str, int] = field(default_factory=lambda: dict(netdb.USERS))
    groups: dict[str, int] = field(default_factory=lambda: dict(netdb.GROUPS))

    # -- interfaces -------------------------------------------------------------------
    def interface(self, name: str) -> Interface | None:
        for itf in self.interfaces:
            if itf.name == name:
                return itf
        return None

    def interface_by_index(self, index: int) -> Interface | None:
        for itf in self.interfaces:
            if itf.index == index:
                return itf
        return None

    def group_members(self, group: str) -> list[Interface] | None:
        """Members of an interface group, None when no interface is in that group."""
        members = [itf for itf in self.interfaces if group in itf.groups]
        return members or None

    def is_group(self, name: str) -> bool:
        return self.group_members(name) is not None

    # -- name service -----------------------------------------------------------------
    def resolve(self, name: str) -> list[tuple[int, bytes]]:
        """getaddrinfo() for a host name: [(af, addr)] in resolver order, [] if unknown."""
        return list(self.hostnames.get(name, ()))

    def service(self, name: str, proto: str) -> int | None:
        return self.services.get((name, proto))

    def protocol_number(self, name: str) -> int | None:
        return self.protocols.get(name)

    def protocol_name(self, number: int) -> str | None:
        return self.protocol_names.get(number)

    def has_rtable(self, rtable: int) -> bool:
        return rtable in self.rtables

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Host:
        """Build a host from a plain description::

            {"interfaces": [{"name": "em0", "flags": ["broadcast"], "groups": ["egress"],
                             "addresses": ["192.0.2.1/24", "fe80::1%em0/64"]}],
             "hostnames": {"localhost": ["127.0.0.1", "::1"]},
             "rtables": [0], "services": {"myapp": 8080}, "users": {...}, "groups": {...}}
        """
        host = cls()
        raw_ifs = spec.get("interfaces", [])
        if not isinstance(raw_ifs, list):
            raise ValueError("host description: 'interfaces' must be a list")
        names = [str(i.get("name")) for i in raw_ifs if isinstance(i, Mapping)]
        for index, raw in enumerate(raw_ifs, start=1):
            if not isinstance(raw, Mapping) or not raw.get("name"):
                raise ValueError("host description: every interface needs a 'name'")
            host.interfaces.append(_interface_from_dict(raw, index, names))
        for name, addrs in dict(spec.get("hostnames", {})).items():
            host.hostnames[str(name)] = [_plain_address(str(a)) for a in addrs]
        if "rtables" in spec:
            host.rtables = frozenset(int(x) for x in spec["rtables"])
        for name, port in dict(spec.get("services", {})).items():
            host.services[(str(name), "tcp")] = int(port)
            host.services[(str(name), "udp")] = int(port)
        host.users.update({str(k): int(v) for k, v in dict(spec.get("users", {})).items()})
        host.groups.update({str(k): int(v) for k, v in dict(spec.get("groups", {})).items()})
        return host


def _plain_address(text: str) -> tuple[int, bytes]:
    raw = pton4(text)
    if raw is not None:
        return AF_INET, raw
    raw = pton6(text.split("%")[0])
    if raw is not None:
        return AF_INET6, raw
    raise ValueError(f"host description: {text!r} is not an IP address")


def _interface_from_dict(raw: Mapping[str, Any], index: int, names: list[str]) -> Interface:
    name = str(raw["name"])
    flags = 0
    for flag in raw.get("flags", []):
        flags |= {"broadcast": IFF_BROADCAST, "loopback": IFF_LOOPBACK, "pointopoint": IFF_POINTOPOINT}[flag]
    addresses = []
    for text in raw.get("addresses", []):
        addresses.append(_ifaddress(str(text), name, index))
    groups = tuple(str(g) for g in raw.get("groups", ()))
    if "all" not in groups:
        groups = (*groups, "all")
    return Interface(name=name, index=index, flags=flags, addresses=tuple(addresses), groups=groups)


def _ifaddress(text: str, ifname: str, index: int) -> IfAddress:
    extra: dict[str, str] = {}
    parts = text.split()
    text = parts[0]
    for i in range(1, len(parts) - 1, 2):
        extra[parts[i]] = parts[i + 1]
    addr_text, _, plen = text.partition("/")
    af, raw = _plain_address(addr_text)
    prefixlen = int(plen) if plen else (32 if af == AF_INET else 128)
    scope = index if af == AF_INET6 and raw[0] == 0xFE and raw[1] & 0xC0 == 0x80 else 0
    broadcast = _plain_address(extra["broadcast"])[1] if "broadcast" in extra else ZERO
    peer = _plain_address(extra["peer"])[1] if "peer" in extra else ZERO
    return IfAddress(af=af, addr=raw, prefixlen=prefixlen, broadcast=broadcast, peer=peer, scope=scope)


def corpus_host() -> Host:
    """The machine OpenBSD's pfctl regression output was recorded on (its README):
    ``lo0`` with 127.0.0.1/8, ::1 and fe80::1%lo0; ``lo1000000``, ``tun1000000`` and
    ``tun1000001`` without addresses; ``enc0``; ``localhost`` resolving to 127.0.0.1
    then ::1; routing table 0."""
    return Host.from_dict(
        {
            "interfaces": [
                {"name": "lo0", "flags": ["loopback"], "groups": ["lo"],
                 "addresses": ["::1/128", "fe80::1%lo0/64", "127.0.0.1/8"]},
                {"name": "enc0", "groups": ["enc"]},
                {"name": "lo1000000", "flags": ["loopback"], "groups": ["lo"]},
                {"name": "tun1000000", "flags": ["pointopoint"], "groups": ["tun"]},
                {"name": "tun1000001", "flags": ["pointopoint"], "groups": ["tun"]},
            ],
            "hostnames": {"localhost": ["127.0.0.1", "::1"]},
            "rtables": [0],
        }
    )


def iter_addresses(interfaces: Iterable[Interface]) -> Iterable[tuple[Interface, IfAddress]]:
    for itf in interfaces:
        for address in itf.addresses:
            yield itf, address
