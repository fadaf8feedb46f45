"""Checking and converting the arguments of the library's calls (one place for each kind)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..abi import constants as C
from ..errors import PfInvalidArgument
from . import types as T

AddressLike = str | T.IPAddress | T.IPNetwork | T.AddressMatch
_SHORT_V4 = re.compile(r"^(\d{1,3})(\.\d{1,3}){0,2}/\d{1,2}$")  # pfctl's 10/8, 10.11/16, 10.11.12/24


def _anchor(anchor: str) -> str:
    if not isinstance(anchor, str):
        raise PfInvalidArgument("anchor", f"an anchor path is a str, not {type(anchor).__name__}")
    if "\0" in anchor or len(anchor.encode()) > C.PF_ANCHOR_MAXPATH:
        raise PfInvalidArgument("anchor", f"{anchor[:40]!r} is not an anchor path (at most "
                                f"{C.PF_ANCHOR_MAXPATH} bytes, no NUL)")
    return anchor.strip("/") if anchor.startswith("/") else anchor


def _table(name: str) -> str:
    if not isinstance(name, str) or not name or len(name.encode()) >= C.PF_TABLE_NAME_SIZE or "\0" in name:
        raise PfInvalidArgument("table", f"{name!r} is not a table name (1 to {C.PF_TABLE_NAME_SIZE - 1} bytes)")
    return name


def _address_arg(value: AddressLike, what: str = "address") -> T.AddressMatch:
    """An address or network, possibly negated: ``"192.0.2.1"``, ``"!10.0.0.0/8"``, ipaddress objects."""
    if isinstance(value, T.AddressMatch):
        return value
    negated = False
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("!"):
            negated, text = True, text[1:].strip()
        if _SHORT_V4.match(text):  # inet_net_pton(3)'s shorthand, as pfctl takes it
            host, _, bits = text.partition("/")
            text = host + ".0" * (3 - host.count(".")) + "/" + bits
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise PfInvalidArgument(what, f"{value!r} is not an IPv4 or IPv6 address or network") from None
        return T.AddressMatch(net, negated)
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return T.AddressMatch(ipaddress.ip_network(value), False)
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return T.AddressMatch(value, False)
    raise PfInvalidArgument(what, f"{value!r} is not an address (give a str or an ipaddress object)")


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise PfInvalidArgument(what, f"{text.strip()!r} is not a port number") from None


def _addresses(values: object, what: str) -> list[T.AddressMatch]:
    """A list of addresses; one str is one address (not its characters)."""
    if isinstance(values, str | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network | T.AddressMatch):
        return [_address_arg(values, what)]
    try:
        items = list(values)  # type: ignore[call-overload]  # any iterable; a non-iterable is refused below
    except TypeError:
        raise PfInvalidArgument(what, f"addresses are a list, not {type(values).__name__}") from None
    return [_address_arg(v, what) for v in items]


def _interface(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or "\0" in value or len(value.encode()) >= C.IFNAMSIZ:
        raise PfInvalidArgument(what, f"{value!r} is not an interface or group name (1 to {C.IFNAMSIZ - 1} bytes)")
    return value
