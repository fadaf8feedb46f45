"""``pf_exporter`` command line: flags in node_exporter's style, start-up, serving, shutdown.

This is the one module that knows the concrete classes and wires them:
pf (the library on the real ``/dev/pf`` or the simulator) -> collectors -> exporter -> HTTP.
Start-up problems end the process with exit status 1 and one line on stderr that says
what to do.

Start-up, in order: signal handlers; flags; logging; the ``--run-as`` decision and the
admin API's configuration (before anything is opened); file names made absolute; web config
and TLS files read, pf opened read-only (and, only with ``--admin.listen-address``, a second
descriptor read-write), the metrics listeners bound, the admin API's token file, web config
and audit log read and its listener bound (all still as root); the unveil plan;
``chdir("/")``; the privilege drop (:mod:`.privsep`); unveil/pledge (:mod:`.openbsd`,
OpenBSD only); serve (metrics, then admin).
Signals: SIGHUP re-reads the web configs, TLS files and the admin token file on the same
listeners (the token file is also re-read whenever it changes); SIGTERM and SIGINT stop accepting, let the
scrapes and admin requests under way finish (at most DRAIN_TIMEOUT seconds), close pf and
exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import grp
import logging
import os
import re
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from prometheus_client import CollectorRegistry

from . import logsetup, openbsd, privsep
from .admin.flags import AdminConfig, AdminConfigError, add_admin_flags, admin_config_from_args
from .collectors import COLLECTORS
from .exporter import SELF_SPECS, VERSION, ExporterInfo, PfExporter, build_collectors, build_registry
from .web import (
    DEFAULT_LISTEN_ADDRESS,
    DEFAULT_MAX_CONNECTIONS,
    LandingEntry,
    MetricsServer,
    WebApp,
)
from .webconfig import WebConfig, WebConfigError, load_web_config

if TYPE_CHECKING:
    from .admin.server import AdminServer

log = logging.getLogger("pf_exporter")

# The simulator's scenarios, as --simulate.scenario offers them (the simulator itself is imported
# only with --simulate).
SCENARIOS = ("empty", "small", "large", "ha-master", "ha-backup", "ha-splitbrain")

# SIGTERM/SIGINT: how long the scrapes under way may take to finish before the process exits anyway
# (rc.subr waits 30 s, daemon_timeout, before it gives up on a stop).
DRAIN_TIMEOUT = 10.0
# How long closing pf waits for a rule walk still holding the descriptor; exiting closes it
# anyway, and the kernel's pfclose() then releases every ticket the descriptor held.
PF_CLOSE_TIMEOUT = 5.0


class StartupError(Exception):
    """A start-up problem; the message is the one line the user sees."""


# --- flags ---------------------------------------------------------------------------------------------

def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction between 0 and 1") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1; give a fraction such as 0.85")
    return v


_DURATION_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
                   "ms": 0.001}
# Prometheus's duration syntax: units largest first, each at most once, e.g. 1h30m, 5s, 500ms.
_DURATION = re.compile("".join(rf"(?:(?P<{u}>[0-9]+){u})?" for u in ("y", "w", "d", "h", "m", "s", "ms")))


def parse_duration(text: str) -> float:
    """A Prometheus-style duration ("5s", "1m30s", "500ms", "0") in seconds."""
    t = text.strip()
    if t == "0":
        return 0.0
    m = _DURATION.fullmatch(t)
    if not t or m is None or not any(m.groups()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use a number with a unit, largest first, such as 5s, 1m30s or 500ms "
            "(units: ms, s, m, h, d, w, y)"
        )
    return sum(int(v) * _DURATION_UNITS[u] for u, v in m.groupdict().items() if v)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one such as 64") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return v


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line naming the flag (and a close match), then ``--help``: not the usage."""

    def error(self, message: str) -> NoReturn:
        m = re.match(r"unrecognized arguments: (\S+)", message)
        if m:
            flag = m.group(1).split("=", 1)[0]
            known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            import difflib  # only for this message (a quarter MB the running exporter need not hold)

            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.85)
            message = f"unknown flag {flag}" + (f" (did you mean {close[0]}?)" if close else "")
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pf_exporter",
        description="Prometheus exporter for OpenBSD's Packet Filter (pf): reads pf through ioctl(2) on /dev/pf "
        "on every scrape.",
        allow_abbrev=False,
    )
    web = p.add_argument_group("web")
    web.add_argument("--web.listen-address", dest="listen", action="append", metavar="ADDRESS",
                     help=f"address to listen on, host:port, [ipv6]:port or :port; repeat for several "
                     f"(default {DEFAULT_LISTEN_ADDRESS})")
    web.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics", metavar="PATH",
                     help="path under which to expose the metrics (default /metrics)")
    web.add_argument("--web.disable-exporter-metrics", dest="disable_exporter_metrics", action="store_true",
                     help="leave out the exporter's own metrics (process_*, pf_exporter_*)")
    web.add_argument("--web.config.file", dest="web_config", metavar="FILE",
                     help="exporter-toolkit web configuration (TLS, basic auth) in YAML")
    web.add_argument("--web.max-connections", dest="max_connections", type=_positive_int,
                     default=DEFAULT_MAX_CONNECTIONS, metavar="N",
                     help="at most this many metrics connections at once; at the limit the connection that has "
                     "waited longest for its request is closed to make room, or a new one is refused with 503 "
                     f"when all are inside requests (default {DEFAULT_MAX_CONNECTIONS})")
    web.add_argument("--web.max-cache-age", dest="max_cache_age", type=parse_duration, default="0s",
                     metavar="DURATION",
                     help="serve an unfiltered scrape the last collection if it is at most this old (e.g. 5s, "
                     "500ms), so several Prometheus servers scraping together read pf once; 0 turns it off "
                     "(default 0s)")

    coll = p.add_argument_group("collectors")
    for name, cls in COLLECTORS.items():
        state = "enabled" if cls.default_enabled else "disabled"
        coll.add_argument(f"--collector.{name}", dest=f"collector_{name}", action=argparse.BooleanOptionalAction,
                          default=None, help=f"{cls.description} (default: {state})")
    coll.add_argument("--collector.disable-defaults", dest="disable_defaults", action="store_true",
                      help="start from no collectors; enable each with --collector.<name>")
    for cls in COLLECTORS.values():
        cls.add_flags(coll)  # each collector's own --collector.<name>.<option> flags

    pf = p.add_argument_group("pf")
    pf.add_argument("--pf.device", dest="device", default="/dev/pf", metavar="PATH",
                    help="the pf device (default /dev/pf)")
    pf.add_argument("--pf.release", dest="release", metavar="RELEASE",
                    help="OpenBSD release whose pf ABI to speak (7.6, 7.7, 7.8, 7.9, current); default: detect")

    sim = p.add_argument_group("simulation (no OpenBSD needed)")
    sim.add_argument("--simulate", action="store_true",
                     help="serve a simulated pf instead of /dev/pf (for demos, dashboards and tests)")
    sim.add_argument("--simulate.scenario", dest="scenario", choices=SCENARIOS, default="small",
                     help="simulated firewall: empty (pf enabled, no rules), small (a home gateway) or large "
                     "(10,000 rules, 500 tables)")
    sim.add_argument("--simulate.state-fill", dest="state_fill", type=_fraction, default=None, metavar="FRACTION",
                     help="fill the simulated state table to this fraction of its limit (e.g. 0.85)")

    add_admin_flags(p)

    proc = p.add_argument_group("process")
    proc.add_argument("--run-as", dest="run_as", metavar="USER",
                      help="once pf is open, the listeners bound and the key files read, become USER for good; "
                      f"started as root on OpenBSD the default is {privsep.DEFAULT_OPENBSD_USER}, elsewhere "
                      "the user is kept (with a warning if it is root); 'root' keeps root on purpose")

    lg = p.add_argument_group("logging")
    lg.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warn", "error"), default="info",
                    help="only log messages with this severity or above (default info)")
    lg.add_argument("--log.format", dest="log_format", choices=logsetup.FORMATS, default="logfmt",
                    help="log line format (default logfmt)")
    lg.add_argument("--log.syslog", dest="log_syslog", action="store_true",
                    help="log to syslog(3) with the daemon facility instead of stderr")
    p.add_argument("--version", action="version", version=f"pf_exporter {VERSION}")
    return p


