"""``pfctl [-a anchor] -sr``: print rulesets as the kernel holds them once loaded, with
anchors shown inline when pfctl recurses into them (``-a 'path/*'`` or unnamed anchors)."""

from __future__ import annotations

from .model import Anchor, RuleDef
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


def anchor_pattern(anchor: str) -> tuple[str, bool, bool]:
    """pfctl's -a argument: (path, wildcard, recurse); "a/*" shows a's children, "a*" a and below."""
    if anchor.endswith("/*"):
        return anchor[:-2], True, True
    if anchor.endswith("*"):
        return anchor[:-1], False, True
    return anchor, False, False


def format_show_rules(ruleset: Ruleset, anchor: str = "") -> str:
    """The output of ``pfctl -a ANCHOR -sr`` after *ruleset* was loaded (without -v)."""
    anchor, wildcard, recurse = anchor_pattern(anchor)
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


def _call(path: str, r: RuleDef) -> str:
    if r.anchor is None:
        return ""
    target = r.anchor.loaded_path if r.anchor.inline else resolve_anchor(path, r.anchor.path)
    return kernel_anchor_call(path, target)


__all__ = ["format_show_rules", "kernel_anchor_call", "resolve_anchor", "Anchor"]
