"""``pf_exporter`` command line: flags in node_exporter's style, start-up, serving, shutdown.

This is the one module that knows the concrete classes and wires them:
pf (real ``/dev/pf`` or the simulator) -> Reader -> collectors -> exporter -> HTTP.
Start-up problems end the process with exit status 1 and one line on stderr that says
what to do.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from . import logsetup
from .collectors import COLLECTORS
from .exporter import SELF_SPECS, VERSION, ExporterInfo, PfExporter, build_collectors, build_registry
from .web import (
    DEFAULT_LISTEN_ADDRESS,
    LandingEntry,
    MetricsServer,
    WebApp,
    WebConfig,
    WebConfigError,
    load_web_config,
)

log = logging.getLogger("pf_exporter")

SCENARIOS = ("small", "large")
DEFAULT_SIMULATED_RELEASE = "7.9"


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    web.add_argument("--web.config.file", dest="web_config", metavar="FILE",
                     help="exporter-toolkit web configuration (TLS, basic auth) in YAML")

    coll = p.add_argument_group("collectors")
    for name, cls in COLLECTORS.items():
        state = "enabled" if cls.default_enabled else "disabled"
        coll.add_argument(f"--collector.{name}", dest=f"collector_{name}", action=argparse.BooleanOptionalAction,
                          default=None, help=f"{cls.description} (default: {state})")
    coll.add_argument("--collector.disable-defaults", dest="disable_defaults", action="store_true",
                      help="start from no collectors; enable each with --collector.<name>")
    coll.add_argument("--collector.rules.per-rule", dest="per_rule", action="store_true",
                      help="also export one series set per rule (pf_rule_*); high cardinality, for debugging")

    pf = p.add_argument_group("pf")
    pf.add_argument("--pf.device", dest="device", default="/dev/pf", metavar="PATH",
                    help="the pf device (default /dev/pf)")
    pf.add_argument("--pf.release", dest="release", metavar="RELEASE",
                    help="OpenBSD release whose pf ABI to speak (7.6, 7.7, 7.8, 7.9, current); default: detect")

    sim = p.add_argument_group("simulation (no OpenBSD needed)")
    sim.add_argument("--simulate", action="store_true",
                     help="serve a simulated pf instead of /dev/pf (for demos, dashboards and tests)")
    sim.add_argument("--simulate.scenario", dest="scenario", choices=SCENARIOS, default="small",
                     help="simulated firewall: small (a home gateway) or large (thousands of rules)")
    sim.add_argument("--simulate.state-fill", dest="state_fill", type=_fraction, default=None, metavar="FRACTION",
                     help="fill the simulated state table to this fraction of its limit (e.g. 0.85)")

    lg = p.add_argument_group("logging")
    lg.add_argument("--log.level", dest="log_level", choices=("debug", "info", "warn", "error"), default="info",
                    help="only log messages with this severity or above (default info)")
    lg.add_argument("--log.format", dest="log_format", choices=logsetup.FORMATS, default="logfmt",
                    help="log line format (default logfmt)")
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
    """The opened pf: what the exporter reads from and what it says about it."""

    source: Any  # a pf_exporter.reader.Reader
    info: ExporterInfo
    close: Callable[[], None] = lambda: None
    before_scrape: Callable[[], None] | None = None


def open_pf(args: argparse.Namespace) -> Pf:
    """Open the real /dev/pf (or the simulator) and check that pf answers."""
    from .abi import UnsupportedRelease, select_abi
    from .device import PfError, PfNotPresent, open_device
    from .reader import Reader

    before_scrape = None
    try:
        if args.simulate:
            device, before_scrape = _simulated_device(args)
        else:
            abi = select_abi(args.release)
            device = open_device(abi, args.device)
    except UnsupportedRelease as e:
        raise StartupError(str(e)) from None
    except PfError as e:
        hint = "; without pf (not on OpenBSD) try --simulate" if isinstance(e, PfNotPresent) else ""
        raise StartupError(f"cannot open pf: {e}{hint}") from None
    reader = Reader(device)
    abi = device.abi
    try:
        reader.status()
    except PfError as e:
        device.close()
        raise StartupError(
            f"pf does not answer DIOCGETSTATUS: {e}; check that this is OpenBSD {abi.release} (--pf.release)"
        ) from None
    features = frozenset({"limiters"}) if abi.has_limiters else frozenset()
    return Pf(reader, ExporterInfo(abi.release, abi.arch, features), device.close, before_scrape)


def _simulated_device(args: argparse.Namespace) -> tuple[Any, Callable[[], None]]:
    """A Device on the simulator, and the hook that lets simulated traffic flow in step
    with real time (run before every scrape, so rates look alive in Prometheus)."""
    from .simulator import Simulator, simulated_device

    try:
        sim = Simulator(args.scenario, release=args.release or DEFAULT_SIMULATED_RELEASE, arch="amd64",
                        seed=1, state_fill=args.state_fill)
    except ValueError as e:
        raise StartupError(f"cannot simulate: {e}") from None
    device = simulated_device(sim)
    last = [time.monotonic()]

    def advance() -> None:
        now = time.monotonic()
        with device.lock:
            sim.advance(max(0.0, now - last[0]))
        last[0] = now

    return device, advance


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

    def close(self) -> None:
        self.server.shutdown()
        self.pf.close()

    def reload(self) -> bool:
        """Re-read --web.config.file (SIGHUP); on any problem keep serving with the old one."""
        if not self.args.web_config:
            return True
        try:
            self.server.update_config(load_web_config(self.args.web_config))
        except WebConfigError as e:
            log.error("web config not reloaded, keeping the previous one", extra={"err": str(e)})
            return False
        log.info("web config reloaded", extra={"file": self.args.web_config})
        return True


def build_service(args: argparse.Namespace, pf: Pf | None = None, config: WebConfig | None = None) -> Service:
    """Validate the configuration, open pf and bind the listeners (does not serve yet)."""
    if not args.telemetry_path.startswith("/") or args.telemetry_path in ("/", "/-/healthy"):
        raise StartupError(f"--web.telemetry-path {args.telemetry_path!r} must be a path such as /metrics")
    names = enabled_collectors(args)
    if config is None:
        config = load_config(args)
    if pf is None:
        pf = open_pf(args)
    collectors = build_collectors(names, pf.info.features, per_rule=args.per_rule)
    exporter = PfExporter(pf.source, collectors, pf.info, before_scrape=pf.before_scrape)
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
    )
    try:
        server = MetricsServer(args.listen or [DEFAULT_LISTEN_ADDRESS], app)
    except (OSError, ValueError) as e:
        pf.close()
        raise StartupError(str(e) if isinstance(e, ValueError) else (e.strerror or str(e))) from None
    return Service(pf, exporter, server, args)


def harden(service: Service) -> None:
    """Hook point, called once /dev/pf is open and the sockets are bound, before serving:
    the place for the privilege drop (privsep) and unveil/pledge (openbsd); raise
    StartupError to refuse to start.  After it, the exporter opens no file but the
    --web.config.file and the certificates it names (re-read on SIGHUP)."""


# --- main ----------------------------------------------------------------------------------------------

def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    service = build_service(args)
    try:
        harden(service)
    except BaseException:
        service.close()
        raise
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: service.reload())
    service.server.start()
    for host, port in service.server.addresses:
        log.info("listening", extra={"address": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                                     "tls": service.server.tls})
    info = service.pf.info
    log.info("pf_exporter started", extra={
        "version": VERSION, "abi": info.abi, "simulated": bool(args.simulate),
        "collectors": ",".join(c.name for c in service.exporter.collectors)})
    try:
        stop.wait()
    finally:
        log.info("shutting down")
        service.close()
    return 0


def _install_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logsetup.setup_logging(args.log_level, args.log_format)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        _install_signals(stop)
    try:
        return run(args, stop)
    except StartupError as e:
        print(f"pf_exporter: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def flags_markdown() -> str:
    """The README's flag table, generated from the parser (kept equal by a test)."""
    lines = ["| flag | default | meaning |", "|---|---|---|"]
    for action in build_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flags = " / ".join(f"`{o}`" for o in action.option_strings)
        if action.metavar:
            flags = " / ".join(f"`{o} {action.metavar}`" for o in action.option_strings)
        default = action.default
        if action.dest == "listen":
            default = DEFAULT_LISTEN_ADDRESS
        elif action.dest.startswith("collector_"):
            default = "on" if COLLECTORS[action.dest.removeprefix("collector_")].default_enabled else "off"
        elif isinstance(default, bool) or default is None or action.dest == "version":
            default = ""
        meaning = re.sub(r"\s*\(default[^)]*\)$", "", action.help or "").replace("|", "\\|")
        if action.choices:
            meaning += f" (one of {', '.join(map(str, action.choices))})"
        lines.append(f"| {flags} | {f'`{default}`' if default else ''} | {meaning} |")
    return "\n".join(lines) + "\n"