def enabled_collectors(args: argparse.Namespace) -> list[str]:
    """Collector names after --collector.disable-defaults and the per-collector switches."""
    out = []
    for name, cls in COLLECTORS.items():
        switch = getattr(args, f"collector_{name}")
        on = switch if switch is not None else (cls.default_enabled and not args.disable_defaults)
        if on:
            out.append(name)
    return out


# --- wiring --------------------------------------------------------------------------------------------

@dataclass
class Pf:
    """The opened pf: what the exporter reads from and what it says about it.

    ``writable`` is a second handle on its own read-write descriptor, opened only when asked for
    (the admin API); the metrics never use it.
    """

    source: Any  # a pf_exporter.pf.PacketFilter, read-only
    info: ExporterInfo
    close: Callable[[], None] = lambda: None
    before_scrape: Callable[[], None] | None = None
    writable: Any | None = None  # a pf_exporter.pf.PacketFilter opened read-write


def open_pf(args: argparse.Namespace, *, writable: bool = False) -> Pf:
    """Open the real /dev/pf (or the simulator) read-only and check that pf answers.

    With ``writable`` a second, read-write handle is opened too (``Pf.writable``), for the
    admin API: only root can open it, so this happens before any privilege drop.
    """
    from .pf import PacketFilter, PfError, PfNotPresent, PfUnsupported
    from .pf.backend import DEFAULT_SIMULATED_RELEASE

    before_scrape = None
    rw = None
    try:
        if args.simulate:
            try:
                ro = PacketFilter.simulated(args.scenario, args.release or DEFAULT_SIMULATED_RELEASE, seed=1,
                                            writable=False, state_fill=args.state_fill)
            except PfUnsupported as e:
                raise StartupError(f"cannot simulate: {e}") from None
            before_scrape = _traffic_clock(ro)
        else:
            ro = PacketFilter.open(args.device, release=args.release)
        if writable:
            try:
                rw = ro.reopen(True)
            except PfError:
                ro.close()
                raise
    except PfUnsupported as e:
        raise StartupError(str(e)) from None
    except PfError as e:
        hint = "; without pf (not on OpenBSD) try --simulate" if isinstance(e, PfNotPresent) else ""
        raise StartupError(f"cannot open pf{' for writing' if writable else ''}: {e}{hint}") from None
    handles = [h for h in (ro, rw) if h is not None]

    def close() -> None:
        for h in handles:
            close_handle(h)

    try:
        ro.status()
    except PfError as e:
        close()
        raise StartupError(
            f"pf does not answer DIOCGETSTATUS: {e}; check that this is OpenBSD {ro.release} (--pf.release)"
        ) from None
    return Pf(ro, ExporterInfo(ro.release, ro.arch, ro.features), close, before_scrape, rw)


