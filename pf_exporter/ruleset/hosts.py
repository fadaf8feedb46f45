"""Interfaces and hosts as pfctl reads them: interface lists, addresses, networks, interface
names and groups turned into the host's addresses, host names, dynamic addresses (parse.y's
host, ipspec, xhost, if_item; pfctl_parser.c's host(), ifa_lookup())."""

from __future__ import annotations

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    IFNAMSIZ,
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NOROUTE,
    PF_ADDR_RANGE,
    PF_ADDR_RTLABEL,
    PF_ADDR_TABLE,
    PF_ADDR_URPFFAILED,
    PF_TABLE_NAME_SIZE,
    PFI_AFLAG_BROADCAST,
    PFI_AFLAG_MODEMASK,
    PFI_AFLAG_NETWORK,
    PFI_AFLAG_NOALIAS,
    PFI_AFLAG_PEER,
    RTLABEL_LEN,
)
from . import lexer as lx
from .addr import ONES, inet_net_pton4, is_zero, pton4, pton6, unmask
from .host import IFF_BROADCAST, IFF_POINTOPOINT
from .model import AddrWrap
from .nodes import (
    RT_TABLEID_MAX,
    NodeHost,
    NodeIf,
    ParseSyntaxError,
    _ifa_skip_if,
    _set_ipmask,
    _strtonum,
)
from .parsebase import ParserBase


