"""The scrape: run every enabled collector against one fresh view of pf, time each, and
never let one collector's failure fail the scrape.

:class:`PfExporter` is a prometheus_client custom collector (``describe()`` returns ``[]``
so registering it does no I/O); :func:`build_registry` puts it in a private registry.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from . import __version__
from .collectors import COLLECTORS, Collector, Family, MetricSpec, PfSource, ScrapeView
from .collectors.base import gauge
from .collectors.rules import RulesCollector
from .process import ProcessMetrics

log = logging.getLogger(__name__)


VERSION = __version__

SELF_SPECS = (
    gauge("pf_scrape_collector_duration_seconds", "How long the collector took in this scrape", "collector"),
    gauge("pf_scrape_collector_success", "1 when the collector succeeded in this scrape, 0 when it failed "
          "(it then exported none of its own series)", "collector"),
    gauge("pf_exporter_build_info", "pf_exporter's version, the pf ABI it speaks (release/arch) and the Python "
          "running it (always 1)", "version", "abi", "python"),
    gauge("pf_exporter_config_last_reload_successful", "1 when the last reload (SIGHUP) of the web configs, "
          "TLS files and admin tokens succeeded (or none was asked for), 0 when it kept the previous ones"),
    gauge("pf_exporter_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded "
          "successfully (start-up or reload), in seconds since the epoch"),
)


@dataclass
class ConfigStatus:
    """The outcome of the last configuration load, for the two pf_exporter_config_* gauges."""

    successful: bool = True
    success_time: float = field(default_factory=time.time)

    def loaded(self, ok: bool) -> None:
        self.successful = ok
        if ok:
            self.success_time = time.time()


@dataclass(frozen=True)
class ExporterInfo:
    """What the exporter says about itself: the pf release/arch it speaks."""

    release: str
    arch: str
    features: frozenset[str] = field(default_factory=frozenset)  # e.g. {"limiters"} on 7.9+

    @property
    def abi(self) -> str:
        return f"{self.release}/{self.arch}"


def build_collectors(
    enabled: Iterable[str], features: frozenset[str] = frozenset(), per_rule: bool = False, args: Any = None
) -> list[Collector]:
    """Instantiate the *enabled* collectors (in registry order), leaving out those whose
    required pf feature the running release lacks; each configured from *args* (the parsed
    command line: its own ``--collector.<name>.*`` flags) when given."""
    wanted = set(enabled)
    unknown = wanted - COLLECTORS.keys()
    if unknown:
        raise ValueError(f"unknown collector(s) {', '.join(sorted(unknown))}; known: {', '.join(COLLECTORS)}")
    out: list[Collector] = []
    for name, cls in COLLECTORS.items():
        if name not in wanted:
            continue
        if cls.requires is not None and cls.requires not in features:
            log.info("collector not available on this pf, skipped", extra={"collector": name, "needs": cls.requires})
            continue
        if args is not None:
            out.append(cls.from_args(args))
        else:
            out.append(RulesCollector(per_rule=per_rule) if cls is RulesCollector else cls())
    return out


_arrival = threading.local()


@contextlib.contextmanager
def request_arrived(when: float) -> Iterator[None]:
    """Scrapes made in this block (this thread) arrived at *when* (the exporter's clock,
    ``time.monotonic`` by default): they may share a collection that was running then."""
    _arrival.t = when
    try:
        yield
    finally:
        _arrival.t = None


class _GcPause:
    """The state behind :func:`scrape_gc_paused` (one per process, as the collector is)."""

    MAX_SECONDS = 10.0  # a pause this old is ended by the next scrape to start

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scrapes = 0  # inside scrape_gc_paused()
        self.resume = False  # whether the last scrape to end enables the collector again
        self.since = 0.0
        self.clock: Callable[[], float] = time.monotonic


_gc_pause = _GcPause()


@contextlib.contextmanager
def scrape_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a scrape runs (from collection until its body is sent),
    in any thread: the last scrape to end enables it again, if it was enabled when the first
    started.  A scrape makes no reference cycles (tests/test_scrape_garbage.py), so a collection
    in the middle of one finds nothing, and it costs: it traverses the young families' lists of
    series, 6-9 ms a time on a per-rule scrape of 10,000 rules.  Cycles that other threads make
    meanwhile are collected once the scrapes are done.  Overlapping scrapes cannot keep it paused:
    a scrape that starts when the pause is over :attr:`_GcPause.MAX_SECONDS` old ends it (one
    scrape's own length is bounded by the server's write timeout)."""
    st = _gc_pause
    with st.lock:
        if st.scrapes == 0:
            st.resume, st.since = gc.isenabled(), st.clock()
            if st.resume:
                gc.disable()
        elif st.resume and st.clock() - st.since > st.MAX_SECONDS:
            gc.enable()  # paused long enough (slow clients): collect while these finish
            st.resume = False
        st.scrapes += 1
    try:
        yield
    finally:
        with st.lock:
            st.scrapes -= 1
            if st.scrapes == 0 and st.resume:
                gc.enable()
                st.resume = False