def close_handle(pf: Any) -> None:
    """Close a pf handle once no request holds it (bounded: exit would close it anyway)."""
    if not pf.close(PF_CLOSE_TIMEOUT):
        log.warning("a pf request is still running; its descriptor is closed at exit, which releases its tickets")


def _traffic_clock(pf: Any) -> Callable[[], None]:
    """The hook that lets simulated traffic flow in step with real time (run before every scrape,
    so rates look alive in Prometheus)."""
    last = [time.monotonic()]

    def advance() -> None:
        now = time.monotonic()
        pf.simulate_traffic(now - last[0])
        last[0] = now

    return advance


def load_config(args: argparse.Namespace) -> WebConfig:
    if not args.web_config:
        return WebConfig()
    try:
        return load_web_config(args.web_config)
    except WebConfigError as e:
        raise StartupError(f"bad --web.config.file: {e}") from None


@dataclass
class Service:
    """Everything a running exporter holds; built by :func:`build_service`."""

    pf: Pf
    exporter: PfExporter
    server: MetricsServer
    args: argparse.Namespace
    # Set by harden(): the credentials and sandbox the process ended up with.
    dropped: privsep.DropResult | None = None
    sandboxed: bool = False
    # More work for SIGHUP (e.g. the admin API's web config); each returns False when it kept the old state.
    reloaders: list[Callable[[], bool]] = field(default_factory=list)
    # The admin API's listener (bound, serving once started), when --admin.listen-address is given.
    admin: AdminServer | None = None
    admin_config: AdminConfig | None = None

    def close(self, drain_timeout: float = 0.0) -> None:
        """Stop accepting, let the scrapes and admin requests under way finish (together, up to
        ``drain_timeout`` s), close pf.

        A scrape that reads rules holds a walk ticket until its DIOCXEND, which the device
        always sends, so once the scrapes are done no ticket is left; an admin change under way
        completes (commit or rollback) and its client gets the answer; pf is closed last.
        """
        deadline = time.monotonic() + drain_timeout
        if self.admin is not None:
            self.admin.stop_accepting()
        left = self.server.shutdown(drain_timeout)
        if left:
            log.warning("scrapes still running at exit", extra={"requests": left, "waited_seconds": drain_timeout})
        if self.admin is not None:
            left = self.admin.shutdown(max(0.0, deadline - time.monotonic()))
            if left:
                log.warning("admin requests still running at exit",
                            extra={"requests": left, "waited_seconds": drain_timeout})
        self.pf.close()

    def tls_files(self) -> list[str]:
        """The certificate, key and client CA files the current web config names."""
        tls = self.server.app.config.tls
        return [] if tls is None else [f for f in (tls.cert_file, tls.key_file, tls.client_ca_file) if f]

    def admin_files(self) -> list[str]:
        """The admin API's web config and the TLS files it names now (none when admin is off)."""
        if self.admin is None:
            return []
        from .admin.config import admin_files

        return admin_files(self.admin)

    def token_files(self) -> list[str]:
        """The admin API's token file, re-read whenever it changes."""
        cfg = self.admin_config
        return [cfg.token_file] if cfg is not None and cfg.token_file else []

    def unix_sockets(self) -> list[str]:
        return [self.admin.unix_path] if self.admin is not None and self.admin.unix_path else []

    def reload_files(self) -> list[str]:
        """The files SIGHUP re-reads: the web configs and the TLS files they name now."""
        return ([self.args.web_config] if self.args.web_config else []) + self.tls_files() + self.admin_files()

    def reload(self) -> bool:
        """Re-read --web.config.file and the TLS files (SIGHUP); on any problem keep serving with the old ones.

        The listeners stay open throughout; new connections get the new certificate and users.
        """
        ok = True
        if self.args.web_config:
            try:
                self.server.update_config(load_web_config(self.args.web_config))
            except WebConfigError as e:
                extra = {"err": str(e)}
                if self.sandboxed:
                    extra["hint"] = "unveil(2) shows only the files named at start-up: a new path needs a restart"
                log.error("web config not reloaded, keeping the previous one", extra=extra)
                ok = False
            else:
                log.info("web config reloaded", extra={"file": self.args.web_config, "tls": self.server.tls})
        for reload in self.reloaders:
            ok = reload() and ok
        self.exporter.config.loaded(ok)
        return ok


