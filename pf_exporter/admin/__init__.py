"""The admin API: authenticated, audited changes to pf over HTTP (off by default).

The CLI wires it with :func:`add_admin_flags`, :func:`admin_config_from_args` and
:func:`build_admin_server`; see :mod:`.api` for the routes and :mod:`.rules` for the
JSON rule schema.  The names below are imported on first use, so the flags
(:mod:`.flags`) do not pull in the API, the ruleset compiler and the server.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AdminConfig": "flags", "AdminConfigError": "flags", "add_admin_flags": "flags",
    "admin_config_from_args": "flags", "admin_files": "config", "build_admin_server": "config",
    "reload_admin": "config", "reload_admin_web_config": "config", "AdminServer": "server",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
