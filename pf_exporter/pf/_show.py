"""``pfctl [-a anchor] -s rules [-v[v]] [-g]``: the kernel's rules printed as pfctl prints them,
anchors shown inline where pfctl recurses into them (``-a 'path/*'`` or unnamed anchors)."""

from __future__ import annotations

from collections.abc import Callable

from ..abi.constants import PFRULE_EXPIRED
from ..ruleset.printer import format_rule
from ..ruleset.show import anchor_pattern, resolve_anchor
from ._codec import KernelRule

SKIP_LABELS = ("i", "d", "r", "f", "p", "sa", "da", "sp", "dp")  # PF_SKIP_* order of OpenBSD 7.6-7.9


def format_rule_counters(k: KernelRule, verbose: bool, debug: bool) -> list[str]:
    """pfctl_print_rule_counters(): the bracketed lines after a rule with -v/-g."""
    lines = []
    r = k.rule
    if debug:
        steps = []
        for label, target in zip(SKIP_LABELS, k.skip, strict=False):
            if target == r.nr + 1:
                continue
            steps.append(f"{label}=" + ("end" if target == 0xFFFFFFFF else str(target)) + " ")
        lines.append("  [ Skip steps: " + "".join(steps) + "]")
        lines.append(f"  [ queue: qname={r.qname} qid={k.qid} pqname={r.pqname} pqid={k.pqid} ]")
    if verbose:
        packets = k.packets[0] + k.packets[1]
        nbytes = k.bytes[0] + k.bytes[1]
        lines.append(f"  [ Evaluations: {k.evaluations:<8d}  Packets: {packets:<8d}  "
                     f"Bytes: {nbytes:<10d}  States: {k.states_cur:<6d}]")
        if not debug:
            lines.append(f"  [ Inserted: uid {k.cuid} pid {k.cpid} State Creations: {k.states_tot:<6d}]")
    return lines


def show_rules(rules: Callable[[str], list[KernelRule]], children: Callable[[str], list[str]], anchor: str = "", *,
               verbose: int = 0, debug: bool = False, protocol_names: dict[int, str] | None = None) -> str:
    """``pfctl [-a ANCHOR] -s rules`` with -v (verbose=1), -vv (2) and -g (debug); *rules(path)* and
    *children(path)* read the kernel."""
    anchor, wildcard, recurse = anchor_pattern(anchor)
    lines: list[str] = []

    def indent(depth: int) -> str:
        return "" if verbose else "  " * depth

    def show(path: str, depth: int, wild: bool) -> None:
        for k in rules(path):
            wild = False
            r, call = k.rule, k.anchor_call
            text = indent(depth) + format_rule(r, call, verbose=verbose >= 2, debug=debug,
                                               protocol_names=protocol_names)
            if call and (call.rsplit("/", 1)[-1].startswith("_") or recurse):
                lines.append(text + " {")
                lines.extend(format_rule_counters(k, bool(verbose), debug))
                show(resolve_anchor(path, call), depth + 1, k.anchor_wildcard)
                lines.append(indent(depth) + "}")
            elif not (r.rule_flag & PFRULE_EXPIRED and not (verbose >= 2 or debug)):
                lines.append(text)
                lines.extend(format_rule_counters(k, bool(verbose), debug))
        if wild and recurse:
            for name in children(path):
                lines.append(f'{indent(depth)}anchor "{name}" all {{')
                show(f"{path}/{name}" if path else name, depth + 1, False)
                lines.append(indent(depth) + "}")

    show(anchor, 0, wildcard)
    return "".join(line + "\n" for line in lines)