def build_service(args: argparse.Namespace, pf: Pf | None = None, config: WebConfig | None = None, *,
                  writable: bool = False) -> Service:
    """Validate the configuration, open pf, read the web config and bind the listeners (does not serve yet)."""
    if not args.telemetry_path.startswith("/") or args.telemetry_path in ("/", "/-/healthy"):
        raise StartupError(f"--web.telemetry-path {args.telemetry_path!r} must be a path such as /metrics")
    names = enabled_collectors(args)
    if config is None:
        config = load_config(args)
    if pf is None:
        pf = open_pf(args, writable=writable)
    collectors = build_collectors(names, pf.info.features, args=args)
    exporter = PfExporter(pf.source, collectors, pf.info, before_scrape=pf.before_scrape,
                          max_cache_age=args.max_cache_age,
                          exporter_metrics=not getattr(args, "disable_exporter_metrics", False))
    default_registry = build_registry(exporter)
    enabled = {c.name for c in collectors}

    def registry_for(only: Sequence[str] | None) -> CollectorRegistry:
        if not only:
            return default_registry
        bad = [n for n in only if n not in enabled]
        if bad:
            raise ValueError(f"collect[]: {', '.join(bad)} not enabled; enabled: {', '.join(sorted(enabled))}")
        return build_registry(exporter, tuple(only))

    landing = [LandingEntry(c.name, s.name, s.kind, s.labels, s.help) for c, s in exporter.specs()]
    landing += [LandingEntry("exporter", s.name, s.kind, s.labels, s.help) for s in SELF_SPECS]
    app = WebApp(
        registry_for=registry_for,
        telemetry_path=args.telemetry_path,
        version=VERSION,
        landing=landing,
        collectors=[(n, n in enabled, cls.description) for n, cls in COLLECTORS.items()],
        config=config,
        abi=pf.info.abi,
        simulated=args.scenario if args.simulate else "",
        last_runs=lambda: dict(exporter.last),
    )
    try:
        server = MetricsServer(args.listen or [DEFAULT_LISTEN_ADDRESS], app, max_connections=args.max_connections)
    except (OSError, ValueError) as e:
        pf.close()
        raise StartupError(str(e) if isinstance(e, ValueError) else (e.strerror or str(e))) from None
    return Service(pf, exporter, server, args)


