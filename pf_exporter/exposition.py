"""The Prometheus text exposition (format 0.0.4) of the collectors' families, byte for byte what
:func:`prometheus_client.generate_latest` writes, several times faster on large expositions and
streamed: each family is encoded on its own, a large one :data:`SLICE_ROWS` series at a time.

:func:`generate_text` gives the whole body, :func:`generate_chunks` its pieces.  A test
(tests/test_exposition_encoder.py) checks the bytes against generate_latest with hypothesis.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

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
_SMALL_END = 1024
_SMALL = [b"%d.0\n" % n for n in range(_SMALL_END)]  # the value text of the small integers (40 kB)


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
# rows, a bytes %-format of its UTF-8 text with each value left out), per (name, label names), per
# slice.  The series of rules, tables and interfaces rarely change between scrapes, so a slice
# whose label values equal the last ones (a list comparison, no hashing) only formats its values
# into the template, in one C call (bytes formatting finds each ``%`` with memchr: a quarter of
# the time str formatting takes); another renders its ``name{labels} `` prefixes again.  One
# template per slice, not a string per series, and only the last scrape's slices: label values
# that come and go cannot make it grow.
_SLICES: dict[tuple[str, tuple[str, ...]], list[tuple[list[tuple[str, ...]], bytes]]] = {}


def _template(spec: MetricSpec, keys: list[tuple[str, ...]], index: int, slices: int) -> bytes:
    """The template of label values *keys*, slice *index* of *slices* of *spec*'s family."""
    family = (spec.name, spec.labels)
    kept = _SLICES.get(family)
    if kept is None or len(kept) != slices:
        kept = (kept or [])[:slices]
        kept += [([], b"")] * (slices - len(kept))
        _SLICES[family] = kept
    old_keys, template = kept[index]
    if old_keys != keys:
        render = _prefix_renderer(*family)
        template = ("%b".join([render(k).replace("%", "%%") for k in keys]) + "%b").encode()
        kept[index] = (keys, template)
    return template


def _rows_text(spec: MetricSpec, keys: list[tuple[str, ...]], values: Sequence[float], index: int = 0,
               slices: int = 1) -> bytes:
    """The text (UTF-8) of the series *keys* (label values) with *values*, slice *index* of the
    *slices* of a family."""
    if not keys:
        return b""
    if len(keys) != len(values):
        raise ValueError(f"{spec.name}: {len(keys)} label sets for {len(values)} values")
    out: list[bytes] = []
    add = out.append
    small = _SMALL
    for x in values:
        if type(x) is int:
            if 0 <= x < _SMALL_END:  # flags, counts, states, idle counters: a list lookup
                add(small[x])
                continue
            if -1_000_000 < x < 1_000_000:
                add(b"%d.0\n" % x)
                continue
            if 1_000_000 <= x < _BIG:  # _go_float's exponent form, inline: most counters are here
                d = str(x)
                t = d.rstrip("0")
                add((f"{t[0]}.{t[1:]}{_EXPONENT[len(d)]}" if len(t) > 1 else f"{t}{_EXPONENT[len(d)]}").encode())
                continue
        add(f"{_go_float(x)}\n".encode())
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
            yield head.encode() + _rows_text(spec, keys, values)
            continue
        yield head.encode()
        slices = -(-total // SLICE_ROWS)
        for n in range(slices):
            part = slice(n * SLICE_ROWS, (n + 1) * SLICE_ROWS)
            yield _rows_text(spec, keys[part], values[part], n, slices)


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


class EncodeAhead:
    """The bytes of *chunks*; after the first *start_after* bytes (taken one chunk at a time, in
    the reader's thread: a small exposition needs no thread), encoded by a thread of their own
    ahead of the reader, so the Python encoding overlaps the reader's compression and writes
    (zlib and sockets release the GIL).  The reader then takes the encoded chunks :data:`TAKE`
    bytes at a time, joined (or what is left at the end): each hand-over between the threads
    costs a GIL switch both ways, so fewer, larger compress calls overlap better.  An encoder's
    exception is raised where its chunk would have come; :meth:`close` (the reader is done, or
    went away) stops the thread."""

    _END = object()
    # bytes the reader waits for; the encoder waits while this many are not taken (a chunk, at most
    # SLICE_ROWS series, may be larger): what a gzipped scrape holds on top of the plain one
    TAKE = 32 * 1024
    AHEAD = 128 * 1024

    def __init__(self, chunks: Iterator[bytes], start_after: int = 0) -> None:
        self._chunks = chunks
        self._direct = start_after  # bytes still to take in the reader's thread
        self._items: list[Any] = []
        self._size = 0  # bytes in _items
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if start_after <= 0:
            self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._produce, name="encode-ahead", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        item: Any
        try:
            for chunk in self._chunks:
                with self._cond:
                    while self._size >= self.AHEAD and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    self._items.append(chunk)
                    self._size += len(chunk)
                    if self._size >= self.TAKE:
                        self._cond.notify_all()
            item = self._END
        except BaseException as e:  # handed to the reader, raised there
            item = e
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()
        del item  # an error's traceback holds this frame: it must not hold the error (a cycle)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        """The next chunk (before *start_after* bytes), then the chunks encoded so far, joined, once
        there are :data:`TAKE` bytes of them or the encoder is done."""
        if self._thread is None:
            if self._closed:
                raise StopIteration
            chunk = next(self._chunks)  # its end or its error, as they come
            self._direct -= len(chunk)
            if self._direct <= 0:
                self._start()
            return chunk
        with self._cond:
            items = self._items
            while not items or (self._size < self.TAKE and isinstance(items[-1], bytes)):
                self._cond.wait()
            n = next((i for i, x in enumerate(items) if not isinstance(x, bytes)), len(items)) or 1
            taken, items[:n] = items[:n], []
            item = taken[0]
            if isinstance(item, bytes):
                self._size -= sum(map(len, taken))
                self._cond.notify_all()
            else:
                items.insert(0, item)  # the end (or the error) stays for the next call
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            try:
                raise item
            finally:
                del item, taken  # as in _produce: this frame must not hold its own error
        return item if len(taken) == 1 else b"".join(taken)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._cond:
            self._items.clear()  # nothing kept once the reader is done


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics
