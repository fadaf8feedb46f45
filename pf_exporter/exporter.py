"""The scrape: run every enabled collector against one fresh view of pf, time each, and
never let one collector's failure fail the scrape.

:class:`PfExporter` is a prometheus_client custom collector (``describe()`` returns ``[]``
so registering it does no I/O); :func:`build_registry` puts it in a private registry.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

from . import __version__
from .collectors import COLLECTORS, Collector, Family, MetricSpec, PfSource, ScrapeView
from .collectors.base import RowMetric, gauge

log = logging.getLogger(__name__)


VERSION = __version__

SELF_SPECS = (
    gauge("pf_scrape_collector_duration_seconds", "How long the collector took in this scrape", "collector"),
    gauge("pf_scrape_collector_success", "1 when the collector succeeded in this scrape, 0 when it failed "
          "(it then exported none of its own series)", "collector"),
    gauge("pf_exporter_build_info", "pf_exporter's version, the pf ABI it speaks (release/arch) and the Python "
          "running it (always 1)", "version", "abi", "python"),
)


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
    enabled: Iterable[str], features: frozenset[str] = frozenset(), per_rule: bool = False
) -> list[Collector]:
    """Instantiate the *enabled* collectors (in registry order), leaving out those whose
    required pf feature the running release lacks."""
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
        out.append(cls(per_rule=per_rule) if name == "rules" else cls())
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
                 clock: Callable[[], float] = time.monotonic, max_cache_age: float = 0.0) -> None:
        if max_cache_age < 0:
            raise ValueError(f"max_cache_age {max_cache_age} must be >= 0 seconds")
        self.source = source
        self.clock = clock
        self.collectors = list(collectors)
        self.info = info
        self.before_scrape = before_scrape
        self.max_cache_age = max_cache_age
        self.scrapes = 0  # how many times pf was actually read
        self._state = threading.Lock()  # guards _flight and _last
        self._walk = threading.Lock()  # one walk of pf at a time
        self._flight: _Flight | None = None  # the full collection under way
        self._last: _Flight | None = None  # the last finished one, kept only with max_cache_age > 0
        self._build: Metric | None = None

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
        yield self._build_info()

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

    def _scrape(self, selected: Sequence[Collector]) -> list[Metric]:
        self.scrapes += 1
        if self.before_scrape is not None:
            self.before_scrape()
        duration, success = Family(SELF_SPECS[0]), Family(SELF_SPECS[1])
        out: list[Metric] = []
        view = ScrapeView(self.source, self.info.release)
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
            duration.add((c.name,), time.perf_counter() - start)
            success.add((c.name,), 1.0 if ok else 0.0)
            out.extend(metrics)
        out.append(duration.metric)
        out.append(success.metric)
        return out

    def specs(self) -> list[tuple[Collector, MetricSpec]]:
        """Every family the enabled collectors may export, for the landing page."""
        out = [(c, s) for c in self.collectors for s in _enabled_specs(c)]
        return out


def _enabled_specs(c: Collector) -> tuple[MetricSpec, ...]:
    if c.name == "rules" and not getattr(c, "per_rule", False):
        return c.label_specs  # type: ignore[attr-defined, no-any-return]
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
    """A private registry holding only the exporter (no process/platform collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter if only is None else _FilteredView(exporter, only))  # type: ignore[arg-type]
    return registry


def metrics_markdown() -> str:
    """The README's table of every metric, generated from the collectors' declarations
    (tests/test_exposition_readme.py keeps README.md equal to it)."""
    lines = ["| metric | type | labels | collector | meaning |", "|---|---|---|---|---|"]
    rows = [(cls.name, cls.default_enabled, s) for cls in COLLECTORS.values() for s in cls.specs]
    rows += [("exporter", True, s) for s in SELF_SPECS]
    for collector, default, s in rows:
        where = collector if default else f"{collector} (off by default)"
        if s.name.startswith("pf_rule_"):
            where += " (--collector.rules.per-rule)"
        labels = ", ".join(f"`{label}`" for label in s.labels)
        meaning = s.help.replace("|", "\\|")
        lines.append(f"| `{s.name}` | {s.kind} | {labels} | {where} | {meaning} |")
    return "\n".join(lines) + "\n"


# --- text exposition -----------------------------------------------------------------------------------