def admin_config(args: argparse.Namespace) -> AdminConfig | None:
    """The admin API's configuration from the flags (None: off, the default)."""
    try:
        return admin_config_from_args(args)
    except AdminConfigError as e:
        raise StartupError(str(e)) from None


def add_admin(service: Service, config: AdminConfig) -> None:
    """Read the admin API's token file, web config and audit log and bind its listener (still as
    root; it serves once :meth:`AdminServer.start` is called, after the privilege drop)."""
    if service.pf.writable is None:
        raise StartupError("the admin API needs pf opened for writing (build_service(..., writable=True))")
    from .admin.config import build_admin_server, reload_admin  # only with the admin API on: a few MB

    try:
        server = build_admin_server(config, service.pf.writable, logging.getLogger("pf_exporter.admin"))
    except AdminConfigError as e:
        raise StartupError(str(e)) from None
    service.admin, service.admin_config = server, config
    service.reloaders.append(lambda: reload_admin(server))  # token file and admin web config


# --- privilege drop and sandbox ------------------------------------------------------------------------

@dataclass
class Hardening:
    """The system calls start-up uses to give up privileges; tests inject fakes.

    ``euid``/``sysname`` default to the process's own; ``libc`` set forces the unveil(2)/pledge(2)
    calls (against that libc) even off OpenBSD; ``access`` checks what the dropped user can read.
    """

    syscalls: privsep.Syscalls | None = None
    euid: int | None = None
    sysname: str | None = None
    libc: Any | None = None
    access: Callable[[str, int], bool] = os.access
    chdir: Callable[[str], None] = os.chdir
    plans: list[openbsd.SandboxPlan] = field(default_factory=list)  # every plan built, for tests and logs


def decide_run_as(args: argparse.Namespace, hardening: Hardening) -> privsep.RunAs:
    """The --run-as policy, decided before anything is opened."""
    try:
        return privsep.decide_run_as(args.run_as, euid=hardening.euid, sysname=hardening.sysname)
    except privsep.PrivilegeError as e:
        raise StartupError(str(e)) from None


def _uids(user: str, hardening: Hardening) -> tuple[int, ...]:
    """(uid of *user*,), or () when it cannot be looked up (the privilege drop then says why)."""
    getpwnam = (hardening.syscalls or privsep.Syscalls.from_os()).getpwnam
    try:
        return (int(getpwnam(user).pw_uid),)
    except (KeyError, OSError):
        return ()


