"""The ``--admin.*`` flags and :class:`AdminConfig`: everything the CLI needs before it knows
whether the admin API is on.  Kept apart from :mod:`.config` so that an exporter without the
admin API never imports the API, the compiler or the admin server (a few MB of memory)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

DEFAULT_REQUEST_TIMEOUT = 30.0


class AdminConfigError(ValueError):
    """The admin API cannot start as configured; the message names the flag and the fix."""


@dataclass(frozen=True)
class AdminConfig:
    listen_address: str
    token_file: str | None = None
    web_config_file: str | None = None
    allow_main_ruleset: bool = False
    audit_log: str | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    socket_mode: int = 0o600
    # uids besides root and the current user that may own the token file: the --run-as user,
    # who must read it again after the privilege drop (set by the CLI, not a flag)
    token_owners: tuple[int, ...] = ()


def _octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode such as 0600 or 0660") from None
    if mode & ~0o777 or mode & 0o007:
        raise argparse.ArgumentTypeError(f"{text}: the admin socket must not be accessible to others; use 0600 or 0660")
    return mode


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= v <= 3600:
        raise argparse.ArgumentTypeError(f"{text}: give between 1 and 3600 seconds")
    return v


def add_admin_flags(parser: argparse.ArgumentParser) -> None:
    """The ``--admin.*`` flags, in their own help group."""
    g = parser.add_argument_group("admin API (off unless --admin.listen-address is given)")
    g.add_argument("--admin.listen-address", dest="admin_listen", metavar="ADDRESS",
                   help="enable the admin API on its own listener: host:port, [ipv6]:port or unix:/path; "
                   "plain HTTP only on loopback or a unix socket, anything else needs TLS")
    g.add_argument("--admin.token-file", dest="admin_token_file", metavar="FILE",
                   help="bearer tokens, one name:token per line; the file must be mode 0600")
    g.add_argument("--admin.web.config.file", dest="admin_web_config", metavar="FILE",
                   help="web config (same format as --web.config.file) for the admin listener: TLS, and with "
                   "client_auth_type RequireAndVerifyClientCert mutual TLS (client CN is the identity)")
    g.add_argument("--admin.allow-main-ruleset", dest="admin_allow_main", action="store_true",
                   help="allow replacing the main ruleset; without it only anchors can be changed")
    g.add_argument("--admin.audit-log", dest="admin_audit_log", metavar="FILE",
                   help="also append the audit log (one JSON line per request) to FILE, created mode 0600")
    g.add_argument("--admin.request-timeout", dest="admin_request_timeout", type=_seconds,
                   default=DEFAULT_REQUEST_TIMEOUT, metavar="SECONDS",
                   help=f"close connections idle this long or still sending their request after it "
                   f"(default {DEFAULT_REQUEST_TIMEOUT:g})")
    g.add_argument("--admin.socket-mode", dest="admin_socket_mode", type=_octal_mode, default=0o600, metavar="MODE",
                   help="permissions of a unix admin socket (default 0600; 0660 to admit its group)")


def admin_config_from_args(args: argparse.Namespace) -> AdminConfig | None:
    """The admin configuration, or None when the admin API is off (no --admin.listen-address)."""
    listen = getattr(args, "admin_listen", None)
    if not listen:
        for flag, dest in (("--admin.token-file", "admin_token_file"),
                           ("--admin.web.config.file", "admin_web_config"),
                           ("--admin.allow-main-ruleset", "admin_allow_main"),
                           ("--admin.audit-log", "admin_audit_log")):
            if getattr(args, dest, None):
                raise AdminConfigError(f"{flag} has no effect without --admin.listen-address; add it to enable the "
                                       "admin API, or drop the flag")
        return None
    return AdminConfig(
        listen_address=listen,
        token_file=args.admin_token_file,
        web_config_file=args.admin_web_config,
        allow_main_ruleset=bool(args.admin_allow_main),
        audit_log=args.admin_audit_log,
        request_timeout=args.admin_request_timeout,
        socket_mode=args.admin_socket_mode,
    )
