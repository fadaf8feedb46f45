"""What ``pfctl -s ...`` prints, from the library's values (pfctl.c, pfctl_parser.c's print_status,
pf_print_state.c's print_state / print_src_node), and the ``--json`` form of each."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from ..pf import types as T

LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# pfctl_parser.c pf_timeouts[]: pfctl's order (not the kernel's PFTM_* order)
TIMEOUT_ORDER = ("tcp.first", "tcp.opening", "tcp.established", "tcp.closing", "tcp.finwait", "tcp.closed",
                 "tcp.tsdiff", "udp.first", "udp.single", "udp.multiple", "icmp.first", "icmp.error", "other.first",
                 "other.single", "other.multiple", "frag", "interval", "adaptive.start", "adaptive.end", "src.track")
ADAPTIVE = ("adaptive.start", "adaptive.end")
def _duration(seconds: int) -> str:
    sec, rest = seconds % 60, seconds // 60
    return f"{rest // 60:02d}:{rest % 60:02d}:{sec:02d}"


def _rate(value: int, runtime: int) -> str:
    return f"{value / runtime:14.1f}/s" if runtime > 0 else f"{'':14s}"


def info(st: T.Status, watermarks: tuple[int, int], verbose: int) -> str:
    """``pfctl -s info`` (print_status)."""
    out: list[str] = []
    runtime = st.enabled_seconds
    running = "Enabled" if st.running else "Disabled"
    if runtime:
        days, rest = divmod(runtime, 86400)
        line = f"Status: {running} for {days} days {_duration(rest)}"
    else:
        line = f"Status: {running}"
    debug = LOG_LEVELS[st.debug] if 0 <= st.debug < len(LOG_LEVELS) else str(st.debug)
    out.append(f"{line:<44s}{'Debug: ' + debug:>15s}\n")
    if verbose:
        out.append(f"Hostid:   0x{st.hostid:08x}")
        out.append(f"Checksum: 0x{st.checksum}\n")
    if st.loginterface:
        out.append(f"Interface Stats for {st.loginterface:<16s} {'IPv4':>5s} {'IPv6':>16s}")
        b, p = st.loginterface_bytes, st.loginterface_packets
        out.append(f"  {'Bytes In':<25s} {b[('inet', 'in')]:14d} {b[('inet6', 'in')]:16d}")
        out.append(f"  {'Bytes Out':<25s} {b[('inet', 'out')]:14d} {b[('inet6', 'out')]:16d}")
        for d, title in (("in", "Packets In"), ("out", "Packets Out")):
            out.append(f"  {title}")
            for act, name in (("pass", "Passed"), ("block", "Blocked")):
                out.append(f"    {name:<23s} {p[('inet', d, act)]:14d} {p[('inet6', d, act)]:16d}")
        out[-1] += "\n"
    out.append(f"{'State Table':<27s} {'Total':>14s} {'Rate':>16s}")
    out.append(f"  {'current entries':<25s} {st.states:14d} {'':14s}")
    out.append(f"  {'half-open tcp':<25s} {st.states_halfopen:14d} {'':14s}")
    out.extend(f"  {k:<25s} {v:14d} {_rate(v, runtime)}" for k, v in st.state_operations.items())
    if verbose:
        out.append("Source Tracking Table")
        out.append(f"  {'current entries':<25s} {st.src_nodes:14d} {'':14s}")
        out.extend(f"  {k:<25s} {v:14d} {_rate(v, runtime)}" for k, v in st.src_node_operations.items())
    out.append("Counters")
    out.extend(f"  {k:<25s} {v:14d} {_rate(v, runtime)}" for k, v in st.counters.items())
    if verbose:
        out.append("Limit Counters")
        out.extend(f"  {k:<25s} {v:14d} {_rate(v, runtime)}" for k, v in st.limit_counters.items())
    out.append("Syncookies")
    out.append(f"  {'mode':<25s} {st.syncookies_mode:>14s}")
    out.append(f"  {'active':<25s} {'active' if st.syncookies_active else 'inactive':>14s}")
    if verbose >= 2:
        out.append(f"  {'limit start':<25s} {watermarks[0]:10d} states")
        out.append(f"  {'limit end':<25s} {watermarks[1]:10d} states")
    return "".join(line + "\n" for line in out)


def memory(limits: Mapping[str, int]) -> str:
    """``pfctl -s memory`` (pfctl_show_limits)."""
    return "".join(f"{name:<13s} " + ("unlimited" if v == 0xFFFFFFFF else f"hard limit {v:8d}") + "\n"
                   for name, v in limits.items())


def timeouts(values: Mapping[str, int]) -> str:
    """``pfctl -s timeouts`` (pfctl_show_timeouts)."""
    names = [n for n in TIMEOUT_ORDER if n in values] + [n for n in values if n not in TIMEOUT_ORDER]
    return "".join(f"{n:<20s} {values[n]:10d}" + (" states" if n in ADAPTIVE else "s") + "\n" for n in names)


def labels(rules: Iterable[T.Rule]) -> str:
    """``pfctl -s labels``: per labelled rule, evaluations, packets, bytes, in, out, state creations."""
    return "".join(
        f"{r.label} {r.evaluations} {r.packets_in + r.packets_out} {r.bytes_in + r.bytes_out} {r.packets_in} "
        f"{r.bytes_in} {r.packets_out} {r.bytes_out} {r.states_total}\n" for r in rules if r.label)


TABLE_FLAG_LETTERS = (("const", "c"), ("persist", "p"), ("active", "a"), ("inactive", "i"), ("referenced", "r"),
                      ("refdanchor", "h"), ("counters", "C"))
TABLE_STATS = (("in", "block", "In/Block:"), ("in", "match", "In/Match:"), ("in", "pass", "In/Pass:"),
               ("in", "xpass", "In/XPass:"), ("out", "block", "Out/Block:"), ("out", "match", "Out/Match:"),
               ("out", "pass", "Out/Pass:"), ("out", "xpass", "Out/XPass:"))


def table_line(t: T.Table, verbose: int) -> str:
    """One table of ``pfctl -s Tables`` (print_table): the name; with -v its flags and anchor; with
    -vv its statistics too (print_tstats)."""
    if not verbose:
        return t.name + "\n"
    flags = "".join(letter if name in t.flags else "-" for name, letter in TABLE_FLAG_LETTERS)
    line = f"{flags}\t{t.name}" + (f"\t{t.anchor}" if t.anchor else "") + "\n"
    if verbose < 2:
        return line
    lines = [f"\tAddresses:   {t.addresses}",
             f"\tCleared:     {time.ctime(t.cleared)}",
             f"\tReferences:  [ Anchors: {t.anchor_references:<18d} Rules: {t.rule_references:<18d} ]",
             f"\tEvaluations: [ NoMatch: {t.nomatches:<18d} Match: {t.matches:<18d} ]"]
    lines += [f"\t{title:<12s} [ Packets: {t.packets[(d, a)]:<18d} Bytes: {t.bytes[(d, a)]:<18d} ]"
              for d, a, title in TABLE_STATS]
    return line + "".join(x + "\n" for x in lines)


def address_line(a: T.TableAddress, verbose: int) -> str:
    """One address of ``pfctl -T show`` (print_astats): ``   addr`` / ``  !addr``; with -v its counters."""
    text = f"  {'!' if a.negated else ' '}{a.network.network_address}" + (
        "" if a.network.prefixlen == a.network.max_prefixlen else f"/{a.network.prefixlen}")
    if a.interface:
        text += f"@{a.interface}"
    if a.weight > 1:
        text += f"\n\tWeight: {a.weight:13d}"
    if not verbose or not a.packets:
        return text + "\n"
    lines = [text, f"\tCleared:     {time.ctime(a.cleared)}"]
    for d in T.DIRECTIONS:
        for act in T.ADDRESS_ACTIONS:
            title = f"{d.capitalize()}/{act.capitalize()}:"
            lines.append(f"\t{title:<12s} [ Packets: {a.packets[(d, act)]:<18d} Bytes: {a.bytes[(d, act)]:<18d} ]")
    return "".join(x + "\n" for x in lines)


def _state_name(proto: int, value: int) -> str:
    return T.peer_state_name(proto, value)


def _end(addr: T.IPAddress, port: int) -> str:
    if not port:
        return str(addr)
    return f"{addr}[{port}]" if addr.version == 6 else f"{addr}:{port}"


def state_line(s: T.State, verbose: int) -> str:
    """One state of ``pfctl -s states`` (print_state): interface, protocol, the key as pf sees it
    (``->`` outbound, ``<-`` inbound, with the translated side in parentheses), both ends' states."""
    proto = T.protocol_name(s.protocol)
    # print_state(): the stack key for outbound states, the wire key for inbound ones, its
    # addr[1] first; the other key's address in parentheses where a translation changed it
    k, w = (s.stack, s.wire) if s.direction == "out" else (s.wire, s.stack)

    def side(i: int) -> str:
        text = _end(k.addresses[i], k.ports[i])
        if (w.addresses[i], w.ports[i]) != (k.addresses[i], k.ports[i]):
            text += f" ({_end(w.addresses[i], w.ports[i])})"
        return text

    key = side(1) + (" -> " if s.direction == "out" else " <- ") + side(0)
    line = f"{s.interface} {proto} {key}       {_state_name(s.protocol, s.src_state)}:" \
           f"{_state_name(s.protocol, s.dst_state)}\n"
    if verbose:
        line += (f"   age {_duration(s.creation)}, expires in {_duration(s.expire)}, {s.packets[0]}:{s.packets[1]} "
                 f"pkts, {s.bytes[0]}:{s.bytes[1]} bytes" + (f", rule {s.rule}" if s.rule is not None else "") + "\n")
        if verbose >= 2:
            line += f"   id: {s.id:016x} creatorid: {s.creator_id:08x}\n"
    return line


