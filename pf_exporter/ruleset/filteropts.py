"""A rule's head and options (parse.y's filter_opt, action, dir, logquick, fromto, ...)."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    PF_ADDR_URPFFAILED,
    PF_DIVERT_NONE,
    PF_DIVERT_PACKET,
    PF_DIVERT_REPLY,
    PF_DIVERT_TO,
    PF_DROP,
    PF_DUPTO,
    PF_IN,
    PF_INOUT,
    PF_LOG,
    PF_LOG_ALL,
    PF_LOG_MATCHES,
    PF_LOG_USER,
    PF_MATCH,
    PF_OUT,
    PF_PASS,
    PF_REPLYTO,
    PF_ROUTETO,
    PF_STATE_MODULATE,
    PF_STATE_NORMAL,
    PF_STATE_SYNPROXY,
    PFRULE_DROP,
    PFRULE_RETURN,
    PFRULE_RETURNICMP,
    PFRULE_RETURNRST,
)
from . import lexer as lx
from . import netdb
from .limiters import LimiterParsing
from .model import QueueSpec
from .nodes import (
    FOM_AFTO,
    FOM_FLAGS,
    FOM_ICMP,
    FOM_KEEP,
    FOM_MAXMSS,
    FOM_MINTTL,
    FOM_ONCE,
    FOM_PRIO,
    FOM_SCRUB_TCP,
    FOM_SETDELAY,
    FOM_SETPRIO,
    FOM_SETTOS,
    FOM_TOS,
    IFQ_MAXPRIO,
    RT_TABLEID_MAX,
    UINT_MAX,
    FilterOpts,
    NodeHost,
    NodePort,
    ParseSyntaxError,
    PoolOpts,
    Redirection,
    RedirSpec,
    StatementAborted,
    _fmt_g,
    _strtod,
    _strtonum,
    _strtoul,
)


class FilterOptParsing(LimiterParsing):
    """Part of :class:`.parser.Parser` (filteropts)."""

    # -- filter options -------------------------------------------------------------------
    def filter_opts(self) -> FilterOpts:
        fo = FilterOpts()
        while self.filter_opt(fo):
            pass
        return fo

    def filter_opt(self, fo: FilterOpts) -> bool:
        """One filter option into *fo* (parse.y's filter_opt): one method per option, chosen by its
        keyword; False when the next token starts none."""
        t = self.peek()
        if t.kind == lx.PUNCT and t.value == "!":
            self.advance()
            if self.accept_kw("tagged"):
                fo.match_tag = self.string()
                fo.match_tag_not = True
                return True
            if self.accept_kw("received-on"):
                self._received_on(fo, True)
                return True
            raise ParseSyntaxError
        if t.kind == lx.STRING and t.value == "source":  # source limiter NAME (the words are not reserved)
            self.advance()
            self.limiter_option(fo, "source")
            return True
        if t.kind != lx.KEYWORD:
            return False
        word = str(t.value)
        if word == "state":
            self.advance()
            self.limiter_option(fo, "state")
            return True
        handler = self._FILTER_OPTS.get(word)
        if handler is None:
            return False
        if word not in self._CONSUME_OWN_KEYWORD:
            self.advance()
        handler(self, fo, word)
        return True

    def _fo_ids(self, fo: FilterOpts, word: str) -> None:
        items = self._list(lambda: self._id_item(word))
        if word == "user":
            fo.uid = items + (fo.uid or [])
        else:
            fo.gid = items + (fo.gid or [])

    def _fo_flags(self, fo: FilterOpts, word: str) -> None:
        if self.accept_kw("any"):
            b1 = b2 = 0
        elif self.accept_punct("/"):
            b1, b2 = 0, self.flag()
        else:
            b1 = self.flag()
            self.expect_punct("/")
            b2 = self.flag()
        self._once(fo, FOM_FLAGS, "flags cannot be redefined")
        fo.flags = (fo.flags[0] | b1, fo.flags[1] | b2)

    def _fo_icmp(self, fo: FilterOpts, word: str) -> None:
        spec = self.icmpspec()
        self._once(fo, FOM_ICMP, "icmp-type cannot be redefined")
        fo.icmpspec = spec

    def _fo_prio(self, fo: FilterOpts, word: str) -> None:
        value = self.number()
        self._once(fo, FOM_PRIO, "prio cannot be redefined")
        fo.prio = self._in_range(value, 0, IFQ_MAXPRIO, f"prio must be 0 - {IFQ_MAXPRIO}")

    def _fo_tos(self, fo: FilterOpts, word: str) -> None:
        value = self.tos()
        self._once(fo, FOM_TOS, "tos cannot be redefined")
        fo.tos = value

    def _fo_state(self, fo: FilterOpts, word: str) -> None:
        self.expect_kw("state")
        action = {"no": 0, "keep": PF_STATE_NORMAL, "modulate": PF_STATE_MODULATE, "synproxy": PF_STATE_SYNPROXY}[word]
        options = None
        if word != "no" and self.accept_punct("("):
            options = self.state_opt_list()
            self.expect_punct(")")
        self._once(fo, FOM_KEEP, "modulate or keep cannot be redefined")
        fo.keep_action = action
        fo.keep_options = options

    def _fo_fragment(self, fo: FilterOpts, word: str) -> None:
        fo.fragment = True

    def _fo_allow_opts(self, fo: FilterOpts, word: str) -> None:
        fo.allowopts = True

    def _fo_label(self, fo: FilterOpts, word: str) -> None:
        label = str(self.expect(lx.STRING).value)
        if fo.label is not None:
            self.fail("label cannot be redefined")
        fo.label = label

    def _fo_queue(self, fo: FilterOpts, word: str) -> None:
        self._queue_assign(fo)

    def _fo_tag(self, fo: FilterOpts, word: str) -> None:
        fo.tag = self.string()

    def _fo_tagged(self, fo: FilterOpts, word: str) -> None:
        fo.match_tag = self.string()
        fo.match_tag_not = False

    def _fo_probability(self, fo: FilterOpts, word: str) -> None:
        self._probability(fo)

    def _fo_rtable(self, fo: FilterOpts, word: str) -> None:
        value = self.number()
        if value < 0 or value > RT_TABLEID_MAX:
            self.fail("invalid rtable id")
        if not self.host.has_rtable(value):
            self.fail(f"rtable {value} does not exist")
        fo.rtableid = value

    def _fo_divert_to(self, fo: FilterOpts, word: str) -> None:
        text = str(self.expect(lx.STRING).value)
        self.expect_kw("port")
        port = self.parseport(self.numberstring(), False, False)[0]
        if fo.divert_type != PF_DIVERT_NONE:
            self.fail("more than one divert option")
        fo.divert_type = PF_DIVERT_TO
        hosts = self.host_lookup(text)
        if hosts is None:
            self.fail(f"could not parse divert address: {text}")
        fo.divert_addr = hosts
        fo.divert_port = port
        if not port:
            self.fail(f"invalid divert port: {port}")

    def _fo_divert_reply(self, fo: FilterOpts, word: str) -> None:
        if fo.divert_type != PF_DIVERT_NONE:
            self.fail("more than one divert option")
        fo.divert_type = PF_DIVERT_REPLY

    def _fo_divert_packet(self, fo: FilterOpts, word: str) -> None:
        self.expect_kw("port")
        port = self.parseport(self.numberstring(), False, False)[0]
        if fo.divert_type != PF_DIVERT_NONE:
            self.fail("more than one divert option")
        fo.divert_type = PF_DIVERT_PACKET
        if self.state.options.reassemble is None or self.state.options.reassemble & 1:
            fo.marker |= FOM_SCRUB_TCP
        fo.divert_port = port
        if not port:
            self.fail(f"invalid divert port: {port}")

    def _fo_scrub(self, fo: FilterOpts, word: str) -> None:
        self.expect_punct("(")
        self._scrub_opts(fo)
        self.expect_punct(")")

    def _fo_nat_to(self, fo: FilterOpts, word: str) -> None:
        self._redirect_to(fo.nat, "cannot respecify nat-to/binat-to")

    def _fo_rdr_to(self, fo: FilterOpts, word: str) -> None:
        self._redirect_to(fo.rdr, "cannot respecify rdr-to")

    def _fo_binat_to(self, fo: FilterOpts, word: str) -> None:
        self._redirect_to(fo.nat, "cannot respecify nat-to/binat-to").staticport = True
        fo.nat.binat = True

    def _fo_af_to(self, fo: FilterOpts, word: str) -> None:
        self._afto(fo)

    def _fo_route(self, fo: FilterOpts, word: str) -> None:
        hosts = self.redirspec()
        po = self.pool_opts()
        if fo.rt:
            self.fail("cannot respecify route-to/reply-to/dup-to")
        fo.rroute = RedirSpec(rdr=Redirection(hosts), pool_opts=po)
        fo.rt = {"route-to": PF_ROUTETO, "reply-to": PF_REPLYTO, "dup-to": PF_DUPTO}[word]

    def _fo_received_on(self, fo: FilterOpts, word: str) -> None:
        self._received_on(fo, False)

    def _fo_once(self, fo: FilterOpts, word: str) -> None:
        fo.marker |= FOM_ONCE

    def _fo_max_pkt_rate(self, fo: FilterOpts, word: str) -> None:
        limit = self.number()
        self.expect_punct("/")
        seconds = self.number()
        if limit < 0 or limit > UINT_MAX or seconds < 0 or seconds > UINT_MAX:
            self.fail("only positive values permitted")
        if fo.pktrate[0]:
            self.fail("cannot respecify max-pkt-rate")
        fo.pktrate = (limit, seconds)

    def _fo_set(self, fo: FilterOpts, word: str) -> None:
        if self.accept_punct("("):
            self.filter_set(fo)
            while not self.at_punct(")"):
                self.comma()
                self.filter_set(fo)
            self.advance()
        else:
            self.filter_set(fo)

    # options whose parser reads their keyword itself (icmpspec, _redirect_to)
    _CONSUME_OWN_KEYWORD = frozenset({"icmp-type", "icmp6-type", "nat-to", "rdr-to", "binat-to"})
    _FILTER_OPTS: dict[str, Callable[[FilterOptParsing, FilterOpts, str], None]] = {
        "user": _fo_ids, "group": _fo_ids, "flags": _fo_flags, "icmp-type": _fo_icmp, "icmp6-type": _fo_icmp,
        "prio": _fo_prio, "tos": _fo_tos, "no": _fo_state, "keep": _fo_state, "modulate": _fo_state,
        "synproxy": _fo_state, "fragment": _fo_fragment, "allow-opts": _fo_allow_opts, "label": _fo_label,
        "queue": _fo_queue, "tag": _fo_tag, "tagged": _fo_tagged, "probability": _fo_probability,
        "rtable": _fo_rtable, "divert-to": _fo_divert_to, "divert-reply": _fo_divert_reply,
        "divert-packet": _fo_divert_packet, "scrub": _fo_scrub, "nat-to": _fo_nat_to, "af-to": _fo_af_to,
        "rdr-to": _fo_rdr_to, "binat-to": _fo_binat_to, "route-to": _fo_route, "reply-to": _fo_route,
        "dup-to": _fo_route, "received-on": _fo_received_on, "once": _fo_once, "max-pkt-rate": _fo_max_pkt_rate,
        "set": _fo_set,
    }

    def _received_on(self, fo: FilterOpts, neg: bool) -> None:
        item = self.if_item()
        if fo.rcv is not None:
            self.fail("cannot respecify received-on")
        item.neg = neg
        fo.rcv = item

    def _probability(self, fo: FilterOpts) -> None:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            p = float(t.value or 0)  # a NUMBER token's value is its int
        else:
            text = str(self.expect(lx.STRING).value)
            p, rest = _strtod(text)
            if rest.startswith("%"):
                p *= 0.01
                rest = rest[1:]
            if rest:
                self.fail(f"invalid probability: {text}")
        scaled = math.floor(p * UINT_MAX + 0.5)
        if scaled < 0.0 or scaled > UINT_MAX:
            self.fail(f"invalid probability: {_fmt_g(p * 100)}%")
        fo.prob = int(scaled) or 1

    def _redirect_to(self, spec: RedirSpec, message: str) -> PoolOpts:
        """`nat-to`/`rdr-to`/`binat-to` <pool> <pool options> into `spec`; fail with `message` if it is set."""
        self.advance()
        pool = self.redirpool()
        po = self.pool_opts()
        if spec.rdr is not None:
            self.fail(message)
        spec.rdr = pool
        spec.pool_opts = po
        return po

    def _scrub_opts(self, fo: FilterOpts) -> None:
        seen: set[str] = set()
        first = True
        while first or not self.at_punct(")"):
            if not first:
                self.comma()
            first = False
            t = self.peek()
            word = t.value if t.kind == lx.KEYWORD else None
            if word == "no-df":
                self.advance()
                self._seen_once(seen, "no-df")
                fo.nodf = True
            elif word == "min-ttl":
                self.advance()
                value = self.number()
                self._seen_once(seen, "min-ttl")
                fo.minttl = self._in_range(value, 0, 255, f"illegal min-ttl value {value}")
                fo.marker |= FOM_MINTTL
            elif word == "max-mss":
                self.advance()
                value = self.number()
                self._seen_once(seen, "max-mss")
                fo.max_mss = self._in_range(value, 0, 65535, f"illegal max-mss value {value}")
                fo.marker |= FOM_MAXMSS
            elif word == "reassemble":
                self.advance()
                what = str(self.expect(lx.STRING).value)
                if what.lower() != "tcp":
                    self.fail(f"scrub reassemble supports only tcp, not '{what}'")
                self._seen_once(seen, "reassemble tcp")
                fo.marker |= FOM_SCRUB_TCP
            elif word == "random-id":
                self.advance()
                self._seen_once(seen, "random-id")
                fo.randomid = True
            else:
                raise ParseSyntaxError

    def _afto(self, fo: FilterOpts) -> None:
        af = AF_INET if self.accept_kw("inet") else AF_INET6 if self.accept_kw("inet6") else 0
        self.expect_kw("from")
        pool = self.redirpool()
        po = self.pool_opts()
        to_pool = None
        to_po = None
        if self.accept_kw("to"):
            to_pool = self.redirpool()
            to_po = self.pool_opts()
        if fo.nat.rdr is not None:
            self.fail("cannot respecify af-to")
        if af == 0:
            self.fail("no target address family specified" if to_pool is None else "no address family specified")
        if to_pool is not None and ((pool.hosts[0].af and pool.hosts[0].af != af)
                                    or (to_pool.hosts[0].af and to_pool.hosts[0].af != af)):
            self.fail("af-to addresses must be in the target address family")
        fo.nat = RedirSpec(rdr=pool, pool_opts=po, af=af)
        if to_pool is None:
            fo.rdr = RedirSpec(rdr=Redirection([]), pool_opts=PoolOpts())
        else:
            fo.rdr = RedirSpec(rdr=to_pool, pool_opts=PoolOpts(), af=af)
            fo.nat.pool_opts = to_po  # type: ignore[assignment]  # pfctl copies the second pool's options
        fo.marker |= FOM_AFTO

    def filter_set(self, fo: FilterOpts) -> None:
        t = self.peek()
        word = t.value if t.kind == lx.KEYWORD else None
        if word == "prio":
            self.advance()
            if self.accept_punct("("):
                a = self.number()
                self.comma()
                b = self.number()
                self.expect_punct(")")
                if not 0 <= a <= IFQ_MAXPRIO or not 0 <= b <= IFQ_MAXPRIO:
                    self.fail(f"prio must be 0 - {IFQ_MAXPRIO}")
            else:
                a = self.number()
                if not 0 <= a <= IFQ_MAXPRIO:
                    self.fail(f"prio must be 0 - {IFQ_MAXPRIO}")
                b = a
            self._once(fo, FOM_SETPRIO, "prio cannot be redefined")
            fo.set_prio = (a, b)
        elif word == "queue":
            self.advance()
            self._queue_assign(fo)
        elif word == "tos":
            self.advance()
            value = self.tos()
            self._once(fo, FOM_SETTOS, "tos cannot be respecified")
            fo.settos = value
        elif word == "delay":
            self.advance()
            value = self.number()
            if fo.delay:
                self.fail("delay cannot be respecified")
            fo.delay = self._in_range(value, 0, 0xFFFF, f"illegal delay value {value} (0-{0xFFFF})")
            fo.marker |= FOM_SETDELAY
        else:
            raise ParseSyntaxError

    def _queue_assign(self, fo: FilterOpts) -> None:
        if self.accept_punct("("):
            qname = str(self.expect(lx.STRING).value)
            pqname = None
            if not self.at_punct(")"):
                self.comma()
                pqname = str(self.expect(lx.STRING).value)
            self.expect_punct(")")
        else:
            qname = str(self.expect(lx.STRING).value)
            pqname = None
        if self._find_queue(qname) is None:
            self.fail(f"queue {qname} is not defined")
        if pqname is not None and self._find_queue(pqname) is None:
            self.fail(f"queue {pqname} is not defined")
        if fo.qname is not None:
            self.fail("queue cannot be redefined")
        fo.qname, fo.pqname = qname, pqname

    def _find_queue(self, name: str) -> QueueSpec | None:
        for q in self.state.qspecs:
            if q.qname == name:
                return q
        return None

    # -- rules ------------------------------------------------------------------------
    def dir(self) -> int:
        if self.accept_kw("in"):
            return PF_IN
        if self.accept_kw("out"):
            return PF_OUT
        return PF_INOUT

    def log(self) -> tuple[int, int]:
        self.advance()
        log, logif = PF_LOG, 0
        if self.accept_punct("("):
            while True:
                if self.accept_kw("all"):
                    log |= PF_LOG_ALL
                elif self.accept_kw("matches"):
                    log |= PF_LOG_MATCHES
                elif self.accept_kw("user"):
                    log |= PF_LOG_USER
                elif self.accept_kw("to"):
                    name = self.string()
                    if not name.startswith("pflog"):
                        self.fail(f"{name}: should be a pflog interface")
                    value = _strtonum(name[5:], 0, 255)
                    if isinstance(value, str):
                        self.fail(f"{name}: {value}")
                    logif = value
                else:
                    raise ParseSyntaxError
                if self.accept_punct(")"):
                    break
                self.comma()
        return log, logif

    def logquick(self) -> tuple[int, int, bool]:
        log = logif = 0
        quick = False
        if self.at_kw("log"):
            log, logif = self.log()
            quick = self.accept_kw("quick")
        elif self.accept_kw("quick"):
            quick = True
            if self.at_kw("log"):
                log, logif = self.log()
        return log, logif, quick

    def af(self) -> int:
        if self.accept_kw("inet"):
            return AF_INET
        if self.accept_kw("inet6"):
            return AF_INET6
        return 0

    def fromto(self) -> tuple[list[NodeHost] | None, list[NodePort] | None, list[NodeHost] | None,
                              list[NodePort] | None]:
        if self.accept_kw("all"):
            return None, None, None, None
        src = sport = dst = dport = None
        if self.accept_kw("from"):
            src, sport = self.ipportspec()
        self.rule_oses = None
        if self.accept_kw("os"):
            self.rule_oses = self._list(self.string)
            self.state.uses_os = True
        if self.accept_kw("to"):
            dst, dport = self.ipportspec()
            if dst and any(h.addr.type == PF_ADDR_URPFFAILED for h in dst):
                self.fail('"urpf-failed" is not permitted in a destination address')
        return src, sport, dst, dport

    def ipportspec(self) -> tuple[list[NodeHost] | None, list[NodePort] | None]:
        if self.accept_kw("port"):
            return None, self.portspec()
        hosts = self.ipspec()
        ports = None
        if self.accept_kw("port"):
            ports = self.portspec()
        return hosts, ports

    def action(self) -> tuple[int, int, int, int]:
        """(action, blockspec flag, return value, return value for IPv6)"""
        word = self.advance().value
        if word == "pass":
            return PF_PASS, 0, 0, 0
        if word == "match":
            return PF_MATCH, 0, 0, 0
        t = self.peek()
        w = t.value if t.kind == lx.KEYWORD else None
        if w == "drop":
            self.advance()
            return PF_DROP, PFRULE_DROP, 0, 0
        if w == "return-rst":
            self.advance()
            ttl = 0
            if self.accept_punct("("):
                self.expect_kw("ttl")
                ttl = self.number()
                self.expect_punct(")")
                if ttl < 0 or ttl > 255:
                    self.fail(f"illegal ttl value {ttl}")
            return PF_DROP, PFRULE_RETURNRST, ttl, 0
        if w == "return-icmp":
            self.advance()
            if self.accept_punct("("):
                v4 = self.reticmpspec(False)
                if self.accept_punct(")"):
                    return PF_DROP, PFRULE_RETURNICMP, v4, self.returnicmpdefault
                self.comma()
                v6 = self.reticmpspec(True)
                self.expect_punct(")")
                return PF_DROP, PFRULE_RETURNICMP, v4, v6
            return PF_DROP, PFRULE_RETURNICMP, self.returnicmpdefault, self.returnicmp6default
        if w == "return-icmp6":
            self.advance()
            if self.accept_punct("("):
                v6 = self.reticmpspec(True)
                self.expect_punct(")")
                return PF_DROP, PFRULE_RETURNICMP, self.returnicmpdefault, v6
            return PF_DROP, PFRULE_RETURNICMP, self.returnicmpdefault, self.returnicmp6default
        if w == "return":
            self.advance()
            return PF_DROP, PFRULE_RETURN, self.returnicmpdefault, self.returnicmp6default
        policy = self.state.options.block_policy
        return PF_DROP, policy, self.returnicmpdefault, self.returnicmp6default

    def reticmpspec(self, inet6: bool) -> int:
        icmptype = (self.returnicmp6default if inet6 else self.returnicmpdefault) >> 8
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            number = int(t.value or 0)
            if number < 0 or number > 255:
                self.fail(f"invalid icmp code {number}")
            return icmptype << 8 | number
        text = str(self.expect(lx.STRING).value)
        value = _strtoul(text)
        if value is None:
            code = netdb.icmp_code_by_name(icmptype, text, inet6)
            if code is None:
                self.fail(f"unknown icmp code {text}")
            value = code
        if value > 255:
            self.fail(f"invalid icmp code {value}")
        result = icmptype << 8 | value
        if not result:
            raise StatementAborted
        return result
