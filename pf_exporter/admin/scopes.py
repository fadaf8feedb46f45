"""What a token may do: its scopes, and the check every request passes after authentication.

Scopes (after the token in the token file, blank- or comma-separated; none means ``all``):

=======================  ================================================================
``all``                  everything (the default for a token without scopes)
``read``                 every GET: status, options, anchors, rules, tables, states, sources
``rules``                replace an anchor's rules (``PUT .../rules``), zero rule counters
``tables``               every table: create, delete, flags, flush, addresses, test, zero, expire
``tables:<name>``        one table of the main ruleset, ``tables:<anchor>/<name>`` one of an
                         anchor: its addresses (list, add, delete, replace, flush, test, zero,
                         expire) and nothing else
``states``               kill states, kill and flush source nodes, clear source limiter entries
``options``              runtime options (``PUT /options``), zero pf's counters, OS fingerprints
``enable``               enable and disable pf
``carp``                 demote a carp group (``POST /carp/demote``: a planned failover)
=======================  ================================================================

A request outside the caller's scopes is refused with 403 before anything is read or changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ApiError

SCOPES = ("all", "read", "rules", "tables", "states", "options", "enable", "carp")
_TABLE_PATH = re.compile(r"^([A-Za-z0-9_.+@:-]{1,64}/){0,16}[A-Za-z0-9_.+@:-]{1,31}$")


def parse_scopes(text: str) -> frozenset[str] | None:
    """The scopes written after a token; None (all) when there are none.  ValueError names a bad one."""
    words = [w for w in re.split(r"[\s,]+", text.strip()) if w]
    if not words:
        return None
    out = set()
    for i, w in enumerate(words, 1):
        if w in SCOPES:
            out.add(w)
        elif w.startswith("tables:"):
            path = w[len("tables:"):]
            if not _TABLE_PATH.match(path) or any(p in (".", "..") for p in path.split("/")):
                raise ValueError(f"scope {i} after the token: name a table as tables:<table> or "
                                 "tables:<anchor>/<table>")
            out.add(w)
        else:
            # not echoed: it may be the rest of a token someone wrote with a space in it
            raise ValueError(f"word {i} after the token is not a scope (scopes are {', '.join(SCOPES)} and "
                             "tables:<anchor/table>); a token itself is printable ASCII without spaces")
    return None if "all" in out else frozenset(out)


@dataclass(frozen=True)
class Need:
    """What one route needs: a scope, and for a one-table operation the table's path."""

    scope: str  # one of SCOPES but "all"
    table: str | None = None  # "<anchor>/<name>" or "<name>": a tables:<path> scope also allows it


def allowed(scopes: frozenset[str] | None, need: Need) -> bool:
    if scopes is None:
        return True
    if need.scope in scopes:
        return True
    return need.table is not None and f"tables:{need.table}" in scopes


def authorize(identity: object, scopes: frozenset[str] | None, need: Need, action: str) -> None:
    """403 unless *scopes* allow *need*."""
    if allowed(scopes, need):
        return
    what = f"the scope {need.scope!r}" + (f" or 'tables:{need.table}'" if need.table is not None else "")
    has = ", ".join(sorted(scopes or ())) or "none"
    raise ApiError(403, f"{identity} may not do {action}: it needs {what} (its scopes: {has})")