def source_line(n: T.SourceNode, verbose: int) -> str:
    """One node of ``pfctl -s Sources`` (print_src_node)."""
    rate = int(n.rate * 1000)
    line = (f"{n.address} -> {n.redirect} ( states {n.states}, connections {n.connections}, rate "
            f"{rate // 1000}.{(rate % 1000) // 100}/{n.rate_seconds}s )\n")
    if verbose:
        line += f"   age {_duration(n.age)}"
        if n.states == 0:
            line += f", expires in {_duration(n.expires_in)}"
        line += f", {sum(n.packets)} pkts, {sum(n.bytes)} bytes"
        if n.rule is not None:
            line += f", {n.kind} rule {n.rule}"
        line += "\n"
    return line


def interface_line(i: T.Interface, verbose: int) -> str:
    """One interface of ``pfctl -s Interfaces`` (print_iface): the name, ``(skip)``; with -v counters."""
    line = i.name + (" (skip)" if i.skip else "") + "\n"
    if not verbose:
        return line
    rows = [f"\tCleared:     {time.ctime(i.cleared)}", f"\tReferences:  [ States:  {i.states:<18d} Rules: "
            f"{i.rules:<18d} ]"]
    for fam, v in (("inet", "4"), ("inet6", "6")):
        for d in T.DIRECTIONS:
            for act in ("pass", "block"):
                title = f"{d.capitalize()}{v}/{act.capitalize()}:"
                rows.append(f"\t{title:<12s} [ Packets: {i.packets[(fam, d, act)]:<18d} "
                            f"Bytes: {i.bytes[(fam, d, act)]:<18d} ]")
    return line + "".join(r + "\n" for r in rows)


