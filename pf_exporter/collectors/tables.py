"""``pfctl -vsT`` / ``pfctl -sT -vv``: per-table statistics (DIOCRGETTSTATS), and, opt in, the
per-address counters of the tables named (``pfctl -t T -T show -v``; DIOCRGETASTATS), as
OPENBSD-PF-MIB's pfTblAddrTable serves them, for per-customer accounting.

Per-address series are bounded: ``--collector.tables.addresses.max`` addresses per scrape (default
10,000) over all tables; past it the collector exports what fits, ``pf_table_address_omitted``
says how many were left out and the log says so once per change.  Only tables with the
``counters`` flag keep per-address counters (pf.conf ``table <t> counters``); others are skipped.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re
from typing import Any, NamedTuple

from prometheus_client.core import Metric

from .base import Collector, KeptLabels, ScrapeView, counter, emit, gauge

log = logging.getLogger("pf_exporter.collectors.tables")

_T = ("anchor", "table")
_A = ("anchor", "table", "address")
DEFAULT_MAX_ADDRESSES = 10_000
TABLE_FLAGS = ("const", "persist", "counters", "active", "inactive", "referenced")


class TablesCollector(Collector):
    name = "tables"
    description = "tables and their statistics (`pfctl -vvsT`); anchor is \"\" for the main ruleset"
    specs = (
        gauge("pf_table_addresses", "Addresses in the table", *_T),
        counter("pf_table_packets_total", "Packets that matched the table, by the action of the rule "
                "(xpass: passed although the address is not in the table any more)", *_T, "direction", "action"),
        counter("pf_table_bytes_total", "Bytes that matched the table, by the action of the rule",
                *_T, "direction", "action"),
        counter("pf_table_evaluations_total", "Lookups in the table, by result", *_T, "result"),
        gauge("pf_table_references", "Rules or anchors referring to the table", *_T, "kind"),
        gauge("pf_table_cleared_timestamp_seconds", "When the table's counters were last cleared (Unix time)", *_T),
        gauge("pf_table_flags", "The table's flags as `pfctl -sT -v` shows them (1 when set)", *_T, "flag"),
        counter("pf_table_address_packets_total", "Packets of one table address, by direction and the rule's action "
                "(--collector.tables.addresses)", *_A, "direction", "action"),
        counter("pf_table_address_bytes_total", "Bytes of one table address, by direction and the rule's action",
                *_A, "direction", "action"),
        gauge("pf_table_address_cleared_timestamp_seconds", "When the address's counters were last cleared "
              "(Unix time)", *_A),
        gauge("pf_table_address_omitted", "Addresses of the selected tables left out of this scrape by "
              "--collector.tables.addresses.max (0: every one exported)"),
    )

    def __init__(self, addresses: bool = False, include: str = ".*",
                 max_addresses: int = DEFAULT_MAX_ADDRESSES) -> None:
        self.addresses = addresses
        self.include = re.compile(include)
        self.max_addresses = max_addresses
        self._warned = -1
        self._keys: KeptLabels[tuple[object, ...], _TableKeys] = KeptLabels()

    @classmethod
    def add_flags(cls, group: Any) -> None:
        group.add_argument("--collector.tables.addresses", dest="tables_addresses", action="store_true",
                           help="also export per-address counters of the tables with the `counters` flag")
        group.add_argument("--collector.tables.addresses.include", dest="tables_addresses_include", default=".*",
                           metavar="REGEX", type=_regex,
                           help="tables whose `anchor/table` (`table` for the main ruleset) matches, whole")
        group.add_argument("--collector.tables.addresses.max", dest="tables_addresses_max",
                           default=DEFAULT_MAX_ADDRESSES, type=_count, metavar="N",
                           help="at most N addresses per scrape over all tables (default %(default)s)")

    @classmethod
    def from_args(cls, args: Any) -> TablesCollector:
        return cls(addresses=bool(getattr(args, "tables_addresses", False)),
                   include=getattr(args, "tables_addresses_include", ".*"),
                   max_addresses=int(getattr(args, "tables_addresses_max", DEFAULT_MAX_ADDRESSES)))

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        addresses, cleared = f["pf_table_addresses"], f["pf_table_cleared_timestamp_seconds"]
        packets, nbytes = f["pf_table_packets_total"], f["pf_table_bytes_total"]
        evals, refs, flags = f["pf_table_evaluations_total"], f["pf_table_references"], f["pf_table_flags"]
        self._keys.start()
        for t in pf.tables():
            key = (t.anchor, t.name)
            packet_keys, byte_keys = tuple(t.packets), tuple(t.bytes)
            k = self._keys.get((key, packet_keys, byte_keys), _table_keys, key, packet_keys, byte_keys)
            addresses.add(key, t.addresses)
            packets.keys.extend(k.packets)
            packets.values.extend(t.packets.values())
            nbytes.keys.extend(k.bytes)
            nbytes.values.extend(t.bytes.values())
            evals.keys.extend(k.evaluations)
            evals.values.extend((t.matches, t.nomatches))
            refs.keys.extend(k.references)
            refs.values.extend((t.rule_references, t.anchor_references))
            cleared.add(key, t.cleared)
            flags.keys.extend(k.flags)
            flags.values.extend(_flag_values(t.flags))
        if self.addresses:
            self._addresses(pf, f)
        return emit(f.values())

    def _addresses(self, pf: ScrapeView, f: dict[str, Any]) -> None:
        packets, nbytes = f["pf_table_address_packets_total"].add, f["pf_table_address_bytes_total"].add
        cleared = f["pf_table_address_cleared_timestamp_seconds"].add
        room, omitted = self.max_addresses, 0
        for t in pf.tables():
            path = f"{t.anchor}/{t.name}" if t.anchor else t.name
            if "counters" not in t.flags or not self.include.fullmatch(path):
                continue
            if room <= 0:
                omitted += t.addresses
                continue
            got = pf.table_addresses(t.name, t.anchor, room)
            omitted += max(0, t.addresses - len(got))
            room -= len(got)
            for a in got:
                key = (t.anchor, t.name, str(a))
                for (direction, action), v in a.packets.items():
                    packets((*key, direction, action), v)
                for (direction, action), v in a.bytes.items():
                    nbytes((*key, direction, action), v)
                cleared(key, a.cleared)
        f["pf_table_address_omitted"].add1(omitted)
        if omitted != self._warned:
            if omitted:
                log.warning("per-address table counters capped at %d addresses: %d left out (raise "
                            "--collector.tables.addresses.max or narrow --collector.tables.addresses.include)",
                            self.max_addresses, omitted)
            self._warned = omitted


class _TableKeys(NamedTuple):
    """One table's label tuples for each family."""

    packets: tuple[tuple[str, ...], ...]
    bytes: tuple[tuple[str, ...], ...]
    evaluations: tuple[tuple[str, ...], ...]
    references: tuple[tuple[str, ...], ...]
    flags: tuple[tuple[str, ...], ...]


def _table_keys(key: tuple[str, str], packet_keys: tuple[tuple[str, str], ...],
                byte_keys: tuple[tuple[str, str], ...]) -> _TableKeys:
    packets = tuple((*key, d, a) for d, a in packet_keys)
    nbytes = packets if byte_keys == packet_keys else tuple((*key, d, a) for d, a in byte_keys)  # pf's: the same
    return _TableKeys(packets, nbytes, ((*key, "match"), (*key, "nomatch")), ((*key, "rule"), (*key, "anchor")),
                      tuple((*key, name) for name in TABLE_FLAGS))


@functools.cache
def _flag_values(flags: frozenset[str]) -> tuple[int, ...]:
    """pf_table_flags' values (1: set) in TABLE_FLAGS order, for one set of flags."""
    return tuple(1 if name in flags else 0 for name in TABLE_FLAGS)


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"not a regular expression: {e}") from None
    return text


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000_000:
        raise argparse.ArgumentTypeError("a number of addresses, 1 to 10000000")
    return int(text)