def absolute_paths(args: argparse.Namespace) -> None:
    """Make the configured file names absolute: start-up changes to "/" before dropping privileges.
    (TLS files named in a web config are resolved against the config file's directory.)"""
    for dest in ("web_config", "admin_token_file", "admin_web_config", "admin_audit_log"):
        if getattr(args, dest, None):
            setattr(args, dest, os.path.abspath(getattr(args, dest)))


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def harden(service: Service, run_as: privsep.RunAs, hardening: Hardening | None = None, *,
           token_files: Iterable[str] = (), unix_sockets: Iterable[str] = ()) -> None:
    """Give up what the exporter no longer needs, once /dev/pf is open and the sockets are bound.

    In this order: build the unveil plan (as root, while relative names and symlinks still
    resolve as configured), chdir("/"), drop to ``run_as.user`` (setgroups, setgid, setuid,
    verified), warn about reload files the user cannot read, then unveil and pledge (OpenBSD
    only).  ``token_files``/``unix_sockets`` are the admin API's, when it is on (the admin
    web config and its TLS files come from ``service``).  Any failure raises StartupError; the
    caller closes what was opened.
    """
    h = hardening or Hardening()
    tokens = list(token_files)
    reread = [*service.reload_files(), *tokens]
    admin = service.admin_files()
    try:
        plan = openbsd.unveil_plan(
            web_config_files=([service.args.web_config] if service.args.web_config else []) + admin[:1],
            tls_files=service.tls_files() + admin[1:],
            token_files=tokens,
            unix_sockets=list(unix_sockets),
            # reopened by name at securelevel > 1 (the read-write one only with the admin API)
            devices=[] if service.args.simulate else [(service.args.device, "rw" if service.pf.writable else "r")],
            log_files=[service.args.admin_audit_log] if service.admin is not None and getattr(
                service.args, "admin_audit_log", None) else [],
        )
    except openbsd.SandboxError as e:
        raise StartupError(f"cannot plan unveil(2): {e}") from None
    h.plans.append(plan)
    try:
        h.chdir("/")
    except OSError as e:
        raise StartupError(f"cannot change directory to /: {e.strerror or e}") from None

    if run_as.user is not None:
        try:
            result = privsep.drop_privileges(run_as.user, syscalls=h.syscalls, allow_root=run_as.allow_root)
        except privsep.PrivilegeError as e:
            raise StartupError(str(e)) from None
        service.dropped = result
        if result.changed:
            log.info("dropped privileges", extra={"user": result.user, "uid": result.uid, "gid": result.gid})
        else:
            log.info("already running as the --run-as user", extra={"user": result.user, "uid": result.uid})
        group = _group_name(result.gid)
        for path in privsep.unreadable_files(reread, access=h.access):
            log.warning(
                "SIGHUP cannot re-read this file as the exporter's user; it keeps the copy read at start-up",
                extra={"file": path, "user": result.user,
                       "fix": f"chgrp {group} {path} && chmod g+r {path}, in a directory {result.user} can search"},
            )
    elif run_as.warning:
        log.warning(run_as.warning)

    try:
        service.sandboxed = openbsd.apply_sandbox(plan, sysname=h.sysname, libc=h.libc)
    except openbsd.SandboxError as e:
        raise StartupError(f"cannot sandbox: {e}") from None
    if service.sandboxed:
        log.info("unveil(2) locked, pledge(2) forbids exec", extra={
            "unveiled": len(plan.unveil), "reloadable": ",".join(reread)})
    else:
        log.debug("not OpenBSD: unveil(2) and pledge(2) skipped")


def start(args: argparse.Namespace, hardening: Hardening | None = None, *, pf: Pf | None = None) -> Service:
    """Everything before serving: decide the user, open pf, read the config, bind, harden.

    With ``--admin.listen-address`` pf is also opened read-write and the admin listener bound
    (refused, with one line, without authentication or with plain HTTP off loopback)."""
    h = hardening or Hardening()
    run_as = decide_run_as(args, h)
    absolute_paths(args)
    admin = admin_config(args)
    if admin is not None and run_as.user is not None:
        admin = dataclasses.replace(admin, token_owners=_uids(run_as.user, h))
    service = build_service(args, pf=pf, writable=admin is not None)
    try:
        if admin is not None:
            add_admin(service, admin)
        harden(service, run_as, h, token_files=service.token_files(), unix_sockets=service.unix_sockets())
    except BaseException:
        service.close()
        raise
    return service


# --- signals and main ----------------------------------------------------------------------------------