def queue_line(q: T.Queue, verbose: int) -> str:
    """One queue of ``pfctl -s queue``: its definition as pf.conf writes it; -v adds statistics."""
    line = f"queue {q.name}" + (f" parent {q.parent}" if q.parent else f" on {q.interface}")
    if q.bandwidth:
        line += f" bandwidth {_bits(q.bandwidth)}"
    if q.min_bandwidth:
        line += f", min {_bits(q.min_bandwidth)}"
    if q.max_bandwidth:
        line += f", max {_bits(q.max_bandwidth)}"
    if q.qlimit:
        line += f" qlimit {q.qlimit}"
    line += "\n"
    if verbose:
        s = q.stats
        line += (f"  [ pkts: {s.packets:10d}  bytes: {s.bytes:10d}  dropped pkts: {s.dropped_packets:6d} "
                 f"bytes: {s.dropped_bytes:6d} ]\n  [ qlength: {s.length:3d}/{q.qlimit:3d} ]\n")
    return line


def _bits(v: int) -> str:
    for unit, scale in (("G", 1_000_000_000), ("M", 1_000_000), ("K", 1000)):
        if v >= scale and v % scale == 0:
            return f"{v // scale}{unit}"
    return str(v)


def fingerprints(fps: Iterable[T.OsFingerprint]) -> str:
    """``pfctl -s osfp``: the classes, versions and subtypes pf knows, one per line, in columns."""
    rows: list[tuple[str, str, str]] = []
    for f in fps:
        row = (f.os_class, f.version, f.subtype)
        if row not in rows:
            rows.append(row)
    rows.sort(key=lambda r: (r[0].lower(), r[1].lower(), r[2].lower()))
    head = ("Class", "Version", "Subtype(subversion)")
    widths = [max([len(head[i]), *(len(r[i]) for r in rows)]) for i in range(3)]
    lines = [head, ("-----", "-------", "-------------------"), *rows]
    return "".join(f"{a:<{widths[0]}} {b:<{widths[1]}} {c:<{widths[2]}}".rstrip() + "\n" for a, b, c in lines)


def limiters(states: Iterable[T.StateLimiter], sources: Iterable[T.SourceLimiter],
             entries: Mapping[int, list[T.SourceEntry]] | None = None) -> str:
    """OpenBSD 7.9 limiters, as pf.conf declares them, with what they hold; with *entries* (-v)
    each source limiter's addresses."""
    out = []
    for sl in states:
        rate = f" rate {sl.rate_limit}/{sl.rate_seconds}" if sl.rate_limit else ""
        out.append(f"state limiter \"{sl.name}\" id {sl.id} limit {sl.limit}{rate}"
                   f"  [ inuse {sl.inuse} admitted {sl.admitted} hardlimited {sl.hardlimited} "
                   f"ratelimited {sl.ratelimited} ]")
    for s in sources:
        rate = f" rate {s.rate_limit}/{s.rate_seconds}" if s.rate_limit else ""
        out.append(f"source limiter \"{s.name}\" id {s.id} entries {s.entries} limit {s.limit}{rate}"
                   f"  [ sources {s.nentries} inuse {s.inuse} admitted {s.admitted} hardlimited {s.hardlimited} ]")
        for e in (entries or {}).get(s.id, []):
            out.append(f"   {e.network}" + (f" rdomain {e.rdomain}" if e.rdomain else "") +
                       f"  [ states {e.states} admitted {e.admitted} hardlimited {e.hardlimited} "
                       f"ratelimited {e.ratelimited} ]")
    return "".join(x + "\n" for x in out)
