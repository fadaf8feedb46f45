"""The small items of a rule: ports and services, user and group ids, protocols, ICMP types,
TCP flags, TOS, state options, redirection targets and pool options."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..abi.constants import (
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    PF_ADDR_ADDRMASK,
    PF_FLUSH,
    PF_FLUSH_GLOBAL,
    PF_OP_EQ,
    PF_OP_GE,
    PF_OP_GT,
    PF_OP_IRG,
    PF_OP_LE,
    PF_OP_LT,
    PF_OP_NE,
    PF_OP_NONE,
    PF_OP_RRG,
    PF_OP_XRG,
    PF_POOL_BITMASK,
    PF_POOL_LEASTSTATES,
    PF_POOL_RANDOM,
    PF_POOL_ROUNDROBIN,
    PF_POOL_SRCHASH,
    PF_POOL_STICKYADDR,
    PF_TABLE_NAME_SIZE,
    PFRULE_IFBOUND,
)
from . import lexer as lx
from . import netdb
from .hosts import HostParsing
from .nodes import (
    PF_TH_ALL,
    PF_TIMEOUTS,
    SO_MAX,
    SO_MAX_SRC_CONN,
    SO_MAX_SRC_CONN_RATE,
    SO_MAX_SRC_NODES,
    SO_MAX_SRC_STATES,
    SO_NOSYNC,
    SO_OVERLOAD,
    SO_PFLOW,
    SO_SLOPPY,
    SO_SRCTRACK,
    SO_STATELOCK,
    SO_TIMEOUT,
    SRCTRACK,
    SRCTRACK_GLOBAL,
    SRCTRACK_RULE,
    UID_MAX,
    UINT_MAX,
    NodeHost,
    NodeIcmp,
    NodePort,
    ParseSyntaxError,
    PoolOpts,
    Redirection,
    StateOpt,
    _invalid_range,
    _strtoul,
)


class ItemParsing(HostParsing):
    """Part of :class:`.parser.Parser` (items)."""

    # -- ports, users, groups -----------------------------------------------------------
    def getservice(self, name: str) -> int:
        value = _strtoul(name)
        if value is not None:
            if value > 65535:
                self.fail(f"illegal port value {value}")
            return value
        port = self.host.service(name, "tcp")
        if port is None:
            port = self.host.service(name, "udp")
        if port is None:
            self.fail(f"unknown port {name}")
        return port

    def parseport(self, text: str, ranges: bool, star: bool) -> tuple[int, int, int]:
        if ":" not in text:
            return self.getservice(text), 0, PF_OP_NONE
        left, _, right = text.partition(":")
        if star and right == "*":
            return self.getservice(left), 0, PF_OP_IRG
        if ranges:
            a = self.getservice(left)
            b = self.getservice(right)
            if a == b:
                return a, 0, PF_OP_NONE
            return a, b, PF_OP_RRG
        self.fail(f"port is invalid: {text}")
        raise AssertionError

    def unaryop(self) -> int | None:
        t = self.peek()
        op = None
        if t.kind == lx.PUNCT:
            op = {"=": PF_OP_EQ, "<": PF_OP_LT, ">": PF_OP_GT}.get(str(t.value))
        elif t.kind in (lx.NE, lx.LE, lx.GE):
            op = {lx.NE: PF_OP_NE, lx.LE: PF_OP_LE, lx.GE: PF_OP_GE}[t.kind]
        if op is not None:
            self.advance()
        return op

    def portspec(self) -> list[NodePort]:
        return self._list(self.port_item)

    def port_item(self) -> NodePort:
        op = self.unaryop()
        a, b, t = self.parseport(self.numberstring(), True, False)
        if op is not None:
            if t:
                self.fail("':' cannot be used with an other port operator")
            return NodePort((a, b), op)
        if self.at(lx.PORTBINARY):
            binop = PF_OP_XRG if self.advance().value == "<>" else PF_OP_IRG
            a2, _, t2 = self.parseport(self.numberstring(), True, False)
            if t or t2:
                self.fail("':' cannot be used with an other port operator")
            if _invalid_range(binop, a, a2):
                self.fail("invalid port range")
            return NodePort((a, a2), binop)
        if t:
            if _invalid_range(PF_OP_RRG, a, b):
                self.fail("invalid port range")
            return NodePort((a, b), PF_OP_RRG)
        return NodePort((a, b), PF_OP_EQ)

    def _id_item(self, what: str) -> tuple[int, int, int]:
        op = self.unaryop()
        first = self._id(what)
        if op is not None:
            if first == UID_MAX and op not in (PF_OP_EQ, PF_OP_NE):
                self.fail(f"{what} unknown requires operator = or !=")
            return op, first, first
        if self.at(lx.PORTBINARY):
            binop = PF_OP_XRG if self.advance().value == "<>" else PF_OP_IRG
            second = self._id(what)
            if first == UID_MAX or second == UID_MAX:
                self.fail(f"{what} unknown requires operator = or !=")
            return binop, first, second
        return PF_OP_EQ, first, first

    def _id(self, what: str) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value or 0)  # a NUMBER token's value is its int
            if value < 0 or value >= UID_MAX:
                self.fail(f"illegal {'uid' if what == 'user' else 'gid'} value {value}")
            return value
        name = str(self.expect(lx.STRING).value)
        if name == "unknown":
            return UID_MAX
        table = self.host.users if what == "user" else self.host.groups
        if name not in table:
            self.fail(f"unknown {what} {name}")
        return table[name]

    # -- protocols, icmp, flags ---------------------------------------------------------
    def proto(self) -> list[int] | None:
        if not self.accept_kw("proto"):
            return None
        return self._list(self.proto_item)

    def proto_item(self) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value or 0)  # a NUMBER token's value is its int
            if value < 0 or value > 255:
                self.fail("protocol outside range")
        else:
            name = str(self.expect(lx.STRING).value)
            number = self.host.protocol_number(name)
            if number is None:
                self.fail(f"unknown protocol {name}")
            value = number
        if value & 0xFF == 0:
            self.fail("proto 0 cannot be used")
        return value & 0xFF

    def icmpspec(self) -> list[NodeIcmp]:
        inet6 = self.advance().value == "icmp6-type"
        return self._list(lambda: self.icmp_item(inet6))

    def icmp_item(self, inet6: bool) -> NodeIcmp:
        kind = "icmp6" if inet6 else "icmp"
        itype = self._icmp_number(lambda name: netdb.icmp_type_by_name(name, inet6), f"illegal {kind}-type",
                                  f"unknown {kind}-type") + 1
        code = 0
        if self.accept_kw("code"):
            code = self._icmp_number(lambda name: netdb.icmp_code_by_name(itype - 1, name, inet6),
                                     "illegal icmp-code", f"unknown {kind}-code") + 1
        return NodeIcmp(itype, code, IPPROTO_ICMPV6 if inet6 else IPPROTO_ICMP)

    def _icmp_number(self, by_name: Callable[[str], int | None], illegal: str, unknown: str) -> int:
        """An icmp type or code: a number 0-255 (else `<illegal> <number>`) or a name `by_name` knows
        (else `<unknown> <name>`)."""
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value or 0)  # a NUMBER token's value is its int
            return self._in_range(value, 0, 255, f"{illegal} {value}")
        name = str(self.expect(lx.STRING).value)
        number = by_name(name)
        if number is None:
            self.fail(f"{unknown} {name}")
        return number

    def flag(self) -> int:
        text = str(self.expect(lx.STRING).value)
        f = 0
        for ch in text:
            i = "FSRPAUEW".find(ch)
            if i < 0:
                self.fail(f"bad flags {text}")
            f |= 1 << i
        return f or PF_TH_ALL

    def tos(self) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value or 0)  # a NUMBER token's value is its int
            if value < 0 or value > 255:
                self.fail(f"illegal tos value {value}")
            return value
        text = str(self.expect(lx.STRING).value)
        value = netdb.TOS_NAMES.get(text.lower(), -1)
        if value < 0 and text.startswith("0x"):
            try:
                value = int(text[2:], 16) if text[2:].isalnum() else 256
            except ValueError:
                value = 256
        elif value < 0:
            value = 256
        if value < 0 or value > 255:
            self.fail(f"illegal tos value {text}")
        return value

    # -- state options ------------------------------------------------------------------
    def state_opt_list(self) -> list[StateOpt]:
        items = [self.state_opt_item()]
        while True:
            if self.at_punct(","):
                self.advance()
                items.append(self.state_opt_item())
            elif self._starts_state_opt():
                items.append(self.state_opt_item())
            else:
                return items

    def _starts_state_opt(self) -> bool:
        t = self.peek()
        if t.kind == lx.STRING:
            return True
        return t.kind == lx.KEYWORD and t.value in (
            "max", "no-sync", "max-src-states", "max-src-conn", "max-src-conn-rate", "overload",
            "max-src-nodes", "source-track", "if-bound", "floating", "sloppy", "pflow")

    def _positive(self) -> int:
        value = self.number()
        if value < 0 or value > UINT_MAX:
            self.fail("only positive values permitted")
        return value

    def state_opt_item(self) -> StateOpt:  # noqa: C901 - mirrors parse.y's state_opt_item: one alternative per state option
        t = self.peek()
        if t.kind == lx.STRING:
            name = str(self.advance().value)
            seconds = self._positive()
            for tname, number in PF_TIMEOUTS:
                if tname == name:
                    if "." not in tname:
                        self.fail(f"illegal state timeout {name}")
                    return StateOpt(SO_TIMEOUT, (number, seconds))
            self.fail(f"illegal timeout name {name}")
        word = t.value if t.kind == lx.KEYWORD else None
        if word == "max":
            self.advance()
            return StateOpt(SO_MAX, self._positive())
        if word == "no-sync":
            self.advance()
            return StateOpt(SO_NOSYNC)
        if word == "max-src-states":
            self.advance()
            return StateOpt(SO_MAX_SRC_STATES, self._positive())
        if word == "max-src-conn":
            self.advance()
            return StateOpt(SO_MAX_SRC_CONN, self._positive())
        if word == "max-src-conn-rate":
            self.advance()
            limit = self.number()
            self.expect_punct("/")
            seconds = self.number()
            if limit < 0 or limit > UINT_MAX or seconds < 0 or seconds > UINT_MAX:
                self.fail("only positive values permitted")
            return StateOpt(SO_MAX_SRC_CONN_RATE, (limit, seconds))
        if word == "overload":
            self.advance()
            self.expect_punct("<")
            name = str(self.expect(lx.STRING).value)
            self.expect_punct(">")
            flush = 0
            if self.accept_kw("flush"):
                flush = PF_FLUSH
                if self.accept_kw("global"):
                    flush |= PF_FLUSH_GLOBAL
            if len(name.encode()) >= PF_TABLE_NAME_SIZE:
                self.fail(f"table name '{name}' too long")
            return StateOpt(SO_OVERLOAD, (name, flush))
        if word == "max-src-nodes":
            self.advance()
            return StateOpt(SO_MAX_SRC_NODES, self._positive())
        if word == "source-track":
            self.advance()
            track = SRCTRACK
            if self.accept_kw("global"):
                track = SRCTRACK_GLOBAL
            elif self.accept_kw("rule"):
                track = SRCTRACK_RULE
            return StateOpt(SO_SRCTRACK, track)
        if word == "if-bound":
            self.advance()
            return StateOpt(SO_STATELOCK, PFRULE_IFBOUND)
        if word == "floating":
            self.advance()
            return StateOpt(SO_STATELOCK, 0)
        if word == "sloppy":
            self.advance()
            return StateOpt(SO_SLOPPY)
        if word == "pflow":
            self.advance()
            return StateOpt(SO_PFLOW)
        raise ParseSyntaxError

    # -- translation pools ----------------------------------------------------------------
    def optweight(self) -> int:
        if self.accept_kw("weight"):
            value = self.number()
            if value < 1 or value > 0xFFFF:
                self.fail("weight out of range")
            return value
        return 0

    def redirspec(self) -> list[NodeHost]:
        if self.accept_punct("{"):
            self.optnl()
            hosts = self.host_()
            weight = self.optweight()
            self.optnl()
            if hosts[0].addr.type != PF_ADDR_ADDRMASK:
                self.fail("only addresses can be listed for redirection pools ")
            for n in hosts:
                n.weight = weight or n.weight
            while not self.at_punct("}"):
                self.comma()
                more = self.host_()
                weight = self.optweight()
                for n in more:
                    n.weight = weight or n.weight
                hosts += more
                self.optnl()
            self.advance()
            return hosts
        hosts = self.host_()
        weight = self.optweight()
        if weight:
            for n in hosts:
                n.weight = weight
        return hosts

    def redirpool(self) -> Redirection:
        hosts = self.redirspec()
        rport = (0, 0, 0)
        if self.accept_kw("port"):
            rport = self.parseport(self.numberstring(), True, True)
        return Redirection(hosts, rport)

    def pool_opts(self) -> PoolOpts:
        po = PoolOpts()
        while True:
            t = self.peek()
            word = t.value if t.kind == lx.KEYWORD else None
            ptype = {"bitmask": PF_POOL_BITMASK, "random": PF_POOL_RANDOM, "source-hash": PF_POOL_SRCHASH,
                     "round-robin": PF_POOL_ROUNDROBIN, "least-states": PF_POOL_LEASTSTATES}.get(str(word))
            if ptype is not None:
                self.advance()
                key = self.hashkey() if ptype == PF_POOL_SRCHASH else None
                if po.type:
                    self.fail("pool type cannot be redefined")
                po.type = ptype
                if key is not None:
                    po.key = key
            elif word == "static-port":
                self.advance()
                if po.staticport:
                    self.fail("static-port cannot be redefined")
                po.staticport = True
            elif word == "sticky-address":
                self.advance()
                if po.sticky:
                    self.fail("sticky-address cannot be redefined")
                po.sticky = True
                po.opts |= PF_POOL_STICKYADDR
            else:
                return po

    def hashkey(self) -> tuple[int, int, int, int]:
        if not self.at(lx.STRING):
            raw = self.state.random_bytes(16)
            return _words(raw)
        text = self.string()
        if text.startswith("0x"):
            if len(text) != 34:
                self.fail("hex key must be 128 bits (32 hex digits) long")
            try:
                return _words(bytes.fromhex(text[2:]))
            except ValueError:
                self.fail("invalid hex key")
        digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
        # MD5Final writes bytes; pfctl then applies htonl() to each 32-bit word, which on a
        # little-endian machine reads the digest words big-endian.
        return _words(digest)


def _words(raw: bytes) -> tuple[int, int, int, int]:
    """16 bytes as four big-endian 32-bit words (a pool's hash key)."""
    a, b, c, d = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    return a, b, c, d
