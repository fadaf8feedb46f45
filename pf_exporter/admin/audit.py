"""The audit log: one JSON line per admin request, whatever its outcome.

Each line has ``time`` (UTC, RFC 3339), ``identity`` (``token:<name>``, ``cn:<CN>`` or ``-``
when authentication failed), ``remote`` (address:port, or ``unix`` plus the peer's uid
when known), ``method``, ``path``, ``action``, ``params`` (the key parameters: anchor,
table, counts, a bounded sample of addresses, the state filter), ``status`` and
``outcome`` (``ok``, ``rejected``, ``denied`` or ``failed``), and ``message`` for errors.
JSON keeps every line one line whatever a client sends.  Tokens, Authorization headers
and request bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

MAX_VALUE_CHARS = 256
MAX_LIST_ITEMS = 20


def _bounded(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "..."
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping) and depth < 3:
        return {str(k)[:64]: _bounded(v, depth + 1) for k, v in list(value.items())[:MAX_LIST_ITEMS]}
    if isinstance(value, list | tuple) and depth < 3:
        items = [_bounded(v, depth + 1) for v in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            items.append(f"... {len(value) - MAX_LIST_ITEMS} more")
        return items
    return _bounded(str(value), depth)


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    if status >= 500 or status == 409:
        return "failed"
    return "rejected"


class AuditLog:
    """Writes audit lines to a logger and, optionally, to an append-only file (mode 0600)."""

    def __init__(self, logger: logging.Logger | None = None, path: str | None = None) -> None:
        self.logger = logger or logging.getLogger("pf_exporter.admin.audit")
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            self._file = os.fdopen(fd, "a", buffering=1, encoding="utf-8")

    def record(
        self,
        *,
        identity: str,
        remote: str,
        method: str,
        path: str,
        action: str,
        params: Mapping[str, Any] | None,
        status: int,
        message: str | None = None,
        now: float | None = None,
    ) -> str:
        t = time.time() if now is None else now
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z",
            "identity": identity,
            "remote": remote,
            "method": method[:16],
            "path": path[:512],
            "action": action,
            "params": _bounded(dict(params or {})),
            "status": status,
            "outcome": outcome_of(status),
        }
        if message:
            entry["message"] = message[:512]
        line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), sort_keys=False)
        with self._lock:
            self.logger.info("%s", line)
            if self._file is not None:
                self._file.write(line + "\n")
        return line

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
