"""Rule expansion as pfctl's expand_rule() does it: one rule per combination of listed
interfaces, families, protocols, addresses, ports, users and groups; redirection pools,
binat's inbound half, labels' macros, and the consistency checks."""

from __future__ import annotations

import copy
import itertools
import math

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NONE,
    PF_ADDR_TABLE,
    PF_DIVERT_NONE,
    PF_DIVERT_PACKET,
    PF_DIVERT_REPLY,
    PF_DIVERT_TO,
    PF_DROP,
    PF_IN,
    PF_INOUT,
    PF_MATCH,
    PF_OSFP_NOMATCH,
    PF_OUT,
    PF_PASS,
    PF_POOL_LEASTSTATES,
    PF_POOL_NONE,
    PF_POOL_RANDOM,
    PF_POOL_ROUNDROBIN,
    PF_POOL_SRCHASH,
    PF_POOL_TYPEMASK,
    PF_PRIO_ZERO,
    PF_QNAME_SIZE,
    PF_RULE_LABEL_SIZE,
    PF_STATE_MODULATE,
    PF_STATE_NORMAL,
    PF_STATE_SYNPROXY,
    PF_TAG_NAME_SIZE,
    PFI_AFLAG_PEER,
    PFR_TFLAG_CONST,
    PFRULE_AFTO,
    PFRULE_FRAGMENT,
    PFRULE_ONCE,
    PFRULE_RETURNRST,
    PFRULE_RULESRCTRACK,
    PFRULE_SETDELAY,
    PFRULE_STATESLOPPY,
    PFSTATE_NODF,
    PFSTATE_RANDOMID,
    PFSTATE_SCRUB_TCP,
    PFSTATE_SETPRIO,
    PFSTATE_SETTOS,
)
from .addr import ZERO, is_zero, unmask
from .errors import Diagnostic
from .filteropts import FilterOptParsing
from .model import AddrWrap, Divert, Pool, RuleAddr, RuleDef, TableDef
from .nodes import (
    FOM_AFTO,
    FOM_ONCE,
    FOM_PRIO,
    FOM_SCRUB_TCP,
    FOM_SETDELAY,
    FOM_SETPRIO,
    FOM_SETTOS,
    FatalError,
    FilterOpts,
    NodeHost,
    NodeIcmp,
    NodeIf,
    NodePort,
    Redirection,
    RedirSpec,
    _af_name,
    _dynif_multiaddr,
    _gen_dynnode,
    _invalid_range,
    _label_addr,
    _label_port,
    _table_address,
)
from .printer import PF_NAT_PROXY_PORT_HIGH, PF_NAT_PROXY_PORT_LOW, format_tabledef