def _escape_label(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


_BIG = 2**53  # ints below this convert to float exactly


def _go_float(v: float) -> str:
    """``floatToGoString(v)`` with the integers the collectors mostly export done without a float."""
    if type(v) is int:
        if -1_000_000 < v < 1_000_000:
            return f"{v}.0"
        if 1_000_000 <= v < _BIG:
            d = str(v)
            # Go's exponent form: one digit, the rest without trailing zeros, two-digit exponent
            return f"{(d[0] + '.' + d[1:]).rstrip('0.')}e+{len(d) - 1:02d}"
    return floatToGoString(v)


@cache
def _prefix_renderer(name: str, labels: tuple[str, ...]) -> Callable[[tuple[str, ...]], str]:
    """``render(label values) -> 'name{a="x",b="y"} '`` with the label names in sorted order, as
    generate_latest writes them.  Names come from the specs (validated identifiers)."""
    if not labels:
        return lambda v: name + " "
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    parts = ",".join(f'{labels[i]}="{{e(v[{i}])}}"' for i in order)
    return eval(f"lambda v: f'{name}{{{{{parts}}}}} '", {"e": _escape_label})  # type: ignore[no-any-return]  # noqa: S307


# Rendered ``name{labels} `` prefixes of the series seen in earlier scrapes, per (name, label
# names): the label values of rules, tables and interfaces rarely change between scrapes.
# A family's cache is dropped when it holds more than twice the series it had last time (plus
# some slack), so label values that come and go cannot make it grow without bound.
_PREFIXES: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], str]] = {}
_PREFIX_SLACK = 1024


# A family's series are encoded this many at a time: the text held at once stays small (some
# hundred kB) however many series a family has.
SLICE_ROWS = 2048


def _rows_text(spec: MetricSpec, rows: Sequence[tuple[tuple[str, ...], float]], total: int) -> str:
    """The text of *rows* of a family of *total* series (for the prefix cache's bound)."""
    key = (spec.name, spec.labels)
    cache = _PREFIXES.get(key)
    if cache is None:
        cache = _PREFIXES[key] = {}
    get = cache.get
    render = _prefix_renderer(*key)
    out = []
    add = out.append
    for v, x in rows:
        p = get(v)
        if p is None:
            p = cache[v] = render(v)
        if type(x) is int:
            if -1_000_000 < x < 1_000_000:
                add(f"{p}{x}.0\n")
                continue
            if 1_000_000 <= x < _BIG:  # _go_float's exponent form, inline: most counters are here
                d = str(x)
                t = d.rstrip("0")
                add(f"{p}{t[0]}.{t[1:]}e+{len(d) - 1:02d}\n" if len(t) > 1 else f"{p}{t}e+{len(d) - 1:02d}\n")
                continue
        add(f"{p}{_go_float(x)}\n")
    if len(cache) > 2 * total + _PREFIX_SLACK:
        cache.clear()
    return "".join(out)


def generate_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (0.0.4), byte for byte what
    :func:`prometheus_client.generate_latest` writes for the gauges and counters the
    collectors build, several times faster on large expositions: the collectors' families
    (:class:`RowMetric`) are rendered from their rows with each series' ``name{labels}``
    cached between scrapes; other families sort each label set's names once per family.
    Anything else falls back to ``generate_latest``."""
    return b"".join(generate_chunks(registry))


def generate_chunks(registry: CollectorRegistry) -> Iterator[bytes]:
    """:func:`generate_text`'s bytes in pieces (their concatenation is the exposition).

    The registry is collected when this is called (a failing collection raises here, before
    anything is sent); the text is then encoded as the pieces are taken, each family on its
    own and a large one :data:`SLICE_ROWS` series at a time, so a server can send the body
    while it is written without ever holding all of it."""
    metrics = list(registry.collect())
    if not all(_encodable(m) for m in metrics):
        return iter([generate_latest(_Fixed(metrics))])  # type: ignore[arg-type]
    return _chunks(metrics)


def _encodable(m: Metric) -> bool:
    """Whether the text encoder writes *m* (else generate_latest writes the exposition)."""
    if m.type not in ("counter", "gauge"):
        return False
    return type(m) is RowMetric or all(s.timestamp is None and s.exemplar is None for s in m.samples)


def _chunks(metrics: list[Metric]) -> Iterator[bytes]:
    for m in metrics:
        name = m.name + "_total" if m.type == "counter" else m.name
        doc = m.documentation.replace("\\", r"\\").replace("\n", r"\n")
        head = f"# HELP {name} {doc}\n# TYPE {name} {m.type}\n"
        if type(m) is not RowMetric:
            yield (head + _samples_text(m)).encode()
            continue
        rows, spec = m.rows, m.spec
        total = len(rows)
        if total <= SLICE_ROWS:
            yield (head + _rows_text(spec, rows, total)).encode()
            continue
        yield head.encode()
        for i in range(0, total, SLICE_ROWS):
            yield _rows_text(spec, rows[i:i + SLICE_ROWS], total).encode()


def _samples_text(m: Metric) -> str:
    """A family that is not a RowMetric: its samples, each label set's names sorted once."""
    out: list[str] = []
    append = out.append
    orders: dict[tuple[str, ...], list[str]] = {}
    for s in m.samples:
        labels = s.labels
        if labels:
            keys = tuple(labels)
            order = orders.get(keys)
            if order is None:
                order = orders[keys] = sorted(keys)
            text = ",".join([f'{k}="{_escape_label(labels[k])}"' for k in order])
            append(f"{s.name}{{{text}}} {_go_float(s.value)}\n")
        else:
            append(f"{s.name} {_go_float(s.value)}\n")
    return "".join(out)


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics
