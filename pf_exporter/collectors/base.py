"""What every collector shares: metric declarations, the per-scrape view of pf, the base class.

A collector turns :mod:`pf_exporter.pf` values into Prometheus metric families.  It
declares every family it can emit as a :class:`MetricSpec` (name, type, labels, help), so
the landing page, the README table and the tests all read the same declarations.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from ..pf import types as pft

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

__all__ = ["MetricSpec", "Family", "RowMetric", "PfSource", "ScrapeView", "Collector", "gauge", "counter"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric family a collector may emit.  ``name`` is the exposed sample name
    (counters end in ``_total``)."""

    name: str
    kind: str  # "gauge" | "counter"
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for n in (self.name, *self.labels):
            if not _NAME.fullmatch(n):
                raise ValueError(f"{n!r} is not a valid metric or label name")

    def new(self) -> Family:
        return Family(self)


def gauge(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "gauge", help, labels)


def counter(name: str, help: str, *labels: str) -> MetricSpec:
    if not name.endswith("_total"):
        raise ValueError(f"counter {name} must end in _total")
    return MetricSpec(name, "counter", help, labels)


# Sample is a namedtuple (name, labels, value, timestamp, exemplar, ...); building it through
# tuple.__new__ skips the keyword handling of its generated constructor.  The trailing fields
# are None in every prometheus_client version.
_new_tuple = tuple.__new__
_SAMPLE_REST = (None,) * (len(Sample._fields) - 3)

class RowMetric(Metric):
    """A prometheus_client metric family whose series are kept as two parallel lists: ``keys``
    (each series' label values, a tuple) and ``values``.  The exporter's text encoder renders
    them directly; prometheus_client's :class:`Sample` tuples (and their label dicts) are built
    only when something reads ``samples`` (the OpenMetrics encoder, tests), and rebuilt if series
    were added since.  No tuple per series: a large scrape has tens of thousands."""

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.keys: list[tuple[str, ...]] = []
        self.values: list[float] = []
        self._built: tuple[int, list[Sample]] | None = None
        super().__init__(spec.name[:-6] if spec.kind == "counter" else spec.name, spec.help, spec.kind)

    @property
    def samples(self) -> list[Sample]:
        keys = self.keys
        built = self._built
        if built is None or built[0] != len(keys):
            if len(keys) != len(self.values):
                raise ValueError(f"{self.spec.name}: {len(keys)} label sets for {len(self.values)} values")
            make = _sample_maker(self.spec.name, self.spec.labels)
            built = self._built = (len(keys), list(map(make, keys, self.values)))
        return built[1]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:
            raise TypeError("a RowMetric's series are added with Family.add, not as samples")


class Family:
    """A fresh metric family for one scrape; ``add(label values tuple, value)`` appends one
    series.  Collectors adding thousands append to ``keys`` and ``values`` (the same lists as the
    metric's) themselves, one of each per series."""

    __slots__ = ("spec", "metric", "keys", "values")

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.metric: RowMetric = RowMetric(spec)
        self.keys = self.metric.keys
        self.values = self.metric.values

    def add(self, key: tuple[str, ...], value: float) -> None:
        self.keys.append(key)
        self.values.append(value)

    def add1(self, value: float) -> None:
        """Add the one sample of a family without labels."""
        self.add((), value)

    def __len__(self) -> int:
        return len(self.keys)


K = TypeVar("K")
V = TypeVar("V")


class KeptLabels(Generic[K, V]):
    """The label tuples a collector builds for each pf object (a table, an interface, a rule),
    reused while the object is the same: the text encoder then finds last scrape's tuples (a list
    comparison that stops at identity) and nothing is built twice.  Only the objects of the last
    scrape are kept, so it never outgrows pf.

    Kept by the identity's hash, next to the identity itself (compared on every hit, so two
    identities sharing a hash only cost a rebuild): an unchanged object's entry is the one kept
    last time, and the identity tuple a collector makes on every scrape is freed at once instead
    of being kept.  Kept, the 20,000 such tuples of a 10,000-rule per-rule scrape each time
    outnumbered the garbage collector's young-generation threshold and made it traverse the
    scrape's families once per scrape (6-9 ms)."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[K, V]] = {}
        self._seen: dict[int, tuple[K, V]] = {}

    def start(self) -> None:
        """A new scrape: what the last one saw is what this one may reuse."""
        self._kept, self._seen = self._seen, {}

    def get(self, identity: K, build: Callable[..., V], *args: Any) -> V:
        """The tuples of the object *identity*: last scrape's, or ``build(*args)``."""
        h = hash(identity)
        entry = self._kept.get(h)
        if entry is None or entry[0] != identity:
            entry = (identity, build(*args))
        self._seen[h] = entry
        return entry[1]


@cache
def _sample_maker_source(labels: tuple[str, ...]) -> str:
    pairs = ", ".join(f"{label!r}: v[{i}]" for i, label in enumerate(labels))
    return f"lambda v, x: new(Sample, (name, {{{pairs}}}, x, *rest))"


@cache
def _sample_maker(name: str, labels: tuple[str, ...]) -> Callable[[tuple[str, ...], float], Sample]:
    """``make(labelvalues, value)`` -> Sample for one family: a dict display with the label
    names spelled out is four times faster than ``dict(zip(...))``.  The names come from the
    specs (checked to be identifiers), never from pf."""
    env = {"new": _new_tuple, "Sample": Sample, "name": name, "rest": _SAMPLE_REST}
    return eval(_sample_maker_source(labels), env)


class PfSource(Protocol):
    """What collectors read: the part of :class:`pf_exporter.pf.PacketFilter` they use."""

    def status(self) -> pft.Status: ...
    def limits(self) -> Mapping[str, int]: ...
    def timeouts(self) -> Mapping[str, int]: ...
    def syncookie_watermarks(self) -> tuple[int, int]: ...
    def interfaces(self) -> list[pft.Interface]: ...
    def tables(self) -> list[pft.Table]: ...
    def anchors(self) -> list[str]: ...
    def iter_rulesets(self, anchors: Sequence[str] | None = None, *, texts: bool = False
                      ) -> Iterator[pft.Ruleset]: ...
    def queues(self) -> list[pft.Queue]: ...
    def state_limiters(self) -> list[pft.StateLimiter]: ...
    def source_limiters(self) -> list[pft.SourceLimiter]: ...
    def count_states(self) -> Counter[tuple[str, str, int, str]]: ...
    def table_addresses(self, table: str, anchor: str = "", *, counters: bool = True,
                        limit: int | None = None) -> list[pft.TableAddress]: ...
    def states(self, where: pft.StateFilter | None = None, *, limit: int | None = None,
               **conditions: Any) -> Iterator[pft.State]: ...
    def source_nodes(self) -> list[pft.SourceNode]: ...
    def carp_interfaces(self) -> list[pft.CarpInterface]: ...
    def pfsync_interfaces(self) -> list[pft.PfsyncInterface]: ...
    def carp_stats(self) -> dict[str, int]: ...
    def pfsync_stats(self) -> dict[str, int]: ...
    def carp_settings(self) -> pft.CarpSettings: ...
    def interface_groups(self, interface: str) -> list[str]: ...
    def group_demotion(self, group: str) -> int: ...


class ScrapeView:
    """One scrape's view of pf: each list read at most once, shared by the collectors.

    The limits collector needs the status, tables and anchors that other collectors also
    read; memoising them here keeps one scrape to one ioctl walk per kind.  A read that
    fails raises again for every collector that asks (each then reports failure).
    ``rulesets()`` and ``count_states()`` are never memoised: they stream (one ruleset's rules, one
    buffer of states held at a time); ``rulesets()`` walks the anchors read by ``anchors()``.
    """

    def __init__(self, source: PfSource, release: str = "", index_rules: bool = True) -> None:
        self.source = source
        self.release = release
        self.index_rules = index_rules  # keep the rule index while streaming (a collector will ask for it)
        self._cache: dict[str, Any] = {}
        self._errors: dict[str, BaseException] = {}

    def close(self) -> None:
        """The scrape is over: let go of what it read and of its errors (an error's traceback
        holds this view's frames: kept, they would be a reference cycle each failing scrape)."""
        self._cache.clear()
        self._errors.clear()

    def _get(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        if name in self._errors:
            raise self._errors[name]
        try:
            value = getattr(self.source, name)()
        except Exception as e:
            self._errors[name] = e
            raise
        self._cache[name] = value
        return value

    def status(self) -> pft.Status:
        return self._get("status")

    def limits(self) -> Mapping[str, int]:
        return self._get("limits")

    def timeouts(self) -> Mapping[str, int]:
        return self._get("timeouts")

    def syncookie_watermarks(self) -> tuple[int, int]:
        return self._get("syncookie_watermarks")

    def interfaces(self) -> list[pft.Interface]:
        return self._get("interfaces")

    def tables(self) -> list[pft.Table]:
        return self._get("tables")

    def anchors(self) -> list[str]:
        return self._get("anchors")

    def rulesets(self, texts: bool = False) -> Iterator[pft.Ruleset]:
        """The main ruleset, then every anchor of :meth:`anchors`, one at a time (*texts*: with
        each rule's pfctl -sr text)."""
        return self._indexed(self.source.iter_rulesets(self.anchors(), texts=texts))

    def _indexed(self, rulesets: Iterator[pft.Ruleset]) -> Iterator[pft.Ruleset]:
        """Streams *rulesets*, keeping each rule's (number, label, anchor call): a walk finished
        once serves :meth:`rule_index` for the rest of the scrape."""
        if not self.index_rules:
            yield from rulesets
            return
        index: dict[str, tuple[tuple[int, str, str], ...]] = {}
        for rs in rulesets:
            index[rs.path] = tuple((r.number, r.label, r.anchor_call) for r in rs.rules)
            yield rs
        self._cache["rule_index"] = index

    def label_totals(self) -> Iterator[pft.LabelTotals]:
        """Per ruleset, its rules summed per label: straight from the kernel's answers when nothing
        else in this scrape needs the rules (no index kept), else from :meth:`rulesets`."""
        fn = getattr(self.source, "label_totals", None)
        if fn is not None and not self.index_rules:
            yield from fn(self.anchors())
            return
        for rs in self.rulesets():
            yield pft.LabelTotals(rs.path, len(rs.rules), sum_labels(rs.rules))

    def rule_index(self) -> dict[str, tuple[tuple[int, str, str], ...]]:
        """Every ruleset's rules as (number, label, anchor call), from this scrape's rule walk if
        one finished (the rules collector's), else from a walk of its own."""
        if "rule_index" not in self._cache:
            self.index_rules = True
            for _rs in self.rulesets():
                pass
        index: dict[str, tuple[tuple[int, str, str], ...]] = self._cache["rule_index"]
        return index

    def queues(self) -> list[pft.Queue]:
        return self._get("queues")

    def state_limiters(self) -> list[pft.StateLimiter]:
        return self._get("state_limiters")

    def source_limiters(self) -> list[pft.SourceLimiter]:
        return self._get("source_limiters")

    def count_states(self) -> Counter[tuple[str, str, int, str]]:
        """States counted by (interface, family, protocol, direction)."""
        return self.source.count_states()

    def table_addresses(self, table: str, anchor: str, limit: int) -> list[pft.TableAddress]:
        """One table's addresses with their counters, the first *limit* of them (not memoised)."""
        return self.source.table_addresses(table, anchor, counters=True, limit=limit)

    def states(self) -> Iterator[pft.State]:
        """Every state, streamed (not memoised: read by the one collector that asks)."""
        return self.source.states()

    def source_nodes(self) -> list[pft.SourceNode]:
        return self._get("source_nodes")

    def carp_interfaces(self) -> list[pft.CarpInterface]:
        return self._get("carp_interfaces")

    def pfsync_interfaces(self) -> list[pft.PfsyncInterface]:
        return self._get("pfsync_interfaces")

    def carp_stats(self) -> dict[str, int]:
        return self._get("carp_stats")

    def pfsync_stats(self) -> dict[str, int]:
        return self._get("pfsync_stats")

    def carp_settings(self) -> pft.CarpSettings:
        return self._get("carp_settings")

    def interface_groups(self, interface: str) -> list[str]:
        return self.source.interface_groups(interface)

    def group_demotion(self, group: str) -> int:
        return self.source.group_demotion(group)


def sum_labels(rules: Iterable[pft.RuleCounters]) -> dict[str, tuple[int, int, int, int, int, int, int, int]]:
    """Rules summed per label as :class:`pf_exporter.pf.LabelTotals` holds them (evaluations, packets
    in/out, bytes in/out, states, states created, rules)."""
    totals: dict[str, list[int]] = {}
    for r in rules:
        a = totals.get(r.label)
        if a is None:
            totals[r.label] = [r.evaluations, r.packets_in, r.packets_out, r.bytes_in, r.bytes_out,
                               r.states_current, r.states_total, 1]
        else:
            a[0] += r.evaluations
            a[1] += r.packets_in
            a[2] += r.packets_out
            a[3] += r.bytes_in
            a[4] += r.bytes_out
            a[5] += r.states_current
            a[6] += r.states_total
            a[7] += 1
    return {k: tuple(v) for k, v in totals.items()}  # type: ignore[misc]  # eight ints


class Collector:
    """One concern of pf (status, tables, ...).  Subclasses set the class attributes and
    implement :meth:`collect`, which must return *all* its families or raise: the
    exporter discards a failed collector's partial output."""

    name: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    description: ClassVar[str]
    specs: ClassVar[tuple[MetricSpec, ...]]
    # A feature the running pf must have (e.g. "limiters", OpenBSD 7.9+); None = always.
    requires: ClassVar[str | None] = None
    # Whether collect() calls ScrapeView.rule_index(): the scrape then keeps the index while the
    # rules collector streams the rules (else the rule walk keeps nothing)
    uses_rule_index: bool = False

    @classmethod
    def add_flags(cls, group: Any) -> None:
        """Add this collector's own options to *group* (an argparse argument group), named
        ``--collector.<name>.<option>`` as node_exporter names them.  Most collectors have none."""

    @classmethod
    def from_args(cls, args: Any) -> Collector:
        """The collector configured from the parsed command line (its own options)."""
        return cls()

    def collect(self, pf: ScrapeView) -> Iterable[Metric]:
        raise NotImplementedError

    def families(self) -> dict[str, Family]:
        """Fresh families for every spec, keyed by exposed name."""
        return {s.name: Family(s) for s in self.specs}


def emit(families: Iterable[Family]) -> list[Metric]:
    """The metrics of *families* that have samples (an empty family is not exposed)."""
    return [f.metric for f in families if f.keys]


def flag(b: bool) -> float:
    return 1.0 if b else 0.0

