"""Admin API configuration: the ``--admin.*`` flags and :func:`build_admin_server`.

The CLI adds the flags with :func:`add_admin_flags`, turns the parsed arguments into an
:class:`AdminConfig` with :func:`admin_config_from_args` (None when the admin API is off,
the default), opens a second, writable pf handle at start-up (before any privilege drop)
and calls :func:`build_admin_server`.  Every refusal to start is an
:class:`AdminConfigError` whose message says what to change.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from ..pf import PacketFilter
from .api import AdminApi, AdminOptions
from .audit import AuditLog
from .auth import Authenticator, TokenFileError, TokenStore
from .compile import Compiler
from .flags import AdminConfig, AdminConfigError
from .server import AdminApp, AdminListenError, AdminServer, is_loopback, parse_admin_address


def build_admin_server(config: AdminConfig, pf: PacketFilter, logger: logging.Logger | None = None,
                       compiler: Compiler | None = None) -> AdminServer:
    """Check the security settings and bind the admin listener (it serves after ``start()``).

    Refuses (AdminConfigError) without authentication, with plain HTTP on anything but
    loopback or a unix socket, and with a read-only pf handle.
    """
    from ..webconfig import BasicAuth, WebConfig, WebConfigError, build_ssl_context, load_web_config

    logger = logger or logging.getLogger("pf_exporter.admin")
    if not pf.writable:
        raise AdminConfigError("the admin API needs a writable /dev/pf descriptor; the CLI opens one when "
                               "--admin.listen-address is given (run as root)")
    try:
        kind, where = parse_admin_address(config.listen_address)
    except AdminListenError as e:
        raise AdminConfigError(str(e)) from None

    web = WebConfig()
    if config.web_config_file:
        try:
            web = load_web_config(config.web_config_file)
        except WebConfigError as e:
            raise AdminConfigError(f"bad --admin.web.config.file: {e}") from None
    ctx: ssl.SSLContext | None = build_ssl_context(web.tls, config.web_config_file or "") if web.tls else None
    client_certs = web.tls is not None and web.tls.client_auth_type == "RequireAndVerifyClientCert"

    if kind == "tcp" and ctx is None and not is_loopback(where[0]):
        raise AdminConfigError(
            f"--admin.listen-address {config.listen_address} is not a loopback address, and plain HTTP would "
            "carry tokens and firewall changes in clear text; configure TLS in --admin.web.config.file "
            "(preferably with client_auth_type: RequireAndVerifyClientCert), or listen on 127.0.0.1, [::1] or "
            "a unix socket"
        )

    tokens = None
    if config.token_file:
        try:
            tokens = TokenStore(config.token_file, logger, config.token_owners)
        except TokenFileError as e:
            raise AdminConfigError(f"bad --admin.token-file: {e}") from None
    basic = BasicAuth(web.basic_auth_users) if web.basic_auth_users else None
    if basic is not None and tokens is not None:
        raise AdminConfigError("the admin web config has basic_auth_users and --admin.token-file is given; both use "
                               "the Authorization header, so use one of them")
    if tokens is None and not client_certs and basic is None:
        raise AdminConfigError(
            "the admin API refuses to start without authentication: give --admin.token-file (name:token lines, "
            "mode 0600) and/or mutual TLS (--admin.web.config.file with client_auth_type: "
            "RequireAndVerifyClientCert and client_ca_file)"
        )
    auth = Authenticator(tokens, client_certs, basic)

    api = AdminApi(pf, compiler,
                   AdminOptions(allow_main_ruleset=config.allow_main_ruleset, mutation_wait=config.request_timeout))
    try:
        audit = AuditLog(logging.getLogger(logger.name + ".audit"), config.audit_log)
    except OSError as e:
        raise AdminConfigError(f"cannot open --admin.audit-log {config.audit_log}: {e.strerror}") from None
    app = AdminApp(api, auth, audit, request_timeout=config.request_timeout,
                   allowed_sans=web.tls.client_allowed_sans if web.tls else (), headers=dict(web.headers))
    try:
        server = AdminServer(config.listen_address, app, ctx, config.socket_mode)
    except AdminListenError as e:
        audit.close()
        raise AdminConfigError(str(e)) from None
    server.web_config_file, server.web = config.web_config_file, web
    methods = [m for m, on in (("token", tokens), ("client-certificate", client_certs), ("basic", basic)) if on]
    logger.info("admin API listening on %s (%s, auth: %s, main ruleset %s)", server.address,
                "TLS" if ctx else "plain HTTP", "+".join(methods),
                "writable" if config.allow_main_ruleset else "protected")
    return server


def admin_files(server: AdminServer) -> list[str]:
    """The files SIGHUP re-reads for the admin listener: its web config and the TLS files it names
    now (the token file is re-read whenever it changes, without a signal)."""
    if not server.web_config_file:
        return []
    tls = server.web.tls if server.web is not None else None
    named = [] if tls is None else [f for f in (tls.cert_file, tls.key_file, tls.client_ca_file) if f]
    return [server.web_config_file, *named]


def reload_admin(server: AdminServer, logger: logging.Logger | None = None) -> bool:
    """SIGHUP for the admin API: the token file (re-read now if it changed), the web config
    (:func:`reload_admin_web_config`) and the audit log (reopened by name, after a rotation).
    False when any of them is unusable; the log says why."""
    tokens = server.app.auth.tokens
    ok = tokens.refresh() if tokens is not None else True
    ok = server.app.audit.reopen() and ok
    return reload_admin_web_config(server, logger) and ok


def reload_admin_web_config(server: AdminServer, logger: logging.Logger | None = None) -> bool:
    """Re-read ``--admin.web.config.file`` (SIGHUP) on the same listener: new certificate, key,
    client CA, TLS versions, allowed SANs, users' passwords and headers for new connections.

    What decides how clients authenticate (whether there is TLS, ``client_auth_type``, whether
    ``basic_auth_users`` is set) is only changed by a restart, so a reload can never leave the
    API without the authentication it was started with.  On any problem the old configuration
    stays and False is returned."""
    from ..webconfig import BasicAuth, WebConfigError, build_ssl_context, load_web_config

    logger = logger or logging.getLogger("pf_exporter.admin")
    path = server.web_config_file
    if not path:
        return True
    old = server.web
    try:
        new = load_web_config(path)
        ctx = build_ssl_context(new.tls, path) if new.tls is not None else None
    except WebConfigError as e:
        logger.error("admin web config not reloaded, keeping the previous one: %s", e)
        return False

    def auth_shape(web: Any) -> tuple[bool, str, bool]:
        return (web.tls is not None, web.tls.client_auth_type if web.tls else "", bool(web.basic_auth_users))

    if old is not None and auth_shape(new) != auth_shape(old):
        logger.error("admin web config not reloaded, keeping the previous one: %s changes how clients "
                     "authenticate (TLS on or off, client_auth_type, basic_auth_users on or off); restart the "
                     "exporter for that", path)
        return False
    app = server.app
    if new.basic_auth_users:
        old_basic = app.auth.basic
        app.auth.basic = BasicAuth(new.basic_auth_users, old_basic.limiter if old_basic is not None else None)
    app.allowed_sans = new.tls.client_allowed_sans if new.tls else ()
    app.headers = dict(new.headers)
    if ctx is not None:
        server.update_ssl_context(ctx)
    server.web = new
    logger.info("admin web config reloaded from %s", path)
    return True
