"""The admin API: authenticated, audited changes to pf over HTTP (off by default).

The CLI wires it with :func:`add_admin_flags`, :func:`admin_config_from_args` and
:func:`build_admin_server`; see :mod:`.api` for the routes and :mod:`.rules` for the
JSON rule schema.
"""

from .config import (
    AdminConfig,
    AdminConfigError,
    add_admin_flags,
    admin_config_from_args,
    admin_files,
    build_admin_server,
    reload_admin,
    reload_admin_web_config,
)
from .server import AdminServer

__all__ = ["AdminConfig", "AdminConfigError", "AdminServer", "add_admin_flags", "admin_config_from_args",
           "admin_files", "build_admin_server", "reload_admin", "reload_admin_web_config"]
