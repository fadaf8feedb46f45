"""``pfctl [-a anchor] -sr``: print rulesets as the kernel holds them once loaded, with
anchors shown inline when pfctl recurses into them (``-a 'path/*'`` or unnamed anchors)."""

from __future__ import annotations

import ctypes
from typing import Protocol

from ..abi.constants import PFRULE_EXPIRED
from .model import Anchor, Rule
from .pfctl import Ruleset
from .printer import format_rule


def kernel_anchor_call(ruleset_path: str, target_path: str) -> str:
    """The anchor_call DIOCGETRULE reports: the called path relative to the calling
    ruleset (pf_anchor_copyout()), or absolute with a leading "/"."""
    if not ruleset_path:
        return target_path
    prefix = ruleset_path + "/"
    if target_path.startswith(prefix):
        return target_path[len(prefix):]
    return "/" + target_path


def resolve_anchor(ruleset_path: str, call: str) -> str:
    """pf_anchor_setup(): where an anchor call from *ruleset_path* leads."""
    if call.startswith("/"):
        return call[1:]
    parts = ruleset_path.split("/") if ruleset_path else []
    rest = call
    while rest.startswith("../"):
        parts = parts[:-1]
        rest = rest[3:]
    return "/".join([*parts, rest]) if rest else "/".join(parts)


def _anchor_pattern(anchor: str) -> tuple[str, bool, bool]:
    """pfctl's -a argument: (path, wildcard, recurse); "a/*" shows a's children, "a*" a and below."""
    if anchor.endswith("/*"):
        return anchor[:-2], True, True
    if anchor.endswith("*"):
        return anchor[:-1], False, True
    return anchor, False, False


def format_show_rules(ruleset: Ruleset, anchor: str = "") -> str:
    """The output of ``pfctl -a ANCHOR -sr`` after *ruleset* was loaded (without -v)."""
    anchor, wildcard, recurse = _anchor_pattern(anchor)
    lines: list[str] = []
    _show(ruleset, anchor, 0, wildcard, recurse, lines)
    return "".join(line + "\n" for line in lines)


def _show(ruleset: Ruleset, path: str, depth: int, wildcard: bool, recurse: bool, lines: list[str]) -> None:
    rs = ruleset.anchors.get(path)
    rules = rs.rules if rs is not None else []
    indent = "  " * depth
    for r in rules:
        wildcard = False
        call = _call(path, r)
        text = indent + format_rule(r, call)
        if call and (call.rsplit("/", 1)[-1].startswith("_") or recurse):
            lines.append(text + " {")
            _show(ruleset, resolve_anchor(path, call), depth + 1, False, recurse, lines)
            lines.append(indent + "}")
        else:
            lines.append(text)
    if wildcard and recurse:
        prefix = path + "/" if path else ""
        children = sorted({p[len(prefix):].split("/", 1)[0] for p in ruleset.anchors
                           if p.startswith(prefix) and p != path})
        for name in children:
            lines.append(f'{indent}anchor "{name}" all {{')
            _show(ruleset, prefix + name, depth + 1, False, recurse, lines)
            lines.append(indent + "}")


def _call(path: str, r: Rule) -> str:
    if r.anchor is None:
        return ""
    target = r.anchor.loaded_path if r.anchor.inline else resolve_anchor(path, r.anchor.path)
    return kernel_anchor_call(path, target)


__all__ = ["format_show_rules", "kernel_anchor_call", "resolve_anchor", "Anchor"]


# -- reading back from the kernel ------------------------------------------------------------
SKIP_LABELS = ("i", "d", "r", "f", "p", "sa", "da", "sp", "dp")  # PF_SKIP_* order of OpenBSD 7.6-7.9


class KernelRules(Protocol):
    """Where ``pfctl -sr`` reads from: DIOCGETRULES/DIOCGETRULE and DIOCGETRULESETS."""

    def rules(self, path: str) -> list[tuple[ctypes.Structure, str]]: ...  # (struct pf_rule, anchor_call)

    def children(self, path: str) -> list[str]: ...


def format_rule_counters(raw: ctypes.Structure, verbose: bool, debug: bool) -> list[str]:
    """pfctl_print_rule_counters(): the bracketed lines after a rule with -v/-g."""
    lines = []
    if debug:
        nr = int(raw.nr)
        steps = []
        for label, skip in zip(SKIP_LABELS, raw.skip, strict=False):
            target = int(skip.nr)
            if target == nr + 1:
                continue
            steps.append(f"{label}=" + ("end" if target == 0xFFFFFFFF else str(target)) + " ")
        lines.append("  [ Skip steps: " + "".join(steps) + "]")
        lines.append(f"  [ queue: qname={_cstr(raw.qname)} qid={raw.qid} pqname={_cstr(raw.pqname)} "
                     f"pqid={raw.pqid} ]")
    if verbose:
        packets = int(raw.packets[0]) + int(raw.packets[1])
        nbytes = int(raw.bytes[0]) + int(raw.bytes[1])
        lines.append(f"  [ Evaluations: {int(raw.evaluations):<8d}  Packets: {packets:<8d}  "
                     f"Bytes: {nbytes:<10d}  States: {int(raw.states_cur):<6d}]")
        if not debug:
            lines.append(f"  [ Inserted: uid {int(raw.cuid)} pid {int(raw.cpid)} "
                         f"State Creations: {int(raw.states_tot):<6d}]")
    return lines


def _cstr(value: object) -> str:
    raw = value if isinstance(value, bytes) else bytes(value)  # type: ignore[call-overload]
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def show_kernel_rules(source: KernelRules, anchor: str = "", *, verbose: int = 0, debug: bool = False,
                      protocol_names: dict[int, str] | None = None) -> str:
    """``pfctl [-a ANCHOR] -s rules`` with -v (verbose=1), -vv (2) and -g (debug)."""
    from .structs import decode_rule

    anchor, wildcard, recurse = _anchor_pattern(anchor)
    lines: list[str] = []

    def indent(depth: int) -> str:
        return "" if verbose else "  " * depth

    def show(path: str, depth: int, wild: bool) -> None:
        for raw, call in source.rules(path):
            wild = False
            r = decode_rule(raw)
            text = indent(depth) + format_rule(r, call, verbose=verbose >= 2, debug=debug,
                                               protocol_names=protocol_names)
            if call and (call.rsplit("/", 1)[-1].startswith("_") or recurse):
                lines.append(text + " {")
                lines.extend(format_rule_counters(raw, bool(verbose), debug))
                show(resolve_anchor(path, call), depth + 1, bool(raw.anchor_wildcard))
                lines.append(indent(depth) + "}")
            elif not (r.rule_flag & PFRULE_EXPIRED and not (verbose >= 2 or debug)):
                lines.append(text)
                lines.extend(format_rule_counters(raw, bool(verbose), debug))
        if wild and recurse:
            for name in source.children(path):
                lines.append(f'{indent(depth)}anchor "{name}" all {{')
                show(f"{path}/{name}" if path else name, depth + 1, False)
                lines.append(indent(depth) + "}")

    show(anchor, 0, wildcard)
    return "".join(line + "\n" for line in lines)
