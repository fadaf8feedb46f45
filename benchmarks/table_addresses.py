#!/usr/bin/env python3
"""Per-address table counters (``--collector.tables.addresses``) on a big table, under the cap.

    python benchmarks/table_addresses.py                      # 100,000 addresses, cap 10,000
    python benchmarks/table_addresses.py --addresses 20000 --cap 5000 --scrapes 3

Prints, per scrape (best of --scrapes): the kernel's part (the simulator answering DIOCRGETASTATS
for the whole table: pf copies every entry whatever the cap), the collector's own part (decoding
the entries that fit and building the families), the text encoding of those families with the
exporter's encoder and with prometheus_client's ``generate_latest`` (the floor) and their ratio,
and the series exported.  No assertion: the numbers belong to the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, generate_latest

from pf_exporter.collectors import ScrapeView
from pf_exporter.collectors.tables import TablesCollector
from pf_exporter.exposition import generate_text
from pf_exporter.pf import PacketFilter


class _Fixed:
    """A registry collector that hands over metrics already built."""

    def __init__(self, metrics: list[Any]) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> list[Any]:
        return self.metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addresses", type=int, default=100_000)
    p.add_argument("--cap", type=int, default=10_000)
    p.add_argument("--scrapes", type=int, default=5)
    args = p.parse_args(argv)
    pf = PacketFilter.simulated("empty", release="7.9")
    pf.create_table("customers", counters=True)
    n = args.addresses
    pf.add_addresses("customers", [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}" for i in range(n)])
    pf.simulate_traffic(60)
    collector = TablesCollector(addresses=True, include="customers", max_addresses=args.cap)
    best: dict[str, float] = {}
    series = 0
    for _ in range(args.scrapes):
        t0 = time.perf_counter()
        view = ScrapeView(pf)
        k0 = time.perf_counter()
        pf.table_addresses("customers", limit=0)  # the kernel's answer alone, nothing decoded
        kernel = time.perf_counter() - k0
        t1 = time.perf_counter()
        metrics = list(collector.collect(view))
        collect = time.perf_counter() - t1 - kernel  # the collector's own part, one kernel answer taken off
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(metrics))  # type: ignore[arg-type]  # a duck-typed registry collector
        e0 = time.perf_counter()
        text = generate_text(registry)
        encode = time.perf_counter() - e0
        for m in metrics:  # the floor formats samples; RowMetric builds them on first read, untimed
            m.samples  # noqa: B018
        f0 = time.perf_counter()
        generate_latest(registry)
        floor = time.perf_counter() - f0
        series = text.count(b"\n") - sum(1 for line in text.splitlines() if line.startswith(b"#"))
        for key, value in (("kernel", kernel), ("collect", collect), ("encode", encode), ("floor", floor),
                           ("total", time.perf_counter() - t0)):
            best[key] = min(best.get(key, value), value)
    print(f"table of {n:,} addresses, cap {args.cap:,}: {series:,} series")
    print(f"  kernel (simulated DIOCRGETASTATS of the whole table) {best['kernel'] * 1000:8.1f} ms")
    print(f"  collector (decode what fits, build families)          {best['collect'] * 1000:8.1f} ms")
    print(f"  encode (pf_exporter)                                  {best['encode'] * 1000:8.1f} ms")
    print(f"  generate_latest (prometheus_client, the floor)        {best['floor'] * 1000:8.1f} ms")
    print(f"  encode / floor                                        {best['encode'] / best['floor']:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
