"""A recursive-descent parser for pf.conf with pfctl's semantics.

It follows pf.conf(5) and the checks pfctl's parser makes (sbin/pfctl/parse.y): rules
are expanded over every combination of listed interfaces, protocols, addresses, ports,
users and groups, interface names become the host's addresses, binat-to yields an
outbound and an inbound rule, address pools become automatic tables, and every error
pfctl reports is reported the same way (``file:line: message``), after which parsing
resumes at the next line as pfctl's yacc grammar does.
"""

from __future__ import annotations

import copy

from ..abi.constants import (
    IFNAMSIZ,
    IPPROTO_TCP,
    PF_ADDR_DYNIFTL,
    PF_DROP,
    PF_DUPTO,
    PF_IN,
    PF_PASS,
    PF_STATE_NORMAL,
    PF_THRESHOLD_MAX,
    PFI_AFLAG_NETWORK,
    PFRULE_NOSYNC,
    PFRULE_PFLOW,
    PFRULE_RETURN,
    PFRULE_RETURNICMP,
    PFRULE_RETURNRST,
    PFRULE_RULESRCTRACK,
    PFRULE_SRCTRACK,
    PFRULE_STATESLOPPY,
    PFTM_ADAPTIVE_END,
    PFTM_ADAPTIVE_START,
    PFTM_SRC_NODE,
)
from . import lexer as lx
from .addr import ONES
from .expansion import RuleExpansion
from .host import IFF_LOOPBACK
from .model import AddrWrap, Anchor
from .nodes import (
    _SOURCE_LIMITS,
    FOM_FLAGS,
    FOM_KEEP,
    PATH_MAX,
    PF_TIMEOUTS,
    RT_TABLEID_MAX,
    SO_MAX,
    SO_MAX_SRC_CONN_RATE,
    SO_NOSYNC,
    SO_OVERLOAD,
    SO_PFLOW,
    SO_SLOPPY,
    SO_SRCTRACK,
    SO_STATELOCK,
    SO_TIMEOUT,
    SRCTRACK_GLOBAL,
    SRCTRACK_RULE,
    NodeHost,
    NodeIf,
    ParseSyntaxError,
    StatementAborted,
    _decide_af,
    _zeroed_rule,
)


