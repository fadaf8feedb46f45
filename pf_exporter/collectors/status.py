"""``pfctl -si -v``: pf's global status, counters and syncookie state (DIOCGETSTATUS)."""

from __future__ import annotations

from prometheus_client.core import Metric

from .base import Collector, ScrapeView, counter, emit, flag, gauge

SYNCOOKIE_MODES = ("never", "always", "adaptive")
REASSEMBLE_MODES = ("no", "yes", "yes no-df")  # PF_REASS_ENABLED, PF_REASS_NODF


class StatusCollector(Collector):
    name = "status"
    description = "pf's global status as `pfctl -si -v` shows it"
    specs = (
        gauge("pf_info", "pf's identity: OpenBSD release, host id and ruleset checksum as `pfctl -si -v` prints them "
              "(always 1)", "release", "hostid", "ruleset_checksum"),
        gauge("pf_running", "1 when pf is enabled, 0 when it is disabled"),
        gauge("pf_enabled_seconds", "How long pf has been enabled, as `pfctl -si` computes it (0 when disabled)"),
        gauge("pf_status_changed_timestamp_seconds", "When pf was last enabled or disabled (Unix time)"),
        gauge("pf_reassemble", "`set reassemble` (1 for the current mode: no, yes, or yes no-df)", "mode"),
        gauge("pf_debug_level", "pf's debug (syslog) level: 0 emerg ... 7 debug (`set debug`)"),
        gauge("pf_states", "Current entries in the state table"),
        gauge("pf_states_halfopen", "Half-open TCP states"),
        gauge("pf_src_nodes", "Current entries in the source tracking table"),
        gauge("pf_fragments", "Current fragment entries held for reassembly"),
        counter("pf_counters_total", "Packets by pf's reason code (`pfctl -si` Counters)", "counter"),
        counter("pf_limit_counters_total", "Limit counters (`pfctl -si -v` Limit Counters)", "counter"),
        counter("pf_state_operations_total", "State table operations", "operation"),
        counter("pf_src_node_operations_total", "Source tracking table operations", "operation"),
        counter("pf_fragment_operations_total", "Fragment table operations", "operation"),
        gauge("pf_syncookies_active", "1 while pf answers SYNs with syncookies"),
        gauge("pf_syncookies_mode", "The configured `set syncookies` mode (1 for the active mode)", "mode"),
        gauge("pf_syncookies_inflight", "Syncookies sent and not yet validated or expired"),
        gauge("pf_syncookies_watermark_states", "Adaptive syncookies (`set syncookies adaptive (start, end)`): "
              "level high: half-open states above which they start; level low: half-open states plus "
              "syncookies in flight below which they end", "level"),
        counter("pf_loginterface_packets_total", "Packets on the `set loginterface` interface",
                "interface", "family", "direction", "action"),
        counter("pf_loginterface_bytes_total", "Bytes on the `set loginterface` interface",
                "interface", "family", "direction"),
    )

    def collect(self, pf: ScrapeView) -> list[Metric]:
        s = pf.status()
        f = self.families()
        f["pf_info"].add((pf.release, f"0x{s.hostid & 0xFFFFFFFF:08x}", f"0x{s.checksum}"), 1)
        f["pf_running"].add1(flag(s.running))
        f["pf_enabled_seconds"].add1(s.enabled_seconds)
        f["pf_status_changed_timestamp_seconds"].add1(s.changed)
        current = "no" if not s.reass & 1 else "yes no-df" if s.reass & 2 else "yes"
        for mode in REASSEMBLE_MODES:
            f["pf_reassemble"].add((mode,), flag(mode == current))
        f["pf_debug_level"].add1(s.debug)
        f["pf_states"].add1(s.states)
        f["pf_states_halfopen"].add1(s.states_halfopen)
        f["pf_src_nodes"].add1(s.src_nodes)
        f["pf_fragments"].add1(s.fragments)
        for fam, counts in (
            ("pf_counters_total", s.counters),
            ("pf_limit_counters_total", s.limit_counters),
            ("pf_state_operations_total", s.state_operations),
            ("pf_src_node_operations_total", s.src_node_operations),
            ("pf_fragment_operations_total", s.fragment_operations),
        ):
            add = f[fam].add
            for label, value in counts.items():
                add((label,), value)
        f["pf_syncookies_active"].add1(flag(s.syncookies_active))
        modes = SYNCOOKIE_MODES if s.syncookies_mode in SYNCOOKIE_MODES else (*SYNCOOKIE_MODES, s.syncookies_mode)
        for mode in modes:
            f["pf_syncookies_mode"].add((mode,), flag(mode == s.syncookies_mode))
        f["pf_syncookies_inflight"].add1(sum(s.syncookies_inflight))
        high, low = pf.syncookie_watermarks()
        f["pf_syncookies_watermark_states"].add(("high",), high)
        f["pf_syncookies_watermark_states"].add(("low",), low)
        if s.loginterface:
            ifname = s.loginterface
            for (family, direction, action), value in s.loginterface_packets.items():
                f["pf_loginterface_packets_total"].add((ifname, family, direction, action), value)
            for (family, direction), value in s.loginterface_bytes.items():
                f["pf_loginterface_bytes_total"].add((ifname, family, direction), value)
        return emit(f.values())
