"""``pfctl -vsT`` / ``pfctl -sT -vv``: per-table statistics (DIOCRGETTSTATS)."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, counter, emit, gauge

_T = ("anchor", "table")


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
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        f = self.families()
        addresses = f["pf_table_addresses"].add
        packets, nbytes = f["pf_table_packets_total"].add, f["pf_table_bytes_total"].add
        evals, refs = f["pf_table_evaluations_total"].add, f["pf_table_references"].add
        cleared = f["pf_table_cleared_timestamp_seconds"].add
        for t in pf.tables():
            key = (t.anchor, t.name)
            addresses(key, t.addresses)
            for (direction, action), v in t.packets.items():
                packets((*key, direction, action), v)
            for (direction, action), v in t.bytes.items():
                nbytes((*key, direction, action), v)
            evals((*key, "match"), t.matches)
            evals((*key, "nomatch"), t.nomatches)
            refs((*key, "rule"), t.rule_references)
            refs((*key, "anchor"), t.anchor_references)
            cleared(key, t.cleared)
        return emit(f.values())