class Parser(RuleExpansion):
    """Parses one pf.conf file into ``anchor`` (the ruleset being loaded), reporting into
    ``state`` like pfctl's parse_config()."""

    # -- driver -----------------------------------------------------------------------
    def parse(self) -> None:
        while True:
            if self.peek().kind == lx.EOF:
                break
            try:
                self.statement(top=True)
            except ParseSyntaxError:
                if not self.quiet:
                    self.yyerror("syntax error")
                self._recover()
            except StatementAborted:
                self._recover()

    def _recover(self) -> None:
        self.state.errors += 1
        self.anchor = self.astack[0]
        del self.astack[1:]
        while True:
            t = self.peek()
            if t.kind == lx.EOF:
                return
            self.tok = None
            if t.kind == lx.NEWLINE:
                break
        self.quiet = 2

    def statement(self, top: bool) -> None:
        t = self.peek()
        if t.kind == lx.NEWLINE:
            self.advance()
            return
        if t.kind == lx.KEYWORD:
            word = t.value
            if word == "include":
                self.include()
            elif word in ("pass", "block", "match"):
                self.pfrule()
            elif word == "anchor":
                self.anchorrule()
            elif word == "table":
                self.tabledef()
            elif top and word == "set":
                self.option()
            elif top and word == "load":
                self.loadrule()
            elif top and word == "queue":
                self.queuespec()
            elif top and word == "antispoof":
                self.antispoof()
            elif word == "state":  # refused with a reason inside an anchor
                self.state_limiter()
            else:
                raise ParseSyntaxError
        elif t.kind == lx.STRING and (top or t.value == "source"):
            name = str(self.advance().value)
            if name == "source" and self.at_word("limiter"):
                self.source_limiter()
            elif top:
                self.varset(name)
            else:
                raise ParseSyntaxError
        else:
            raise ParseSyntaxError
        self.end_of_statement()

    # -- include, macros ----------------------------------------------------------------
    def include(self) -> None:
        self.advance()
        name = self.expect(lx.STRING).value
        assert isinstance(name, str)
        try:
            self.state.read_file(name)
        except OSError as e:
            self.warn(f"pfctl: pushfile: {name}: {e.strerror}")
            self.fail(f"failed to include file {name}")
        self.lex.pushfile(name)

    def varset(self, name: str) -> None:
        self.expect_punct("=")
        parts = [self.numberstring()]
        while self.at(lx.STRING) or self.at(lx.NUMBER):
            parts.append(self.numberstring())
        value = " ".join(parts)
        self.require_nl()
        self.state.out(f'{name} = "{value}"')
        if any(c.isspace() for c in name[1:]):
            self.fail("macro name cannot contain whitespace")
        if name not in self.persistent:
            self.macros.pop(name, None)
            self.macros[name] = value

    def pfrule(self) -> None:  # noqa: C901 - mirrors parse.y's pfrule action: the checks between options
        line = self.peek().line
        action, blockflag, w, w2 = self.action()
        direction = self.dir()
        log, logif, quick = self.logquick()
        interfaces = self.interface()
        af = self.af()
        protos = self.proto()
        src, sport, dst, dport = self.fromto()
        oses = self.rule_oses
        fo = self.filter_opts()
        self.require_nl()

        r = _zeroed_rule(action=action, line=line)
        if blockflag == PFRULE_RETURNRST:
            r.rule_flag |= PFRULE_RETURNRST
            r.return_ttl = w
        elif blockflag in (PFRULE_RETURNICMP, PFRULE_RETURN):
            r.rule_flag |= blockflag
            r.return_icmp, r.return_icmp6 = w, w2
        r.direction, r.log, r.logif, r.quick, r.af = direction, log, logif, quick, af
        self.filteropts_to_rule(r, fo)
        if (fo.flags[0] or fo.flags[1]) and protos is not None and IPPROTO_TCP not in protos:
            self.fail("flags only apply to tcp")

        r.keep_state = fo.keep_action
        options = fo.keep_options
        defaults = False
        if not r.keep_state and r.action == PF_PASS and not fo.marker & FOM_KEEP:
            r.keep_state = PF_STATE_NORMAL
            options = self.state.keep_state_defaults
            defaults = True
        del defaults
        srctrack = 0
        statelock = False
        adaptive = False
        for o in options or []:
            if o.type == SO_MAX:
                if r.max_states:
                    self.fail("state option 'max' multiple definitions")
                r.max_states = o.value
            elif o.type == SO_NOSYNC:
                if r.rule_flag & PFRULE_NOSYNC:
                    self.fail("state option 'sync' multiple definitions")
                r.rule_flag |= PFRULE_NOSYNC
            elif o.type == SO_SRCTRACK:
                if srctrack:
                    self.fail("state option 'source-track' multiple definitions")
                srctrack = o.value
                r.rule_flag |= PFRULE_SRCTRACK
            elif o.type in _SOURCE_LIMITS:
                attr, name, flags = _SOURCE_LIMITS[o.type]
                if getattr(r, attr):
                    self.fail(f"state option '{name}' multiple definitions")
                if not o.value:
                    self.fail(f"'{name}' must be > 0")
                setattr(r, attr, o.value)
                r.rule_flag |= flags
            elif o.type == SO_OVERLOAD:
                if r.overload_tblname:
                    self.fail("multiple 'overload' table definitions")
                r.overload_tblname, r.flush = o.value
            elif o.type == SO_MAX_SRC_CONN_RATE:
                limit, seconds = o.value
                if r.max_src_conn_rate[0]:
                    self.fail("state option 'max-src-conn-rate' multiple definitions")
                if not limit or not seconds:
                    self.fail("'max-src-conn-rate' values must be > 0")
                if limit > PF_THRESHOLD_MAX:
                    self.fail(f"'max-src-conn-rate' maximum rate must be < {PF_THRESHOLD_MAX}")
                r.max_src_conn_rate = (limit, seconds)
                r.rule_flag |= PFRULE_SRCTRACK | PFRULE_RULESRCTRACK
            elif o.type == SO_STATELOCK:
                if statelock:
                    self.fail("state locking option: multiple definitions")
                statelock = True
                r.rule_flag |= o.value
            elif o.type == SO_SLOPPY:
                if r.rule_flag & PFRULE_STATESLOPPY:
                    self.fail("state sloppy option: multiple definitions")
                r.rule_flag |= PFRULE_STATESLOPPY
            elif o.type == SO_PFLOW:
                if r.rule_flag & PFRULE_PFLOW:
                    self.fail("state pflow option: multiple definitions")
                r.rule_flag |= PFRULE_PFLOW
            elif o.type == SO_TIMEOUT:
                number, seconds = o.value
                if number in (PFTM_ADAPTIVE_START, PFTM_ADAPTIVE_END):
                    adaptive = True
                if r.timeout[number]:
                    name = PF_TIMEOUTS[number][0] if number < len(PF_TIMEOUTS) else "?"
                    self.fail(f"state timeout {name} multiple definitions")
                r.timeout[number] = seconds
        if (r.action == PF_PASS and not r.flags and not r.flagset and not fo.fragment
                and not fo.marker & FOM_FLAGS and r.keep_state):
            r.flags, r.flagset = 0x02, 0x12  # S/SA
        if not adaptive and r.max_states:
            r.timeout[PFTM_ADAPTIVE_START] = (r.max_states // 10) * 6
            r.timeout[PFTM_ADAPTIVE_END] = (r.max_states // 10) * 12
        if r.rule_flag & PFRULE_SRCTRACK:
            if srctrack == SRCTRACK_GLOBAL and r.max_src_nodes:
                self.fail("'max-src-nodes' is incompatible with 'source-track global'")
            if srctrack == SRCTRACK_GLOBAL and r.max_src_conn:
                self.fail("'max-src-conn' is incompatible with 'source-track global'")
            if srctrack == SRCTRACK_GLOBAL and r.max_src_conn_rate[1]:
                self.fail("'max-src-conn-rate' is incompatible with 'source-track global'")
            if r.timeout[PFTM_SRC_NODE] < r.max_src_conn_rate[1]:
                r.timeout[PFTM_SRC_NODE] = r.max_src_conn_rate[1]
            if srctrack == SRCTRACK_RULE:
                r.rule_flag |= PFRULE_RULESRCTRACK
        if r.keep_state and not statelock:
            r.rule_flag |= self.state.default_statelock
        r.af = _decide_af(src, r.af)
        r.af = _decide_af(dst, r.af)
        if fo.rt:
            if fo.rt != PF_DUPTO and not r.direction:
                self.fail("direction must be explicit with rules that specify routing")
            r.rt = fo.rt
        self.expand_divertspec(r, fo)
        self.expand_rule(r, False, interfaces, fo.nat, fo.rdr, fo.rroute, protos, src, sport, dst, dport,
                         fo.uid, fo.gid, fo.rcv, fo.icmpspec, oses=oses)

    # -- anchors ----------------------------------------------------------------------
    def anchorname(self) -> str | None:
        if not self.at(lx.STRING):
            return None
        name = str(self.advance().value)
        if not name:
            self.fail("anchor name must not be empty")
        if len(self.anchor.path) + 1 + len(name) >= PATH_MAX:
            self.fail(f"anchor name is longer than {PATH_MAX - 1}")
        if name.startswith("_") or "/_" in name:
            self.fail("anchor names beginning with '_' are reserved for internal use")
        parts = name.split("/")
        while len(parts) > 1 and parts[0] == "..":  # pf's relative call: the parent's anchor (kept for pfctl)
            parts.pop(0)
        if any(p in (".", "..") for p in parts):
            # pf would create an anchor literally named "." or ".." (e.g. "x/.."): not a parent or itself
            self.fail(f"anchor name {name!r}: '.' and '..' are not anchor names (anchor paths are not file paths)")
        return name

    def anchorrule(self) -> None:
        line = self.peek().line
        self.advance()
        name = self.anchorname()
        direction = self.dir()
        quick = self.accept_kw("quick")
        interfaces = self.interface()
        af = self.af()
        protos = self.proto()
        src, sport, dst, dport = self.fromto()
        oses = self.rule_oses
        fo = self.filter_opts()
        block: Anchor | None = None
        if self.at_punct("{"):
            block = self.brace_block()
        else:
            self.require_nl()

        r = _zeroed_rule(line=line)
        if block is not None:
            if name and "/" in name:
                self.fail("anchor paths containing '/' cannot be used for inline anchors.")
            child_name = name or block.name
            target = self._child_anchor(self.anchor, child_name)
            if target is not block:
                if target.match:
                    self.fail(f"inline anchor '{target.name}' already exists")
                target.rules += block.rules
                target.match += len(block.rules)
                block.rules = []
                block.match = 0
                for tdef in self.state.tables:
                    if self.state.table_owner.get(id(tdef)) is block:
                        self.state.table_owner[id(tdef)] = target
            target.inline = True
            r.anchor = target
        else:
            if not name:
                self.fail("anchors without explicit rules must specify a name")
            assert name is not None
            last = name.rsplit("/", 1)[-1]
            if "/" in name and not last:
                self.fail(f"anchorrule: bad anchor name {name}")
            r.anchor = Anchor(name=last, path=name)
        r.direction = direction
        r.quick = quick
        r.af = af
        if (fo.flags[0] or fo.flags[1]) and protos is not None and IPPROTO_TCP not in protos:
            self.fail("flags only apply to tcp")
        self.filteropts_to_rule(r, fo)
        if fo.keep_action:
            self.fail("cannot specify state handling on anchors")
        if fo.rt:
            self.fail("cannot specify route handling on anchors")
        r.af = _decide_af(src, r.af)
        r.af = _decide_af(dst, r.af)
        self.expand_rule(r, False, interfaces, None, None, None, protos, src, sport, dst, dport, fo.uid, fo.gid,
                         fo.rcv, fo.icmpspec, oses=oses)

    def _child_anchor(self, parent: Anchor, name: str) -> Anchor:
        path = f"{parent.path}/{name}" if parent.path else name
        found = self.inline_anchors.get(path)
        if found is None:
            found = Anchor(name=name, path=path)
            self.inline_anchors[path] = found
        return found

    def brace_block(self) -> Anchor:
        """``{ ... }`` after an anchor rule: parse its rules into a holding ruleset."""
        self.advance()
        self.brace_counter += 1
        holding = self._child_anchor(self.main, f"_{self.brace_counter}")
        if not self.at(lx.NEWLINE):
            raise ParseSyntaxError
        self.advance()
        outer = self.anchor
        self.astack.append(holding)
        self.anchor = holding
        try:
            while not self.at_punct("}"):
                if self.at(lx.EOF):
                    raise ParseSyntaxError
                self.statement(top=False)
            self.advance()
        finally:
            self.astack.pop()
            self.anchor = outer
        return holding

    def loadrule(self) -> None:
        self.advance()
        self.expect_kw("anchor")
        name = self.anchorname()
        self.expect_kw("from")
        filename = self.string()
        self.require_nl()
        if name is None:
            self.fail("anchor name is missing")
        full = f"{self.anchor.path}/{name}" if self.anchor.name else str(name)
        self.state.load_anchors.append((full, filename, self.lex.lineno))

    # -- antispoof ----------------------------------------------------------------------
    def antispoof(self) -> None:
        self.advance()
        log, logif, quick = self.logquick()
        self.expect_kw("for")
        items: list[NodeIf] = []
        if self.accept_punct("{"):
            self.optnl()
            items.append(self.antispoof_if())
            self.optnl()
            while not self.at_punct("}"):
                self.comma()
                items.append(self.antispoof_if())
                self.optnl()
            self.advance()
        else:
            items.append(self.antispoof_if())
        af = self.af()
        label = None
        rtableid = -1
        while True:
            if self.accept_kw("label"):
                text = str(self.expect(lx.STRING).value)
                if label is not None:
                    self.fail("label cannot be redefined")
                label = text
            elif self.accept_kw("rtable"):
                value = self.number()
                if value < 0 or value > RT_TABLEID_MAX:
                    self.fail("invalid rtable id")
                if not self.host.has_rtable(value):
                    self.fail(f"rtable {value} does not exist")
                rtableid = value
            else:
                break
        self.require_nl()
        for i in items:
            r = _zeroed_rule(action=PF_DROP, direction=PF_IN, log=log, logif=logif, quick=quick, af=af)
            self.rule_label(r, label)
            r.rtableid = rtableid
            if len(i.ifname.encode()) >= IFNAMSIZ:
                self.fail("interface name too long")
            j = NodeIf(ifname=i.ifname, neg=True)
            hh: list[NodeHost] | None
            if i.dynamic:
                dyn = NodeHost(addr=AddrWrap(type=PF_ADDR_DYNIFTL, ifname=i.ifname, mask=ONES))
                hh = [copy.deepcopy(dyn)]
                dyn.addr.iflags = PFI_AFLAG_NETWORK
                hosts = [dyn]
            else:
                hosts = self.ifa_lookup(j.ifname, PFI_AFLAG_NETWORK)
                hh = None
            if hosts:
                self.expand_rule(r, False, [j], None, None, None, None, hosts, None, None, None, None, None, None,
                                 None)
            if not i.ifa_flags & IFF_LOOPBACK:
                r = _zeroed_rule(action=PF_DROP, direction=PF_IN, log=log, logif=logif, quick=quick, af=af)
                self.rule_label(r, label)
                r.rtableid = rtableid
                hosts = hh if hh is not None else self.ifa_lookup(i.ifname, 0)
                if hosts:
                    self.expand_rule(r, False, None, None, None, None, None, hosts, None, None, None, None, None,
                                     None, None)

    def antispoof_if(self) -> NodeIf:
        if self.accept_punct("("):
            item = self.if_item()
            self.expect_punct(")")
            item.dynamic = True
            return item
        return self.if_item()


__all__ = ["Parser"]