class RuleExpansion(FilterOptParsing):
    """Part of :class:`.parser.Parser` (expansion)."""

    def filteropts_to_rule(self, r: RuleDef, fo: FilterOpts) -> None:  # noqa: C901 - mirrors parse.y's filteropts_to_rule(), one option per branch
        if fo.marker & FOM_ONCE:
            if r.action not in (PF_PASS, PF_DROP) or r.anchor is not None:
                self.fail("'once' only applies to pass/block rules")
            r.rule_flag |= PFRULE_ONCE
        r.keep_state = fo.keep_action
        r.pktrate = fo.pktrate
        if fo.statelim is not None:
            r.statelim, r.statelim_name = self.resolve_limiter("state", fo.statelim)
        if fo.sourcelim is not None:
            r.sourcelim, r.sourcelim_name = self.resolve_limiter("source", fo.sourcelim)
        r.prob = fo.prob
        r.rtableid = fo.rtableid
        r.tos = fo.tos
        if fo.nodf:
            r.scrub_flags |= PFSTATE_NODF
        if fo.randomid:
            r.scrub_flags |= PFSTATE_RANDOMID
        if fo.minttl:
            r.min_ttl = fo.minttl
        if fo.max_mss:
            r.max_mss = fo.max_mss
        if fo.tag is not None:
            if len(fo.tag.encode()) >= PF_TAG_NAME_SIZE:
                self.fail(f"tag too long, max {PF_TAG_NAME_SIZE - 1} chars")
            r.tagname = fo.tag
        if fo.match_tag is not None:
            if len(fo.match_tag.encode()) >= PF_TAG_NAME_SIZE:
                self.fail(f"tag too long, max {PF_TAG_NAME_SIZE - 1} chars")
            r.match_tagname = fo.match_tag
        r.match_tag_not = fo.match_tag_not
        self.rule_label(r, fo.label)
        if fo.marker & FOM_AFTO:
            r.rule_flag |= PFRULE_AFTO
            if r.direction != PF_IN:
                self.fail("af-to can only be used with direction in")
            if fo.rt:
                self.fail("af-to cannot be used together with route-to, reply-to, dup-to")
        if fo.marker & FOM_SCRUB_TCP:
            r.scrub_flags |= PFSTATE_SCRUB_TCP
        if fo.marker & FOM_SETDELAY:
            r.delay = fo.delay
            r.rule_flag |= PFRULE_SETDELAY
        if fo.marker & FOM_SETTOS:
            r.scrub_flags |= PFSTATE_SETTOS
            r.set_tos = fo.settos
        if fo.marker & FOM_PRIO:
            r.prio = fo.prio if fo.prio else PF_PRIO_ZERO
        if fo.marker & FOM_SETPRIO:
            r.set_prio = fo.set_prio
            r.scrub_flags |= PFSTATE_SETPRIO
        r.flags, r.flagset = fo.flags
        if fo.flags[0] & fo.flags[1] != fo.flags[0]:
            self.fail("flags always false")
        if fo.qname is not None:
            if len(fo.qname.encode()) >= PF_QNAME_SIZE:
                self.fail(f"rule qname too long (max {PF_QNAME_SIZE - 1} chars)")
            r.qname = fo.qname
        if fo.pqname is not None:
            if len(fo.pqname.encode()) >= PF_QNAME_SIZE:
                self.fail(f"rule pqname too long (max {PF_QNAME_SIZE - 1} chars)")
            r.pqname = fo.pqname
        if fo.fragment:
            r.rule_flag |= PFRULE_FRAGMENT
        r.allow_opts = fo.allowopts

    def rule_label(self, r: RuleDef, label: str | None) -> None:
        if label is not None:
            if len(label.encode()) >= PF_RULE_LABEL_SIZE:
                self.fail(f"rule label too long (max {PF_RULE_LABEL_SIZE - 1} chars)")
            r.label = label

    def expand_divertspec(self, r: RuleDef, fo: FilterOpts) -> None:
        if fo.divert_type == PF_DIVERT_TO:
            if r.direction == PF_OUT:
                self.fail("divert-to used with outgoing rule")
            hosts = fo.divert_addr or []
            if r.af:
                match = next((n for n in hosts if n.af == r.af), None)
                if match is None:
                    self.fail("divert-to address family mismatch")
                r.divert = Divert(PF_DIVERT_TO, match.addr.addr, fo.divert_port)
            else:
                r.af = hosts[0].af
                r.divert = Divert(PF_DIVERT_TO, hosts[0].addr.addr, fo.divert_port)
        elif fo.divert_type == PF_DIVERT_REPLY:
            if r.direction == PF_IN:
                self.fail("divert-reply used with incoming rule")
            r.divert = Divert(PF_DIVERT_REPLY)
        elif fo.divert_type == PF_DIVERT_PACKET:
            r.divert = Divert(PF_DIVERT_PACKET, ZERO, fo.divert_port)

    # -- expansion ------------------------------------------------------------------------
    def expand_rule(self, r: RuleDef, keeprule: bool, interfaces: list[NodeIf] | None,
                    nat: RedirSpec | None, rdr: RedirSpec | None, rroute: RedirSpec | None,
                    protos: list[int] | None, src_hosts: list[NodeHost] | None,
                    src_ports: list[NodePort] | None, dst_hosts: list[NodeHost] | None,
                    dst_ports: list[NodePort] | None, uids: list[tuple[int, int, int]] | None,
                    gids: list[tuple[int, int, int]] | None, rcv: NodeIf | None,
                    icmp_types: list[NodeIcmp] | None, *, oses: list[str] | None = None) -> None:
        """Add one rule per combination of the lists (pfctl's expand_rule())."""
        af = r.af
        added = 0
        error = 0
        label, tagname, match_tagname = r.label, r.tagname, r.match_tagname
        flags, flagset, keep_state = r.flags, r.flagset, r.keep_state
        direction = r.direction
        r.src.addr.type = r.dst.addr.type = PF_ADDR_ADDRMASK

        ifs = interfaces or [NodeIf()]
        prs = protos or [0]
        ics = icmp_types or [NodeIcmp()]
        shs = src_hosts or [NodeHost()]
        dhs = dst_hosts or [NodeHost()]
        sps = src_ports or [NodePort()]
        dps = dst_ports or [NodePort()]
        us = uids or [(0, 0, 0)]
        gs = gids or [(0, 0, 0)]
        os_ids = [self._os_fingerprint(name) for name in oses] if oses else [(0, "")]
        limit = self.state.max_rules
        if limit is not None:
            # checked before expanding: the combinations are the work (and the memory) to bound
            combinations = math.prod(len(x) for x in (ifs, prs, ics, shs, dhs, sps, dps, us, gs, os_ids))
            if self.state.rules_expanded + combinations > limit:
                self.fail(f"this rule expands to {combinations} combinations of its lists, which would take the "
                          f"ruleset past the limit of {limit} rules; use tables instead of long lists")
            self.state.rules_expanded += combinations

        # pfctl's nesting: interface, proto, icmp type, source, destination, source port, os,
        # destination port, user, group (the last varies fastest)
        for ((ii, interface), (pi, proto), (ci, icmp_type), (si, src_host), (di, dst_host), (spi, src_port), osfp,
             (dpi, dst_port), (ui, uid), (gi, gid)) in itertools.product(
                enumerate(ifs), enumerate(prs), enumerate(ics), enumerate(shs), enumerate(dhs), enumerate(sps), os_ids,
                enumerate(dps), enumerate(us), enumerate(gs)):
            result = self._expand_one(r, af, direction, interface, proto, icmp_type, src_host, dst_host, src_port,
                                      dst_port, uid, gid, rcv, nat, rdr, rroute, label, tagname, match_tagname, flags,
                                      flagset, keep_state, error, osfp)
            if result is None:
                continue
            ok, err = result
            added += ok
            error += err
            if not error and nat is not None and nat.rdr is not None and nat.binat:
                self._binat_inbound(r, nat, ifs[ii:], prs[pi:], ics[ci:], shs[si:], dhs[di:], sps[spi:], dps[dpi:],
                                    us[ui:], gs[gi:], src_host, dst_host, rcv)
        if not added:
            self.yyerror("rule expands to no valid combination")

    def _expand_one(self, r: RuleDef, af: int, direction: int, interface: NodeIf, proto: int,
                    icmp_type: NodeIcmp, src_host: NodeHost, dst_host: NodeHost, src_port: NodePort,
                    dst_port: NodePort, uid: tuple[int, int, int], gid: tuple[int, int, int],
                    rcv: NodeIf | None, nat: RedirSpec | None, rdr: RedirSpec | None,
                    rroute: RedirSpec | None, label: str, tagname: str, match_tagname: str,
                    flags: int, flagset: int, keep_state: int, prior_errors: int,
                    osfp: tuple[int, str] = (0, "")) -> tuple[int, int] | None:
        error = 0
        r.af = af
        error += self.collapse_redirspec(r, "rdr", rdr, False)
        error += self.collapse_redirspec(r, "nat", nat, False)
        error += self.collapse_redirspec(r, "route", rroute, True)
        if ((src_host.addr.type == PF_ADDR_ADDRMASK and src_host.ifname)
                or (dst_host.addr.type == PF_ADDR_ADDRMASK and dst_host.ifname)):
            self.yyerror("@if syntax not permitted in from or to")
            error += 1
        if ((r.af and src_host.af and r.af != src_host.af)
                or (r.af and dst_host.af and r.af != dst_host.af)
                or (src_host.af and dst_host.af and src_host.af != dst_host.af)
                or (src_host.ifindex and dst_host.ifindex and src_host.ifindex != dst_host.ifindex)
                or (src_host.ifindex and interface.ifname and src_host.ifindex != self._nametoindex(interface.ifname))
                or (dst_host.ifindex and interface.ifname and dst_host.ifindex != self._nametoindex(interface.ifname))):
            return None
        if not r.af and src_host.af:
            r.af = src_host.af
        elif not r.af and dst_host.af:
            r.af = dst_host.af
        if interface.ifname:
            r.ifname = interface.ifname
        elif self._indextoname(src_host.ifindex):
            r.ifname = self._indextoname(src_host.ifindex) or ""
        elif self._indextoname(dst_host.ifindex):
            r.ifname = self._indextoname(dst_host.ifindex) or ""
        else:
            r.ifname = ""
        r.onrdomain = interface.rdomain if interface.use_rdomain else -1
        r.label = self.expand_label(label, PF_RULE_LABEL_SIZE, r.ifname, r.af, src_host, src_port, dst_host,
                                    dst_port, proto)
        r.tagname = self.expand_label(tagname, PF_TAG_NAME_SIZE, r.ifname, r.af, src_host, src_port, dst_host,
                                      dst_port, proto)
        r.match_tagname = self.expand_label(match_tagname, PF_TAG_NAME_SIZE, r.ifname, r.af, src_host,
                                            src_port, dst_host, dst_port, proto)
        sh = _gen_dynnode(src_host, r.af)
        dh = _gen_dynnode(dst_host, r.af)
        error += self.check_netmask(sh, r.af)
        error += self.check_netmask(dh, r.af)
        r.ifnot = interface.neg
        r.proto = proto
        r.src = RuleAddr(addr=copy.copy(sh.addr), port=src_port.port, neg=sh.neg, port_op=src_port.op)
        r.dst = RuleAddr(addr=copy.copy(dh.addr), port=dst_port.port, neg=dh.neg, port_op=dst_port.op)
        r.uid = uid
        r.gid = gid
        if rcv is not None:
            r.rcv_ifname = rcv.ifname
            r.rcvifnot = rcv.neg
        r.type = icmp_type.type
        r.code = icmp_type.code
        if keep_state in (PF_STATE_MODULATE, PF_STATE_SYNPROXY) and r.proto and r.proto != IPPROTO_TCP:
            r.keep_state = PF_STATE_NORMAL
        else:
            r.keep_state = keep_state
        if r.proto and r.proto != IPPROTO_TCP:
            r.flags = r.flagset = 0
        else:
            r.flags, r.flagset = flags, flagset
        if icmp_type.proto and r.proto != icmp_type.proto:
            self.yyerror("icmp-type mismatch")
            error += 1
        r.os_fingerprint, r.os_name = osfp
        if nat is not None and nat.rdr is not None and nat.binat:
            error += self._binat_checks(r, af, src_host)
            r.direction = PF_OUT
        error += self.apply_redirspec(r, "nat", nat, 0, dst_port)
        error += self.apply_redirspec(r, "rdr", rdr, 1, dst_port)
        error += self.apply_redirspec(r, "route", rroute, 2, dst_port)
        added = 0
        if self.rule_consistent(r) < 0 or error or prior_errors:
            self.yyerror("skipping rule due to errors")
        else:
            rule = r.clone()
            rule.nr = self.anchor.match
            self.anchor.match += 1
            self.anchor.rules.append(rule)
            added = 1
        r.direction = direction
        return added, error

    def _binat_checks(self, r: RuleDef, af: int, src_host: NodeHost) -> int:
        error = 0
        if src_host.addr.type == PF_ADDR_TABLE:
            self.yyerror(f"invalid use of table <{src_host.addr.tblname}> as the source address of a binat-to rule")
            error += 1
        elif _dynif_multiaddr(src_host.addr):
            self.yyerror(f"invalid use of interface ({src_host.addr.ifname}) as the source address of a "
                         "binat-to rule")
            error += 1
        elif (r.src.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_DYNIFTL)
              or r.nat.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_DYNIFTL)):
            self.yyerror("binat-to requires a specified source and redirect address")
            error += 1
        if _dynif_multiaddr(r.src.addr) or _dynif_multiaddr(r.nat.addr):
            self.yyerror("dynamic interfaces must be used with :0 in a binat-to rule")
            error += 1
        if is_zero(r.src.addr.union_mask(), af) or is_zero(r.nat.addr.union_mask(), af):
            self.yyerror("source and redir addresess must have a matching network mask in binat-rule")
            error += 1
        if r.nat.addr.type == PF_ADDR_TABLE:
            self.yyerror("tables cannot be used as the redirect address of a binat-to rule")
            error += 1
        if r.direction != PF_INOUT:
            self.yyerror("binat-to cannot be specified with a direction")
            error += 1
        return error

    def _os_fingerprint(self, name: str) -> tuple[int, str]:
        """(pf_osfp_t, the name pfctl prints) for ``os "name"``; an unknown name gives a rule that
        never matches, as with pfctl, and a warning."""
        fps = self.state.fingerprint_list()
        os_id = fps.lookup(name)
        if os_id == PF_OSFP_NOMATCH:
            text = f"warning: unknown '{name}' OS fingerprint"
            self.state.diagnostics.append(Diagnostic(text=text, message=text, file=self.lex.file.name,
                                                     line=self.lex.lineno, is_error=False))
        return os_id, fps.name(os_id)

    def _binat_inbound(self, r: RuleDef, nat: RedirSpec, ifs: list[NodeIf], prs: list[int],
                       ics: list[NodeIcmp], shs: list[NodeHost], dhs: list[NodeHost],
                       sps: list[NodePort], dps: list[NodePort], us: list[tuple[int, int, int]],
                       gs: list[tuple[int, int, int]],
                       src_host: NodeHost, dst_host: NodeHost, rcv: NodeIf | None) -> None:
        """The inbound half of binat-to: swap source and destination, redirect to the source."""
        rb = r.clone()
        rb.direction = PF_IN
        srch = copy.deepcopy(src_host)
        srch.ifname = None
        dsth = NodeHost(addr=copy.copy(rb.nat.addr))
        assert nat.rdr is not None
        binat = RedirSpec(rdr=Redirection([srch], nat.rdr.rport), pool_opts=copy.copy(nat.pool_opts))
        binat.pool_opts.staticport = False
        # pfctl passes the remainder of each list from the current element on
        dst_list = [dst_host] if dst_host.addr.type == PF_ADDR_DYNIFTL else dhs
        self.expand_rule(rb, True, ifs, None, binat, None, prs, dst_list, dps, [dsth], sps, us, gs, rcv, ics)

    def _nametoindex(self, name: str) -> int:
        itf = self.host.interface(name)
        return itf.index if itf else 0

    def _indextoname(self, index: int) -> str | None:
        if not index:
            return None
        itf = self.host.interface_by_index(index)
        return itf.name if itf else None

    def check_netmask(self, h: NodeHost, af: int) -> int:
        if h.addr.type == PF_ADDR_TABLE:
            return 0
        mask = h.addr.union_mask()
        if af == AF_INET and any(mask[4:]):
            self.warn(f"netmask {unmask(mask)} invalid for IPv4 address")
            return 1
        return 0

    def expand_label(self, label: str, size: int, ifname: str, af: int, src_host: NodeHost,
                     src_port: NodePort, dst_host: NodeHost, dst_port: NodePort, proto: int) -> str:
        if "$" not in label:
            return label
        if "$if" in label:
            label = label.replace("$if", ifname or "any")
        for name, h in (("$srcaddr", src_host), ("$dstaddr", dst_host)):
            if name in label:
                label = label.replace(name, ("! " if h.neg else "") + _label_addr(h, af))
        for name, p in (("$srcport", src_port), ("$dstport", dst_port)):
            if name in label:
                label = label.replace(name, _label_port(p))
        if "$proto" in label:
            label = label.replace("$proto", self.host.protocol_name(proto) or str(proto))
        if len(label.encode()) >= size:
            raise FatalError("expand_label: label too long")
        return label

    def collapse_redirspec(self, r: RuleDef, which: str, rs: RedirSpec | None, routing: bool) -> int:  # noqa: C901 - mirrors parse.y's collapse_redirspec() case by case
        """Turn a translation or routing target into the rule's pool, with an automatic
        table when it lists several addresses."""
        pool: Pool = getattr(r, which)
        if rs is None or rs.rdr is None or not rs.rdr.hosts:
            pool.addr = AddrWrap(type=PF_ADDR_NONE)
            return 0
        if r.rule_flag & PFRULE_AFTO:
            r.naf = rs.af
        kind = "routing" if routing else "translation"
        af = 0
        naddr = 0
        hprev: NodeHost | None = None
        table: list[NodeHost] | None = None
        for h in rs.rdr.hosts:
            if routing and h.addr.type == PF_ADDR_DYNIFTL and h.addr.iflags != PFI_AFLAG_PEER:
                self.yyerror("route spec requires :peer with dynamic interface addresses")
                return 1
            if rs.af and not r.af and not af:
                af = AF_INET if r.naf == AF_INET6 else AF_INET6 if r.naf == AF_INET else rs.af
            if h.af and not r.naf:
                if r.af and r.af != h.af:
                    continue
                if not r.af and af and af != h.af:
                    self.yyerror(f"{kind} spec contains addresses with different address families")
                    return 1
            elif h.af:
                if rs.af and rs.af != h.af:
                    self.yyerror(f"{kind} spec contains addresses that don't match target address family")
                    return 1
            if not r.af and not af:
                af = h.af
            if naddr == 0:
                pool.addr = copy.copy(h.addr)
                if h.ifname:
                    self.yyerror(f"@if not permitted for {kind}")
                    return 1
                hprev = h
            else:
                if rs.pool_opts.type and rs.pool_opts.type not in (PF_POOL_RANDOM, PF_POOL_ROUNDROBIN,
                                                                    PF_POOL_LEASTSTATES, PF_POOL_SRCHASH):
                    self.yyerror("pool type is not valid for multiple translation or routing addresses")
                    return 1
                if (hprev is not None and hprev.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_NONE)
                        and h.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_NONE)):
                    self.yyerror("multiple tables or dynamic interfaces not supported for translation or routing")
                    return 1
                if h.ifname:
                    self.yyerror(f"@if not permitted for {kind}")
                    return 1
                if table is None:
                    table = []
                if hprev is not None:
                    table.append(hprev)
                    hprev = None
                table.append(h)
            naddr += 1
        if not r.af and af:
            r.af = af
        if not naddr:
            self.yyerror(f"af mismatch in {kind} spec")
            return 1
        if table is not None:
            name = self.state.temporary_table_name()
            name = self.state.kernel_table_name() if self.state.kernel_table_names else name
            addrs = [_table_address(h) for h in table]
            self._count_table_addresses(len(addrs), f"the {kind} address pool")
            tdef = TableDef(name=name, flags=PFR_TFLAG_CONST, init_addr=True, init=[("hosts", addrs)],
                            addresses=addrs, anchor=self._anchor_path(), line=self.lex.lineno)
            tdef_anchor = self.anchor
            self.state.tables.append(tdef)
            self.state.table_owner[id(tdef)] = tdef_anchor
            self.state.out(format_tabledef(name, PFR_TFLAG_CONST, True, tdef.init))
            pool.addr = AddrWrap(type=PF_ADDR_TABLE, tblname=name)
        return 0

    def apply_redirspec(self, r: RuleDef, which: str, rs: RedirSpec | None, isrdr: int, np: NodePort) -> int:  # noqa: C901 - mirrors parse.y's apply_redirspec() case by case
        if rs is None or rs.rdr is None:
            return 0
        pool: Pool = getattr(r, which)
        a, b, t = rs.rdr.rport
        p0 = a
        if isrdr:
            if not b and t:
                p1 = (a + (np.port[1] - np.port[0])) & 0xFFFF
            else:
                if _invalid_range(t, a, b):
                    self.yyerror("invalid rdr-to port range")
                    return 1
                pool.port_op = t
                p1 = b
        else:
            p1 = b
            if not p0 and not p1:
                p0, p1 = PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH
            elif not p1:
                p1 = p0
        pool.proxy_port = (p0, p1)
        pool.opts = rs.pool_opts.type
        if (pool.opts & PF_POOL_TYPEMASK) == PF_POOL_NONE and (
                pool.addr.type == PF_ADDR_TABLE or _dynif_multiaddr(pool.addr)):
            pool.opts |= PF_POOL_ROUNDROBIN
        if pool.opts & PF_POOL_TYPEMASK not in (PF_POOL_ROUNDROBIN, PF_POOL_LEASTSTATES, PF_POOL_RANDOM,
                                                PF_POOL_SRCHASH):
            for h in rs.rdr.hosts:
                if h.addr.type == PF_ADDR_TABLE:
                    self.yyerror("tables are not supported by pool type")
                    return 1
            for h in rs.rdr.hosts:
                if _dynif_multiaddr(h.addr):
                    self.yyerror(f"interface ({h.addr.ifname}) is not supported by pool type")
                    return 1
        if rs.pool_opts.key is not None:
            pool.key = rs.pool_opts.key
        if rs.pool_opts.opts:
            pool.opts |= rs.pool_opts.opts
        if rs.pool_opts.staticport:
            if isrdr:
                self.yyerror("the 'static-port' option is only valid with nat rules")
                return 1
            if pool.proxy_port[0] != PF_NAT_PROXY_PORT_LOW and pool.proxy_port[1] != PF_NAT_PROXY_PORT_HIGH:
                self.yyerror("the 'static-port' option can't be used when specifying a port range")
                return 1
            pool.proxy_port = (0, 0)
        return 0

    def rule_consistent(self, r: RuleDef) -> int:  # noqa: C901 - mirrors parse.y's rule_consistent(): one check per pfctl error
        problems = 0

        def problem(message: str) -> None:
            nonlocal problems
            self.yyerror(message)
            problems += 1

        tcpudp = r.proto in (IPPROTO_TCP, IPPROTO_UDP)
        if r.proto != IPPROTO_TCP and r.os_fingerprint != 0:
            problem("os only applies to tcp")
        if not tcpudp and (r.src.port_op or r.dst.port_op):
            problem("port only applies to tcp/udp")
        if not tcpudp and r.uid[0]:
            problem("user only applies to tcp/udp")
        if not tcpudp and r.gid[0]:
            problem("group only applies to tcp/udp")
        if r.proto not in (IPPROTO_ICMP, IPPROTO_ICMPV6) and (r.type or r.code):
            problem("icmp-type/code only applies to icmp")
        if not r.af and (r.type or r.code):
            problem("must indicate address family with icmp-type/code")
        if r.rule_flag & PFRULE_AFTO and r.af == r.naf:
            problem("must indicate different address family with af-to")
        if r.overload_tblname and r.max_src_conn == 0 and r.max_src_conn_rate[1] == 0:
            problem("'overload' requires 'max-src-conn' or 'max-src-conn-rate'")
        if (r.proto == IPPROTO_ICMP and r.af == AF_INET6) or (r.proto == IPPROTO_ICMPV6 and r.af == AF_INET):
            problem(f"proto {'icmp' if r.proto == IPPROTO_ICMP else 'icmp6'} doesn't match address family "
                    f"{_af_name(r.af)}")
        if r.allow_opts and r.action != PF_PASS:
            problem("allow-opts can only be specified for pass rules")
        if r.rule_flag & PFRULE_FRAGMENT and (r.src.port_op or r.dst.port_op or r.flagset or r.type or r.code):
            problem("fragments can be filtered only on IP header fields")
        if r.rule_flag & PFRULE_RETURNRST and r.proto != IPPROTO_TCP:
            problem("return-rst can only be applied to TCP rules")
        if r.max_src_nodes and not r.rule_flag & PFRULE_RULESRCTRACK:
            problem("max-src-nodes requires 'source-track rule'")
        if r.action != PF_PASS and r.keep_state:
            problem("keep state is great, but only for pass rules")
        if r.rt and not r.keep_state:
            problem("route-to, reply-to and dup-to require keep state")
        if r.rule_flag & PFRULE_STATESLOPPY and r.keep_state in (PF_STATE_MODULATE, PF_STATE_SYNPROXY):
            problem("sloppy state matching cannot be used with synproxy state or modulate state")
        if r.keep_state == PF_STATE_SYNPROXY and r.direction != PF_IN:
            self.state.diagnostics.append(Diagnostic(
                text=f"{self.lex.file.name}:{self.lex.lineno}: warning: synproxy used for inbound rules only, "
                     "ignored for outbound",
                message="warning: synproxy used for inbound rules only, ignored for outbound",
                file=self.lex.file.name, line=self.lex.lineno, is_error=False))
        if ((r.nat.addr.type != PF_ADDR_NONE or r.rdr.addr.type != PF_ADDR_NONE)
                and r.action != PF_MATCH and not r.keep_state):
            problem("nat-to and rdr-to require keep state")
        if r.direction == PF_INOUT and (r.nat.addr.type != PF_ADDR_NONE or r.rdr.addr.type != PF_ADDR_NONE):
            problem("nat-to and rdr-to require a direction")
        if r.af == AF_INET6 and r.scrub_flags & (PFSTATE_NODF | PFSTATE_RANDOMID):
            problem("address family inet6 does not support scrub options no-df, random-id")
        if r.action == PF_MATCH:
            if r.divert.type != PF_DIVERT_NONE:
                problem("divert is not supported on match rules")
            if r.rt:
                problem("route-to, reply-to and dup-to are not supported on match rules")
            if r.rule_flag & PFRULE_AFTO:
                problem("af-to is not supported on match rules")
        elif r.action == PF_DROP and r.rt:
            problem("route-to, reply-to and dup-to are not supported on block rules")
        return -problems