class HostParsing(ParserBase):
    """Part of :class:`.parser.Parser` (hosts)."""

    # -- interfaces -------------------------------------------------------------------
    def interface(self) -> list[NodeIf] | None:
        if not self.accept_kw("on"):
            return None
        return self._list(self.if_item_not)

    def if_item_not(self) -> NodeIf:
        neg = self.accept_punct("!")
        item = self.if_item()
        item.neg = neg
        return item

    def if_item(self) -> NodeIf:
        if self.accept_kw("any"):
            return NodeIf(ifname="any")
        if self.accept_kw("rdomain"):
            value = self.number()
            if value < 0 or value > RT_TABLEID_MAX:
                self.yyerror(f"rdomain {value} outside range")
            return NodeIf(use_rdomain=True, rdomain=value)
        name = str(self.expect(lx.STRING).value)
        if len(name.encode()) >= IFNAMSIZ:
            self.fail("interface name too long")
        itf = self.host.interface(name)
        return NodeIf(ifname=name, ifa_flags=itf.flags if itf else 0)

    # -- hosts ------------------------------------------------------------------------
    def ifa_exists(self, name: str) -> tuple[bool, bool]:
        """(exists, is a real interface): groups exist but are not interfaces."""
        if self.host.is_group(name):
            return True, False
        return self.host.interface(name) is not None, self.host.interface(name) is not None

    def ifa_lookup(self, name: str, flags: int) -> list[NodeHost]:
        members = self.host.group_members(name)
        if members is not None:
            out: list[NodeHost] = []
            for m in members:
                out += self.ifa_lookup(m.name, flags)
            return out
        out = []
        for itf in self.host.interfaces:
            if name != "self" and _ifa_skip_if(name, itf.name):
                continue
            got4 = got6 = False
            for a in itf.addresses:
                if flags & PFI_AFLAG_BROADCAST and (a.af != AF_INET or not itf.flags & IFF_BROADCAST
                                                    or is_zero(a.broadcast, AF_INET)):
                    continue
                if flags & PFI_AFLAG_PEER and not itf.flags & IFF_POINTOPOINT:
                    continue
                if flags & PFI_AFLAG_NETWORK and a.scope > 0:
                    continue
                if flags & PFI_AFLAG_NOALIAS and ((a.af == AF_INET and got4) or (a.af == AF_INET6 and got6)):
                    continue
                if a.af == AF_INET:
                    got4 = True
                else:
                    got6 = True
                raw = a.broadcast if flags & PFI_AFLAG_BROADCAST else a.peer if flags & PFI_AFLAG_PEER else a.addr
                n = NodeHost(addr=AddrWrap(type=PF_ADDR_ADDRMASK, addr=raw), af=a.af, ifindex=a.scope)
                _set_ipmask(n, a.prefixlen if flags & PFI_AFLAG_NETWORK else -1)
                out.append(n)
        return out

    def host_lookup(self, text: str) -> list[NodeHost] | None:
        """host(): an interface, a numeric address or a host name, with optional /bits."""
        mask = -1
        ps, at, if_name = text.rpartition("@")  # "addr[/bits]@ifname": an interface for tables and pools
        if not at:
            ps, if_name = text, ""
        if "/" in ps:
            ps, _, bits = ps.rpartition("/")
            value = _strtonum(bits, 0, 128)
            if isinstance(value, str):
                self.warn(f"netmask is {value}: /{bits}")
                return None
            mask = value
        hosts = self._host_if(ps, mask)
        if hosts is None:
            hosts = self._host_ip(ps, mask)
        if hosts is None:
            hosts = self._host_dns(ps, mask)
        if not hosts:
            self.warn(f"no IP address found for {text}")
            return None
        for n in hosts:
            n.addr.type = PF_ADDR_ADDRMASK
            n.weight = 0
            if if_name:
                n.ifname = if_name
        return hosts

    def _host_if(self, text: str, mask: int) -> list[NodeHost] | None:
        flags = 0
        ps = text
        while ":" in ps:
            ps, _, mod = ps.rpartition(":")
            bit = {"network": PFI_AFLAG_NETWORK, "broadcast": PFI_AFLAG_BROADCAST, "peer": PFI_AFLAG_PEER,
                   "0": PFI_AFLAG_NOALIAS}.get(mod)
            if bit is None:
                return None
            flags |= bit
        if flags & (flags - 1) & PFI_AFLAG_MODEMASK:
            self.warn("illegal combination of interface modifiers")
            return None
        if flags & (PFI_AFLAG_NETWORK | PFI_AFLAG_BROADCAST) and mask > -1:
            self.warn("network or broadcast lookup, but extra netmask given")
            return None
        if self.ifa_exists(ps)[0] or ps == "self":
            hosts = self.ifa_lookup(ps, flags)
            if mask > -1:
                for n in hosts:
                    _set_ipmask(n, mask)
            return hosts or None
        return None

    def _host_ip(self, text: str, mask: int) -> list[NodeHost] | None:
        af, raw, scope = self._numeric(text)
        if raw is None:
            if mask == -1:
                return None
            raw = inet_net_pton4(text)
            if raw is None:
                return None
            af, scope = AF_INET, 0
        h = NodeHost(addr=AddrWrap(addr=raw), af=af, ifindex=scope)
        _set_ipmask(h, mask)
        return [h]

    def _numeric(self, text: str) -> tuple[int, bytes | None, int]:
        raw = pton4(text)
        if raw is not None:
            return AF_INET, raw, 0
        addr, sep, scope_text = text.partition("%")
        raw = pton6(addr)
        if raw is None:
            return 0, None, 0
        scope = 0
        if sep:
            if scope_text.isdigit():
                scope = int(scope_text)
            else:
                itf = self.host.interface(scope_text)
                if itf is None:
                    return 0, None, 0
                scope = itf.index
        return AF_INET6, raw, scope

    def _host_dns(self, text: str, mask: int) -> list[NodeHost] | None:
        noalias = False
        ps = text
        if ps.endswith(":0") and ":" in ps:
            noalias = True
            ps = ps[:-2]
        if self.state.numeric:
            af, raw, scope = self._numeric(ps)
            results = [(af, raw)] if raw is not None else []
        else:
            af, raw, scope = self._numeric(ps)
            results = [(af, raw)] if raw is not None else self.host.resolve(ps)
        out: list[NodeHost] = []
        got4 = got6 = False
        for af, raw in results:
            if noalias:
                if af == AF_INET:
                    if got4:
                        continue
                    got4 = True
                else:
                    if got6:
                        continue
                    got6 = True
            n = NodeHost(addr=AddrWrap(addr=raw), af=af)
            _set_ipmask(n, mask)
            out.append(n)
        return out or None

    def ipspec(self) -> list[NodeHost] | None:
        """`ipspec`: any, one host or a { list }; None means any."""
        if self.accept_kw("any"):
            return None
        if self.accept_punct("{"):
            self.optnl()
            result = self.ipspec()
            self.optnl()
            while not self.at_punct("}"):
                self.comma()
                more = self.ipspec()
                self.optnl()
                if result is None or more is None:
                    result = None
                else:
                    result = result + more
            self.advance()
            return result
        return self.xhost()

    def xhost(self) -> list[NodeHost]:
        neg = self.accept_punct("!")
        if self.accept_kw("no-route"):
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_NOROUTE), neg=neg)]
        if self.accept_kw("urpf-failed"):
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_URPFFAILED), neg=neg)]
        hosts = self.host_()
        for n in hosts:
            n.neg = neg
        return hosts

    def host_(self) -> list[NodeHost]:  # noqa: C901 - mirrors parse.y's host rule: one alternative per address form
        t = self.peek()
        if t.kind == lx.STRING:
            self.advance()
            text = str(t.value)
            if self.accept_punct("-"):
                end = str(self.expect(lx.STRING).value)
                b = self.host_lookup(text)
                e = self.host_lookup(end) if b is not None else None
                if b is None or e is None:
                    self.fail("could not parse host specification")
                assert b is not None and e is not None
                full = 32 if b[0].af == AF_INET else 128
                full_e = 32 if e[0].af == AF_INET else 128
                if (b[0].af != e[0].af or b[0].addr.type != PF_ADDR_ADDRMASK or e[0].addr.type != PF_ADDR_ADDRMASK
                        or unmask(b[0].addr.mask) != full or unmask(e[0].addr.mask) != full_e
                        or len(b) > 1 or b[0].neg or len(e) > 1 or e[0].neg):
                    self.fail("invalid address range")
                h = b[0]
                h.addr.mask = e[0].addr.addr
                h.addr.type = PF_ADDR_RANGE
                return [h]
            if self.accept_punct("/"):
                bits = self.number()
                text = f"{text}/{bits}"
            hosts = self.host_lookup(text)
            if hosts is None:
                self.fail("could not parse host specification")
            return hosts
        if t.kind == lx.NUMBER:
            self.advance()
            self.expect_punct("/")
            bits = self.number()
            hosts = self.host_lookup(f"{t.value}/{bits}")
            if hosts is None:
                self.fail("could not parse host specification")
            return hosts
        if self.at_punct("("):
            hosts = [self.dynaddr()]
            if self.accept_punct("/"):
                bits = self.number()
                if bits < 0 or bits > 128:
                    self.fail("bit number too big")
                for n in hosts:
                    _set_ipmask(n, bits)
            return hosts
        if self.accept_punct("<"):
            name = str(self.expect(lx.STRING).value)
            self.expect_punct(">")
            if len(name.encode()) >= PF_TABLE_NAME_SIZE:
                self.fail(f"table name '{name}' too long")
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_TABLE, tblname=name))]
        if self.accept_kw("route"):
            name = str(self.expect(lx.STRING).value)
            if len(name.encode()) >= RTLABEL_LEN:
                self.fail(f"route label too long, max {RTLABEL_LEN - 1} chars")
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_RTLABEL, rtlabelname=name))]
        raise ParseSyntaxError

    def dynaddr(self) -> NodeHost:
        self.expect_punct("(")
        text = str(self.expect(lx.STRING).value)
        self.expect_punct(")")
        if not text[:1].isalpha():
            self.fail(f"invalid interface name '{text}'")
        flags = 0
        name = text
        while ":" in name:
            head, _, mod = name.rpartition(":")
            bit = {"network": PFI_AFLAG_NETWORK, "broadcast": PFI_AFLAG_BROADCAST, "peer": PFI_AFLAG_PEER,
                   "0": PFI_AFLAG_NOALIAS}.get(mod)
            if bit is None:
                self.fail(f"interface {name} has bad modifier")
            flags |= bit
            name = head
        if flags & (flags - 1) & PFI_AFLAG_MODEMASK:
            self.fail("illegal combination of interface modifiers")
        if len(name.encode()) >= IFNAMSIZ:
            self.fail("interface name too long")
        return NodeHost(addr=AddrWrap(type=PF_ADDR_DYNIFTL, ifname=name, iflags=flags, mask=ONES), af=0)
