"""The Prometheus text exposition (format 0.0.4) of the collectors' families, byte for byte what
:func:`prometheus_client.generate_latest` writes, several times faster on large expositions and
streamed: each family is encoded on its own, a large one :data:`SLICE_ROWS` series at a time.

:func:`generate_text` gives the whole body, :func:`generate_chunks` its pieces.  A test
(tests/test_exposition_encoder.py) checks the bytes against generate_latest with hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

from .collectors.base import MetricSpec, RowMetric


def _escape_label(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


_BIG = 2**53  # ints below this convert to float exactly
# Go's exponent and the line's end for an integer of n digits (n - 1 is the exponent): _EXPONENT[n]
_EXPONENT = [""] + [f"e+{n:02d}\n" for n in range(len(str(_BIG)))]


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
    return eval(f"lambda v: f'{name}{{{{{parts}}}}} '", {"e": _escape_label})


# A family's series are encoded this many at a time: the text held at once stays small (some
# hundred kB) however many series a family has.
SLICE_ROWS = 2048

# Each slice of each family as the last scrape that encoded it rendered it: (label values of its
# rows, a %-format of its text with each value left out), per (name, label names), per slice.  The
# series of rules, tables and interfaces rarely change between scrapes, so a slice whose label
# values equal the last ones (a list comparison, no hashing) only formats its values into the
# template, in one C call; another renders its ``name{labels} `` prefixes again.  One template
# string per slice, not a string per series, and only the last scrape's slices: label values
# that come and go cannot make it grow.
_SLICES: dict[tuple[str, tuple[str, ...]], list[tuple[list[tuple[str, ...]], str]]] = {}


def _template(spec: MetricSpec, keys: list[tuple[str, ...]], index: int, slices: int) -> str:
    """The template of label values *keys*, slice *index* of *slices* of *spec*'s family."""
    family = (spec.name, spec.labels)
    kept = _SLICES.get(family)
    if kept is None or len(kept) != slices:
        kept = (kept or [])[:slices]
        kept += [([], "")] * (slices - len(kept))
        _SLICES[family] = kept
    old_keys, template = kept[index]
    if old_keys != keys:
        render = _prefix_renderer(*family)
        template = "%s".join([render(k).replace("%", "%%") for k in keys]) + "%s"
        kept[index] = (keys, template)
    return template


def _rows_text(spec: MetricSpec, keys: list[tuple[str, ...]], values: Sequence[float], index: int = 0,
               slices: int = 1) -> str:
    """The text of the series *keys* (label values) with *values*, slice *index* of the *slices*
    of a family."""
    if not keys:
        return ""
    if len(keys) != len(values):
        raise ValueError(f"{spec.name}: {len(keys)} label sets for {len(values)} values")
    out: list[str] = []
    add = out.append
    for x in values:
        if type(x) is int:
            if -1_000_000 < x < 1_000_000:
                add(f"{x}.0\n")
                continue
            if 1_000_000 <= x < _BIG:  # _go_float's exponent form, inline: most counters are here
                d = str(x)
                t = d.rstrip("0")
                add(f"{t[0]}.{t[1:]}{_EXPONENT[len(d)]}" if len(t) > 1 else f"{t}{_EXPONENT[len(d)]}")
                continue
        add(f"{_go_float(x)}\n")
    return _template(spec, keys, index, slices) % tuple(out)


def generate_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (0.0.4), byte for byte what
    :func:`prometheus_client.generate_latest` writes for the gauges and counters the
    collectors build, several times faster on large expositions: the collectors' families
    (:class:`RowMetric`) are rendered from their label tuples and values, each slice's text
    kept between scrapes as a template the values are formatted into; other families sort each
    label set's names once per family.  Anything else falls back to ``generate_latest``."""
    return b"".join(generate_chunks(registry))


def generate_chunks(registry: CollectorRegistry) -> Iterator[bytes]:
    """:func:`generate_text`'s bytes in pieces (their concatenation is the exposition).

    The registry is collected when this is called (a failing collection raises here, before
    anything is sent); the text is then encoded as the pieces are taken, each family on its
    own and a large one :data:`SLICE_ROWS` series at a time, so a server can send the body
    while it is written without ever holding all of it."""
    metrics = list(registry.collect())
    if not all(_encodable(m) for m in metrics):
        return iter([generate_latest(_Fixed(metrics))])
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
        keys, values, spec = m.keys, m.values, m.spec
        total = len(keys)
        if total <= SLICE_ROWS:
            yield (head + _rows_text(spec, keys, values)).encode()
            continue
        yield head.encode()
        slices = -(-total // SLICE_ROWS)
        for n in range(slices):
            part = slice(n * SLICE_ROWS, (n + 1) * SLICE_ROWS)
            yield _rows_text(spec, keys[part], values[part], n, slices).encode()


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
