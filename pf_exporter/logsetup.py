"""Logging set-up: logfmt (default) or JSON lines on stderr, or syslog(3) with the daemon facility.

Lines look like node_exporter's::

    ts=2025-05-01T12:00:00.123Z level=info msg="listening" address=127.0.0.1:9632

Extra key/value pairs come from ``logger.info("msg", extra={"address": ...})``: every
attribute a record carries beyond the standard :class:`logging.LogRecord` ones is printed
after ``msg``, in the order given.

With ``syslog=True`` records go through the :mod:`syslog` module (libc ``syslog(3)``).  On
OpenBSD libc delivers them with ``sendsyslog(2)``, a system call that needs no socket, no
``/dev/log`` and no unveil(2)/pledge(2) promise, so logging keeps working inside the sandbox.
syslogd stamps the time itself, so the ``ts`` key is left out there.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, TextIO

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("logfmt", "json")

# node_exporter spells the levels debug, info, warn, error.
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_MARK = "_pf_exporter_handler"


def level_name(levelno: int) -> str:
    """The node_exporter-style name of a logging level (``warn``, not ``WARNING``)."""
    for threshold in (logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= threshold:
            return _LEVEL_NAMES[threshold]
    return "debug"


def parse_level(level: str | int) -> int:
    """``"info"`` -> ``logging.INFO``; a clear error for anything else."""
    if isinstance(level, int):
        return level
    try:
        return LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}: use one of debug, info, warn, error (--log.level)") from None


def _record_fields(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            yield key, value


def _timestamp(created: float) -> str:
    secs = int(created)
    millis = int((created - secs) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


def _logfmt_key(key: str) -> str:
    cleaned = "".join(ch if ch.isprintable() and ch not in ' ="' else "_" for ch in key)
    return cleaned or "_"


def logfmt_value(value: Any) -> str:
    """Render one value the way go-logfmt does: bare when safe, else double-quoted and escaped."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = str(value)
    if text and all(ch.isprintable() and ch not in ' ="\\' for ch in text):
        return text
    out = []
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _flatten(key: str, value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """A structured field as logfmt pairs: a mapping becomes ``key.sub=value`` pairs (two levels
    deep), a list one comma-separated value; JSON output keeps them nested instead."""
    if isinstance(value, dict) and depth < 2:
        for k, v in value.items():
            yield from _flatten(f"{key}.{k}", v, depth + 1)
    elif isinstance(value, list | tuple):
        yield key, ",".join(str(v) for v in value)
    else:
        yield key, value


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=… msg="…" key=value`` on one line; tracebacks go in ``exc=`` with escaped newlines."""

    def __init__(self, *, with_timestamp: bool = True) -> None:
        super().__init__()
        self.with_timestamp = with_timestamp

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, Any]] = []
        if self.with_timestamp:
            pairs.append(("ts", _timestamp(record.created)))
        pairs.append(("level", level_name(record.levelno)))
        pairs.append(("msg", record.getMessage()))
        for key, value in _record_fields(record):
            pairs.extend(_flatten(key, value))
        if record.exc_info:
            pairs.append(("exc", self.formatException(record.exc_info)))
        if record.stack_info:
            pairs.append(("stack", record.stack_info))
        return " ".join(f"{_logfmt_key(k)}={logfmt_value(v)}" for k, v in pairs)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the same keys as the logfmt output."""

    def __init__(self, *, with_timestamp: bool = True) -> None:
        super().__init__()
        self.with_timestamp = with_timestamp

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {}
        if self.with_timestamp:
            obj["ts"] = _timestamp(record.created)
        obj["level"] = level_name(record.levelno)
        obj["msg"] = record.getMessage()
        for key, value in _record_fields(record):
            obj.setdefault(key, value)
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            obj["stack"] = record.stack_info
        return json.dumps(obj, default=str, ensure_ascii=False)


class SyslogHandler(logging.Handler):
    """Send records to syslog(3) with the daemon facility (``--log.syslog``).

    ``syslog_module`` is the stdlib :mod:`syslog` module unless a test injects a fake.
    """

    def __init__(self, ident: str = "pf_exporter", syslog_module: ModuleType | Any | None = None) -> None:
        super().__init__()
        self._syslog = syslog_module if syslog_module is not None else importlib.import_module("syslog")
        s = self._syslog
        self.facility = s.LOG_DAEMON
        self._priorities = {
            logging.DEBUG: s.LOG_DEBUG,
            logging.INFO: s.LOG_INFO,
            logging.WARNING: s.LOG_WARNING,
            logging.ERROR: s.LOG_ERR,
            logging.CRITICAL: s.LOG_CRIT,
        }
        # LOG_NDELAY: where libc talks to a socket (Linux's /dev/log) connect now, before any
        # privilege drop or unveil could hide it.  OpenBSD's libc uses sendsyslog(2) instead.
        s.openlog(ident, s.LOG_PID | s.LOG_NDELAY, s.LOG_DAEMON)

    def priority(self, levelno: int) -> int:
        for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
            if levelno >= threshold:
                return self._priorities[threshold]
        return self._priorities[logging.DEBUG]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # The module passes the message through "%s", so a '%' in it is harmless.
            self._syslog.syslog(self.facility | self.priority(record.levelno), self.format(record))
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        try:
            self._syslog.closelog()
        finally:
            super().close()


# Where libc's syslog(3) sends records on systems without OpenBSD's sendsyslog(2).
SYSLOG_SOCKETS = ("/dev/log", "/var/run/syslog", "/var/run/log")


def syslog_problem(sysname: str | None = None, sockets: Sequence[str] | None = None) -> str | None:
    """Why syslog(3) would silently drop every record here, or None.  OpenBSD's libc uses
    sendsyslog(2), which needs no socket; elsewhere libc writes to a unix socket, and without one
    (no syslog daemon, e.g. in a container) it drops the records and says nothing."""
    if (sysname if sysname is not None else os.uname().sysname) == "OpenBSD":
        return None
    sockets = SYSLOG_SOCKETS if sockets is None else sockets
    for path in sockets:
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return None
        except OSError:
            continue
    return (f"no syslog socket ({', '.join(sockets)}): is a syslog daemon running? syslog(3) would drop every "
            "line without a word")


def setup_logging(
    level: str | int = "info",
    fmt: str = "logfmt",
    syslog: bool = False,
    *,
    stream: TextIO | None = None,
    syslog_module: ModuleType | Any | None = None,
    ident: str = "pf_exporter",
    syslog_check: Callable[[], str | None] | None = None,
) -> logging.Handler:
    """Configure the root logger once (calling again replaces what the previous call installed).

    ``fmt`` is ``logfmt`` or ``json``; with ``syslog`` the lines go to syslog(3) (facility
    daemon, no ``ts`` key) instead of ``stream`` (default: ``sys.stderr``).  When syslog(3) could
    not deliver anything (``syslog_check``), the lines go to ``stream`` instead, after a warning
    that says so (there, and as the first log line).
    """
    levelno = parse_level(level)
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use logfmt or json (--log.format)")

    fallback = (syslog_check or syslog_problem)() if syslog and syslog_module is None else None
    if fallback is not None:
        out = stream if stream is not None else sys.stderr
        print(f"pf_exporter: --log.syslog: {fallback}; logging to stderr instead", file=out)
        syslog = False

    handler: logging.Handler
    if syslog:
        handler = SyslogHandler(ident=ident, syslog_module=syslog_module)
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter_cls = LogfmtFormatter if fmt == "logfmt" else JsonFormatter
    handler.setFormatter(formatter_cls(with_timestamp=not syslog))
    setattr(handler, _MARK, True)

    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _MARK, False):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(levelno)
    logging.captureWarnings(True)
    if fallback is not None:
        logging.getLogger("pf_exporter").warning("--log.syslog cannot deliver: logging to stderr instead",
                                                 extra={"err": fallback})
    return handler