class _Flight:
    """One full collection under way, and what the scrapes that joined it get."""

    __slots__ = ("started", "finished", "done", "metrics", "error", "joined")

    def __init__(self, started: float) -> None:
        self.started = started
        self.finished = float("inf")
        self.done = threading.Event()
        self.metrics: list[Metric] = []
        self.error: BaseException | None = None
        self.joined = 0  # scrapes waiting for this collection besides the one running it


class PfExporter:
    """The custom collector behind ``/metrics``.

    Each scrape builds a fresh :class:`ScrapeView` (so a list is read at most once per
    scrape), runs the collectors one after another (they share one pf descriptor and
    its lock anyway) and appends the exporter's own families.

    Single flight: a full scrape that arrives while a full collection is running shares
    *that* collection's result instead of reading pf again, so any number of Prometheus
    servers scraping at the same moment cost pf one walk.  A request's arrival is the time
    the HTTP layer stamps with :func:`request_arrived` (when its request line came in), so a
    request that arrived during a collection but whose thread got to run only after it
    ended still shares it; without a stamp, the time ``collect`` is called.  With
    ``max_cache_age`` > 0 a scrape is also served a finished collection at most that many
    seconds old.  The last collection is kept until the next one starts.
    Filtered scrapes (``collect[]``) never share.  Walks are serialised.
    ``before_scrape`` runs first in every walk (the simulator moves its clock there).
    """

    def __init__(self, source: PfSource, collectors: Sequence[Collector], info: ExporterInfo,
                 before_scrape: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, max_cache_age: float = 0.0,
                 exporter_metrics: bool = True) -> None:
        if max_cache_age < 0:
            raise ValueError(f"max_cache_age {max_cache_age} must be >= 0 seconds")
        self.source = source
        self.clock = clock
        self.collectors = list(collectors)
        self.info = info
        self.before_scrape = before_scrape
        self.max_cache_age = max_cache_age
        self.exporter_metrics = exporter_metrics  # pf_exporter_* and process_* (--web.disable-exporter-metrics)
        self.scrapes = 0  # how many times pf was actually read
        self._state = threading.Lock()  # guards _flight and _last
        self._walk = threading.Lock()  # one walk of pf at a time
        self._flight: _Flight | None = None  # the full collection under way
        self._last: _Flight | None = None  # the last finished one, kept only with max_cache_age > 0
        self._build: Metric | None = None
        self.config = ConfigStatus()
        # The last collection of each collector: (seconds it took, succeeded, when, time.time()).
        self.last: dict[str, tuple[float, bool, float]] = {}

    def describe(self) -> list[Metric]:
        return []

    @property
    def waiting(self) -> int:
        """Scrapes currently waiting to share the running full collection."""
        flight = self._flight
        return flight.joined if flight is not None else 0

    def collect(self, only: Iterable[str] | None = None) -> Iterator[Metric]:
        if only is not None:
            wanted = set(only)
            with self._walk:
                metrics = self._scrape([c for c in self.collectors if c.name in wanted])
        else:
            metrics = self._shared()
        yield from metrics
        if self.exporter_metrics:
            yield self._build_info()
            yield from self._config_status()

    def _shared(self) -> list[Metric]:
        arrived: float | None = getattr(_arrival, "t", None)
        with self._state:
            flight = self._flight
            if flight is not None:
                flight.joined += 1
                lead = False
            else:
                last = self._last
                if last is not None and (self.clock() - last.started <= self.max_cache_age
                                         or (arrived is not None and arrived <= last.finished)):
                    return last.metrics  # fresh enough, or this request arrived while it ran
                # freed before the next collection is built (the local too: it would live on
                # through the whole collection)
                self._last = last = None
                flight = self._flight = _Flight(self.clock())
                lead = True
        if lead:
            try:
                with self._walk:
                    flight.metrics = self._scrape(self.collectors)
            except BaseException as e:
                flight.error = e
                raise
            finally:
                with self._state:
                    flight.finished = self.clock()
                    self._flight = None
                    self._last = flight if flight.error is None else None
                flight.done.set()
        else:
            flight.done.wait()
            if flight.error is not None:
                raise RuntimeError(f"the shared collection failed: {_describe(flight.error)}") from flight.error
        return flight.metrics

    def _build_info(self) -> Metric:
        if self._build is None:
            build = Family(SELF_SPECS[2])
            build.add((VERSION, self.info.abi, platform.python_version()), 1)
            self._build = build.metric
        return self._build

    def _config_status(self) -> Iterator[Metric]:
        ok, when = Family(SELF_SPECS[3]), Family(SELF_SPECS[4])
        ok.add((), 1.0 if self.config.successful else 0.0)
        when.add((), self.config.success_time)
        yield ok.metric
        yield when.metric

    def _scrape(self, selected: Sequence[Collector]) -> list[Metric]:
        self.scrapes += 1
        if self.before_scrape is not None:
            self.before_scrape()
        duration, success = Family(SELF_SPECS[0]), Family(SELF_SPECS[1])
        out: list[Metric] = []
        view = ScrapeView(self.source, self.info.release, index_rules=any(c.uses_rule_index for c in selected))
        try:
            for c in selected:
                start = time.perf_counter()
                try:
                    metrics = list(c.collect(view))
                    ok = True
                except Exception as e:  # a failed collector never fails the scrape
                    metrics = []
                    ok = False
                    log.error("collector failed", extra={"collector": c.name, "err": _describe(e)})
                    log.debug("collector failure detail", exc_info=True, extra={"collector": c.name})
                took = time.perf_counter() - start
                duration.add((c.name,), took)
                success.add((c.name,), 1.0 if ok else 0.0)
                self.last[c.name] = (took, ok, time.time())
                out.extend(metrics)
        finally:
            view.close()
        out.append(duration.metric)
        out.append(success.metric)
        return out

    def specs(self) -> list[tuple[Collector, MetricSpec]]:
        """Every family the enabled collectors may export, for the landing page."""
        out = [(c, s) for c in self.collectors for s in _enabled_specs(c)]
        return out


def _enabled_specs(c: Collector) -> tuple[MetricSpec, ...]:
    if isinstance(c, RulesCollector) and not c.per_rule:
        return c.label_specs
    return c.specs


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _FilteredView:
    """A registry-compatible collector that runs only some collectors (``collect[]``)."""

    def __init__(self, exporter: PfExporter, only: Sequence[str]) -> None:
        self.exporter, self.only = exporter, only

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        return self.exporter.collect(self.only)


def build_registry(exporter: PfExporter, only: Sequence[str] | None = None) -> CollectorRegistry:
    """A private registry holding the exporter and, unless ``exporter.exporter_metrics`` is off
    (``--web.disable-exporter-metrics``), the ``process_*`` metrics (:mod:`.process`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter if only is None else _FilteredView(exporter, only))
    if exporter.exporter_metrics:
        registry.register(ProcessMetrics())
    return registry
