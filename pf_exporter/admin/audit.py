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

import errno
import json
import logging
import os
import stat
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
    if status in (401, 403, 429):
        return "denied"
    if status >= 500 or status == 409:
        return "failed"
    return "rejected"


def open_audit_file(path: str, create: bool = True) -> int:
    """Open (or, with *create*, create mode 0600) the audit file for appending; OSError with a
    message naming the fix for a symlink, something not a regular file (a FIFO would block), or a
    file that group or others may write (they could forge or erase audit lines)."""
    flags = (os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0) | (os.O_CREAT if create else 0))
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP or (os.path.islink(path)):
            raise OSError(errno.ELOOP, "it is a symbolic link; give the real path") from None
        if e.errno == errno.ENXIO:  # a FIFO nobody reads
            raise OSError(errno.EINVAL, "it is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        if st.st_mode & 0o022:
            raise OSError(errno.EPERM, f"group or others may write it (mode {stat.S_IMODE(st.st_mode):04o}); "
                          f"run: chmod go-w {path}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class AuditLog:
    """Writes audit lines to a logger and, optionally, to an append-only file (mode 0600)."""

    def __init__(self, logger: logging.Logger | None = None, path: str | None = None) -> None:
        self.logger = logger or logging.getLogger("pf_exporter.admin.audit")
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if path:
            self._file = os.fdopen(open_audit_file(path), "a", buffering=1, encoding="utf-8")

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
        # The log gets the same event as structured fields (logfmt pairs or JSON keys, per --log.format);
        # "message" is the LogRecord's own attribute, so the error text is "error" there.
        fields = {k: v for k, v in entry.items() if k not in ("time", "message")}
        if "message" in entry:
            fields["error"] = entry["message"]
        with self._lock:
            self.logger.info("admin request", extra=fields)
            if self._file is not None:
                self._file.write(line + "\n")
        return line

    def reopen(self) -> bool:
        """Open the file again by its name (SIGHUP, e.g. from newsyslog after a rotation): the
        following lines go to the new file.  It is not created here (after the privilege drop the
        exporter may not create files in its directory, and unveil(2) lets it write, not create):
        the rotation creates it, owned by the exporter's user.  On any problem the old file stays in
        use and False is returned, after an error in the log."""
        if not self.path:
            return True
        try:
            fd = open_audit_file(self.path, create=False)
        except OSError as e:
            hint = " (newsyslog creates it: give the owner and mode in newsyslog.conf)" \
                if e.errno == errno.ENOENT else ""
            self.logger.error("cannot reopen --admin.audit-log %s, still writing to the file opened before: %s%s",
                              self.path, e.strerror or e, hint)
            return False
        new = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
        with self._lock:
            old, self._file = self._file, new
        if old is not None:
            old.close()
        return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