class Control:
    """What the signal handlers ask of the main loop: stop, or reload.

    The handlers only set flags and write a byte into a pipe the main loop waits on.  (No
    threading.Event: setting one takes a lock, and a handler runs in the main thread between
    two bytecodes, possibly while that thread holds the very same lock.)  The same pipe is
    the interpreter's wakeup fd (:func:`signal.set_wakeup_fd`): the kernel may deliver a
    signal to any thread, e.g. a listener's, and Python runs handlers only in the main
    thread, so the main thread must be woken from its wait to run them.  Tests and other
    threads use the same methods.
    """

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self.stop_requested = False
        self.stop_reason = ""
        self.reload_requested = False

    def request_stop(self, reason: str = "requested") -> None:
        if not self.stop_requested:
            self.stop_reason = reason
        self.stop_requested = True
        self._poke()

    def request_reload(self) -> None:
        self.reload_requested = True
        self._poke()

    def _poke(self) -> None:
        try:
            os.write(self._w, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the loop will wake anyway) or closed (nobody waits any more)

    @property
    def wakeup_fd(self) -> int:
        return self._w

    def wait(self, timeout: float | None = None) -> None:
        """Block until a request arrives (or ``timeout`` seconds pass)."""
        select.select([self._r], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._r, 512):
                pass

    def take_reload(self) -> bool:
        wanted, self.reload_requested = self.reload_requested, False
        return wanted

    def close(self) -> None:
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def signal_handlers(control: Control) -> Iterator[None]:
    """SIGHUP asks for a reload, SIGTERM/SIGINT for a stop, SIGALRM is ignored (a stray alarm
    must not end a daemon); the previous dispositions come back on exit.  A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_stop(signum: int, frame: Any) -> None:
        control.request_stop(signal.Signals(signum).name)

    def on_reload(signum: int, frame: Any) -> None:
        control.request_reload()

    wanted: dict[signal.Signals, Any] = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload,
                                         signal.SIGALRM: signal.SIG_IGN}
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    previous_wakeup = signal.set_wakeup_fd(control.wakeup_fd, warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


GC_THRESHOLD = (10_000, 10, 10)
SWITCH_INTERVAL = 0.0002  # seconds (Python's default: 0.005)


def tune_runtime() -> None:
    """After start-up: move everything built so far out of the collector's sight (gc.freeze) and
    collect the young generation less often.  A scrape allocates tens of thousands of small
    objects that are freed by reference counting anyway; the default threshold (700) ran a
    collection every few hundred of them, a sixth of a large scrape's time.  And let a thread
    that waits for the GIL get it after :data:`SWITCH_INTERVAL` instead of 5 ms: a gzipped
    scrape compresses (without the GIL) in the request's thread while another encodes, and each
    compress call must win the GIL back from the encoder (on large, per-rule: gzip then adds
    14 ms instead of 36)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL)


def run(args: argparse.Namespace, control: Control | None = None, hardening: Hardening | None = None, *,
        runtime_tuning: bool = False) -> int:
    """Start, serve until ``control`` asks to stop (reloading when asked), shut down; 0 when stopped.
    ``runtime_tuning``: :func:`tune_runtime` once started (the daemon; not when embedded, e.g. in tests)."""
    control = control or Control()
    service = start(args, hardening)
    if runtime_tuning:
        tune_runtime()
    service.server.start()
    for host, port in service.server.addresses:
        log.info("listening", extra={"address": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                                     "tls": service.server.tls})
    if service.admin is not None:
        service.admin.start()
    info = service.pf.info
    log.info("pf_exporter started", extra={
        "version": VERSION, "abi": info.abi, "simulated": bool(args.simulate),
        "collectors": ",".join(c.name for c in service.exporter.collectors),
        "admin": service.admin.address if service.admin is not None else None,
        "uid": os.geteuid() if service.dropped is None else service.dropped.uid,
        "sandboxed": service.sandboxed})
    try:
        while not control.stop_requested:
            control.wait()
            if control.take_reload():
                log.info("reloading (SIGHUP)")
                service.reload()
    finally:
        log.info("shutting down", extra={"signal": control.stop_reason or None,
                                         "drain_seconds": DRAIN_TIMEOUT})
        service.close(drain_timeout=DRAIN_TIMEOUT)
        log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None, *, control: Control | None = None,
         hardening: Hardening | None = None) -> int:
    own = control is None
    control = control or Control()
    try:
        with signal_handlers(control):
            args = build_parser().parse_args(argv)
            logsetup.setup_logging(args.log_level, args.log_format, syslog=args.log_syslog)
            try:
                return run(args, control, hardening, runtime_tuning=own)
            except StartupError as e:
                if args.log_syslog:
                    log.error("cannot start", extra={"err": str(e)})
                print(f"pf_exporter: {e}", file=sys.stderr)
                return 1
    finally:
        if own:
            control.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
