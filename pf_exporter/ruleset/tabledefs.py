"""``table <name> ...`` definitions and table files (parse.y's tabledef, process_tabledef)."""

from __future__ import annotations

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NOROUTE,
    PF_ADDR_RANGE,
    PF_ADDR_TABLE,
    PF_ADDR_URPFFAILED,
    PF_TABLE_NAME_SIZE,
    PFR_TFLAG_CONST,
    PFR_TFLAG_COUNTERS,
    PFR_TFLAG_PERSIST,
)
from . import lexer as lx
from .addr import unmask
from .model import TableAddress, TableDef
from .nodes import (
    NodeHost,
    _strtonum,
    _table_address,
    _table_file_words,
)
from .options import OptionParsing
from .printer import format_tabledef


class TableParsing(OptionParsing):
    """Part of :class:`.parser.Parser` (tables)."""

    # -- tables -----------------------------------------------------------------------
    def tabledef(self) -> None:
        line = self.peek().line
        self.advance()
        self.expect_punct("<")
        name = str(self.expect(lx.STRING).value)
        self.expect_punct(">")
        flags = 0
        init_addr = False
        init: list[tuple[str, object]] = []
        while True:
            t = self.peek()
            if t.kind == lx.STRING:
                self.advance()
                opt = str(t.value)
                bit = {"const": PFR_TFLAG_CONST, "persist": PFR_TFLAG_PERSIST,
                       "counters": PFR_TFLAG_COUNTERS}.get(opt)
                if bit is None:
                    self.fail(f"invalid table option '{opt}'")
                flags |= bit
            elif self.accept_punct("{"):
                self.optnl()
                if self.accept_punct("}"):
                    init_addr = True
                    continue
                hosts = self.table_host_list()
                self.advance()
                for n in hosts:
                    problem = {
                        PF_ADDR_ADDRMASK: None,
                        PF_ADDR_RANGE: "address ranges are not permitted inside tables",
                        PF_ADDR_DYNIFTL: "dynamic addresses are not permitted inside tables",
                        PF_ADDR_TABLE: "tables cannot contain tables",
                        PF_ADDR_NOROUTE: '"no-route" is not permitted inside tables',
                        PF_ADDR_URPFFAILED: '"urpf-failed" is not permitted inside tables',
                    }.get(n.addr.type, f"unknown address type {n.addr.type}")
                    if problem:
                        self.fail(problem)
                init.append(("hosts", hosts))
                init_addr = True
            elif self.accept_kw("file"):
                init.append(("file", str(self.expect(lx.STRING).value)))
                init_addr = True
            else:
                break
        self.require_nl()
        if len(name.encode()) >= PF_TABLE_NAME_SIZE:
            self.fail(f"table name too long, max {PF_TABLE_NAME_SIZE - 1} chars")
        self.process_tabledef(name, flags, init_addr, init, line)

    def table_host_list(self) -> list[NodeHost]:
        hosts = self.tablespec()
        self.optnl()
        while not self.at_punct("}"):
            self.comma()
            hosts += self.tablespec()
            self.optnl()
        return hosts

    def tablespec(self) -> list[NodeHost]:
        if self.accept_punct("{"):
            self.optnl()
            hosts = self.table_host_list()
            self.advance()
            return hosts
        hosts = self.xhost()
        weight = self.optweight()
        if weight > 0:
            for n in hosts:
                n.weight = weight
        return hosts

    def process_tabledef(self, name: str, flags: int, init_addr: bool, init: list[tuple[str, object]],
                         line: int) -> None:
        addresses: list[TableAddress] = []
        printable: list[tuple[str, object]] = []
        for kind, value in init:
            if kind == "file":
                loaded = self.load_table_file(str(value))
                addresses += loaded
                printable.append(("file", value))
            else:
                hosts = value
                converted = []
                for n in hosts:  # type: ignore[attr-defined]  # hosts entries hold address lists
                    bits = 32 if n.af == AF_INET else 128
                    if n.af not in (AF_INET, AF_INET6) or unmask(n.addr.mask) > bits:
                        self.fail("cannot create address buffer: Invalid argument")
                    converted.append(_table_address(n))
                addresses += converted
                printable.append(("hosts", converted))
        self._count_table_addresses(len(addresses), f"table <{name}>")
        self.state.out(format_tabledef(name, flags, init_addr, printable))
        tdef = TableDef(name=name, flags=flags, init_addr=init_addr, init=printable, addresses=addresses,
                        anchor=self._anchor_path(), line=line)
        self.state.tables.append(tdef)
        self.state.table_owner[id(tdef)] = self.anchor

    def _count_table_addresses(self, n: int, what: str) -> None:
        limit = self.state.max_table_addresses
        self.state.table_addresses += n
        if limit is not None and self.state.table_addresses > limit:
            self.fail(f"{what} has {n} addresses, which takes the tables past the limit of {limit} addresses "
                      "per ruleset; fill large tables through the table address endpoints or pfctl -T")

    def load_table_file(self, path: str) -> list[TableAddress]:
        try:
            text = self.state.read_file(path)
        except OSError as e:
            self.fail(f'cannot load "{path}": {e.strerror}')
            raise AssertionError from None
        out: list[TableAddress] = []
        words = _table_file_words(text)
        i = 0
        while i < len(words):
            word = words[i]
            if word == "weight" and i + 1 < len(words):
                value = _strtonum(words[i + 1], 1, 0xFFFF)
                if isinstance(value, str):
                    self.warn(f"failed to convert weight {words[i + 1]}")
                    self.fail(f'file "{path}" contains bad data')
                if out:
                    out[-1].weight = value
                i += 2
                continue
            neg = False
            while word.startswith("!"):
                neg = not neg
                word = word[1:]
            hosts = self.host_lookup(word)
            if hosts is None:
                self.fail(f'file "{path}" contains bad data')
            for n in hosts:
                a = _table_address(n)
                a.neg = a.neg != neg
                out.append(a)
            i += 1
        return out
