"""generate_text writes exactly what prometheus_client's generate_latest writes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from support.fakepf import FakePf

from pf_exporter.collectors import COLLECTORS
from pf_exporter.collectors.base import counter, gauge
from pf_exporter.exporter import (
    ExporterInfo,
    PfExporter,
    build_collectors,
    build_registry,
)
from pf_exporter.exposition import generate_chunks, generate_text


class Static:
    def __init__(self, metrics) -> None:
        self.metrics = metrics

    def collect(self):
        return self.metrics

    def describe(self):
        return []


def registry_of(metrics) -> CollectorRegistry:
    r = CollectorRegistry(auto_describe=False)
    r.register(Static(metrics))
    return r


def test_same_bytes_for_the_whole_fake_exposition() -> None:
    e = PfExporter(FakePf(), build_collectors(COLLECTORS, frozenset({"limiters"}), per_rule=True),
                   ExporterInfo("7.9", "amd64"))
    metrics = list(e.collect())
    r = registry_of(metrics)
    assert generate_text(r) == generate_latest(r)



def test_chunks_are_one_per_family_and_add_up_to_the_exposition() -> None:
    e = PfExporter(FakePf(), build_collectors(COLLECTORS, frozenset({"limiters"}), per_rule=True),
                   ExporterInfo("7.9", "amd64"))
    r = registry_of(list(e.collect()))
    chunks = list(generate_chunks(r))
    assert len(chunks) == len(list(r.collect()))
    assert all(c.startswith(b"# HELP ") for c in chunks)
    assert b"".join(chunks) == generate_latest(r)


def test_a_large_family_is_encoded_a_slice_at_a_time() -> None:
    from pf_exporter.exposition import SLICE_ROWS

    f = counter("pf_many_total", "many series", "id").new()
    n = 2 * SLICE_ROWS + 5
    for i in range(n):
        f.add((str(i),), i * 1_000_003)
    r = registry_of([f.metric])
    chunks = list(generate_chunks(r))
    assert len(chunks) == 1 + 3  # HELP/TYPE, then three slices
    assert [c.count(b"\n") for c in chunks] == [2, SLICE_ROWS, SLICE_ROWS, 5]
    assert b"".join(chunks) == generate_latest(r)


def test_the_collection_happens_when_chunks_are_asked_for_not_when_they_are_taken() -> None:
    class Failing:
        def collect(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("pf is gone")

    with pytest.raises(RuntimeError):
        generate_chunks(Failing())  # type: ignore[arg-type]


values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
)
label_values = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(label_values, label_values, values), max_size=6), values)
def test_same_bytes_for_any_label_values_and_numbers(rows, single) -> None:
    c, g, plain = counter("pf_x_total", "a \\ help\nline", "b", "a").new(), gauge("pf_y", "y", "z", "a").new(), \
        gauge("pf_z", "z").new()
    for a, b, v in rows:
        c.add((a, b), v)
        g.add((b, a), v)
    plain.add1(single)
    r = registry_of([c.metric, g.metric, plain.metric])
    assert generate_text(r) == generate_latest(r)


def test_same_bytes_at_each_edge_of_the_encoders_number_paths() -> None:
    """The encoder formats integers on paths of their own (a table below 1,024, ``N.0`` below a
    million, Go's exponent form up to 2**53, floatToGoString beyond): each edge, and floats and
    bools next to the integers, as generate_latest writes them."""
    edges = [0, 1, 1023, 1024, 1025, -1, -1023, -1024, 999_999, 1_000_000, 1_000_001, -999_999, -1_000_000,
             10**15, 2**53 - 1, 2**53, 2**53 + 1, 2**64, -(2**63), 0.0, -0.0, 1.0, 1023.0, 1e6, 0.5, True, False]
    g = gauge("pf_edge", "e", "i").new()
    for i, v in enumerate(edges):
        g.add((str(i),), v)
    r = registry_of([g.metric])
    assert generate_text(r) == generate_latest(r)


def test_other_metric_types_fall_back_to_prometheus_client() -> None:
    info = InfoMetricFamily("pf_other", "x", value={"a": "b"})
    g = GaugeMetricFamily("pf_g", "g", value=math.pi)
    r = registry_of([info, g])
    assert generate_text(r) == generate_latest(r)


def test_registry_output_matches_too() -> None:
    e = PfExporter(FakePf(), build_collectors(["status"]), ExporterInfo("7.9", "amd64"))
    r = build_registry(e)
    a, b = generate_text(r).decode(), generate_latest(r).decode()
    # only the measured durations may differ between two scrapes
    strip = lambda t: [line for line in t.splitlines()
                       if not line.startswith(("pf_scrape_collector_duration", "process_"))]  # this process moves
    assert strip(a) == strip(b)


def test_cached_series_names_do_not_grow_without_bound_when_label_values_churn() -> None:
    from pf_exporter.exposition import _SLICES, SLICE_ROWS

    spec = gauge("pf_churn", "label values that never repeat", "id")
    for scrape in range(8):
        f = spec.new()
        for i in range(1000 + 2 * SLICE_ROWS * (scrape % 2)):
            f.add((f"{scrape}-{i}",), i)
        r = registry_of([f.metric])
        assert generate_text(r) == generate_latest(r)
        kept = _SLICES[("pf_churn", ("id",))]
        assert sum(len(keys) for keys, _prefixes in kept) == len(f.keys)  # only this scrape's series


def test_series_that_move_or_change_between_scrapes_are_encoded_right() -> None:
    """Slices reuse the last scrape's prefixes only where the label values are the same."""
    from pf_exporter.exposition import SLICE_ROWS

    spec = counter("pf_moving_total", "rows inserted, removed and renamed between scrapes", "rule", "label")
    layouts = [
        [(str(i), f"l{i % 7}") for i in range(3 * SLICE_ROWS + 5)],
        [("new", "x")] + [(str(i), f"l{i % 7}") for i in range(3 * SLICE_ROWS + 5)],  # all move by one
        [(str(i), f"l{i % 7}") for i in range(3 * SLICE_ROWS + 5) if i % 100],  # some removed
        [(str(i), f"m{i % 7}" if i == 4000 else f"l{i % 7}") for i in range(3 * SLICE_ROWS + 5)],  # one renamed
        [(str(i), 'quote"and\\back') for i in range(10)],  # fewer slices
        [(f"{i}%s%%", "100%d") for i in range(SLICE_ROWS + 3)],  # the templates' own format characters
    ]
    for n, keys in enumerate(layouts * 2):
        f = spec.new()
        for i, k in enumerate(keys):
            f.add(k, i * 1_000_003 + n)
        r = registry_of([f.metric])
        assert generate_text(r) == generate_latest(r), n


def test_samples_are_built_from_rows_added_after_a_first_read() -> None:
    f = gauge("pf_late", "rows added after samples were read", "a").new()
    f.add(("x",), 1)
    assert [s.labels for s in f.metric.samples] == [{"a": "x"}]
    f.add(("y",), 2)
    assert [(s.labels, s.value) for s in f.metric.samples] == [({"a": "x"}, 1), ({"a": "y"}, 2)]
