"""``queue`` definitions: bandwidth specs, options and their expansion over interfaces."""

from __future__ import annotations

from ..abi.constants import (
    PF_QNAME_SIZE,
    PFQS_DEFAULT,
    PFQS_FLOWQUEUE,
    PFQS_ROOTCLASS,
)
from . import lexer as lx
from .model import QueueSpec
from .nodes import (
    LLONG_MAX,
    QOM_BWSPEC,
    QOM_DEFAULT,
    QOM_FLOWS,
    QOM_PARENT,
    QOM_QLIMIT,
    QOM_QUANTUM,
    NodeIf,
    ParseSyntaxError,
    QueueOpts,
    _strtod,
)
from .tabledefs import TableParsing


class QueueParsing(TableParsing):
    """Part of :class:`.parser.Parser` (queues)."""

    # -- queues -------------------------------------------------------------------------
    def queuespec(self) -> None:
        self.advance()
        qname = str(self.expect(lx.STRING).value)
        interfaces = self.interface()
        qo = self.queue_opts()
        self.require_nl()
        if interfaces is None and qo.parent is None:
            self.fail("root queue without interface")
        if interfaces is not None:
            for itf in interfaces[:1]:
                if self.host.interface(itf.ifname) is None:
                    self.fail("not an interface")
        self.expand_queue(qname, interfaces, qo)

    def queue_opts(self) -> QueueOpts:
        qo = QueueOpts()
        first = True
        while True:
            t = self.peek()
            word = t.value if t.kind == lx.KEYWORD else None
            if word == "bandwidth":
                self.advance()
                linkshare = self.scspec()
                realtime = upperlimit = ((0, 0), 0, (0, 0))
                for _ in range(2):
                    if self.at_punct(","):
                        self.advance()
                    if self.accept_kw("min"):
                        realtime = self.scspec()
                    elif self.accept_kw("max"):
                        upperlimit = self.scspec()
                    else:
                        break
                self._once(qo, QOM_BWSPEC, "bandwidth cannot be respecified")
                qo.linkshare, qo.realtime, qo.upperlimit = linkshare, realtime, upperlimit
            elif word == "parent":
                self.advance()
                parent = str(self.expect(lx.STRING).value)
                self._once(qo, QOM_PARENT, "parent cannot be respecified")
                qo.parent = parent
            elif word == "default":
                self.advance()
                self._once(qo, QOM_DEFAULT, "default cannot be respecified")
                qo.flags |= PFQS_DEFAULT
            elif word == "qlimit":
                qo.qlimit = self._queue_number(qo, QOM_QLIMIT, "qlimit", 0, 65535)
            elif word == "flows":
                qo.flows = self._queue_number(qo, QOM_FLOWS, "number of flows", 1, 32767)
                qo.flags |= PFQS_FLOWQUEUE
            elif word == "quantum":
                qo.quantum = self._queue_number(qo, QOM_QUANTUM, "quantum", 1, 65535)
            else:
                if first:
                    raise ParseSyntaxError
                return qo
            first = False

    def _queue_number(self, qo: QueueOpts, bit: int, what: str, low: int, high: int) -> int:
        """Parse `<keyword> number` for a queue option that may be given once and lies in [low, high]."""
        self.advance()
        value = self.number()
        self._once(qo, bit, f"{what} cannot be respecified")
        return self._in_range(value, low, high, f"{what} out of range: max {high}")

    def scspec(self) -> tuple[tuple[int, int], int, tuple[int, int]]:
        m2 = self.bandwidth()
        if self.accept_kw("burst"):
            m1 = self.bandwidth()
            self.expect_kw("for")
            text = str(self.expect(lx.STRING).value)
            digits = len(text) - len(text.lstrip("0123456789"))
            if text[digits:] != "ms":
                self.fail("time in scspec must be in ms")
            d = int(text[:digits] or "0")
            if m1[1] or m2[1]:
                self.fail("no bandwidth in % yet")
            return m1, d, m2
        if m2[1]:
            self.fail("no bandwidth in % yet")
        return (0, 0), 0, m2

    def bandwidth(self) -> tuple[int, int]:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value or 0)  # a NUMBER token's value is its int
            if value < 0 or value > LLONG_MAX:
                self.fail("bandwidth number too big")
            return value, 0
        text = str(self.expect(lx.STRING).value)
        bps, unit = _strtod(text)
        percent = 0
        if len(unit) > 1 and unit[1:] in ("Bit", "B", "bit", "b"):
            unit = unit[0]
        if unit == "b":
            pass
        elif unit == "K":
            bps *= 1000
        elif unit == "M":
            bps *= 1000 * 1000
        elif unit == "G":
            bps *= 1000 * 1000 * 1000
        elif unit == "%":
            if bps < 0 or bps > 100:
                self.fail("bandwidth spec out of range")
            percent = int(bps)
            bps = 0
        else:
            self.fail(f'unknown unit "{unit}"')
        if bps < 0 or bps > float(LLONG_MAX):
            self.fail("bandwidth number too big")
        return int(bps), percent

    def expand_queue(self, qname: str, interfaces: list[NodeIf] | None, qo: QueueOpts) -> None:
        for itf in interfaces or [NodeIf()]:
            if qo.parent is None and qo.marker & QOM_BWSPEC:
                qo.flags |= PFQS_ROOTCLASS
            if not qo.marker & QOM_BWSPEC and not qo.marker & QOM_FLOWS:
                self.yyerror("no bandwidth or flow specification")
                return
            if len(qname.encode()) >= PF_QNAME_SIZE:
                self.yyerror("queuename too long")
                return
            if qo.parent and len(qo.parent.encode()) >= PF_QNAME_SIZE:
                self.yyerror("parent too long")
                return
            q = QueueSpec(qname=qname, parent=qo.parent or "", ifname=itf.ifname, linkshare=qo.linkshare,
                          realtime=qo.realtime, upperlimit=qo.upperlimit, flows=qo.flows, quantum=qo.quantum,
                          flags=qo.flags, qlimit=qo.qlimit)
            if self.add_queue(q):
                self.yyerror("cannot add queue")
                return

    def add_queue(self, q: QueueSpec) -> bool:
        if self.anchor.name or self.state.anchorname:
            self.state.out("must not have queue definitions in an anchor", always=True)
            return True
        if not q.parent:
            for existing in self.state.rootqs:
                if existing.ifname == q.ifname:
                    self.state.out(f"A root queue is already defined on {q.ifname}", always=True)
                    return True
            self.state.rootqs.append(q)
        else:
            self.state.qspecs.append(q)
        return False
