"""Measure the simulator and the pf library's reads on a scenario (a script, not a test).

    python benchmarks/simulator.py [--scenario large] [--release 7.9] [--repeat 3]

Prints the build time and the best of --repeat runs for each read, in CPU time of this
process (time.process_time), so other load on the machine disturbs it less.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator


def _device(sim: Simulator):  # type: ignore[no-untyped-def]
    from pf_exporter.device import Device

    return Device(sim.abi, sim.open(False))


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="large")
    ap.add_argument("--release", default="7.9")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    t = time.process_time()
    sim = Simulator(args.scenario, release=args.release)
    print(f"build {args.scenario} ({args.release}): {time.process_time() - t:.2f} s "
          f"({sum(len(rs.active) for rs in sim.all_rulesets())} rules, {len(sim.anchors)} anchors, "
          f"{len(sim.tables.tables)} tables, {len(sim.kifs)} kifs, {len(sim.queues)} queues, "
          f"{len(sim.states)} states)")
    r = PacketFilter.from_device(_device(sim), sim)
    reads: list[tuple[str, Callable[[], object]]] = [
        ("status", r.status),
        ("limits + timeouts", lambda: (r.limits(), r.timeouts())),
        ("interfaces", r.interfaces),
        ("tables", r.tables),
        ("rulesets (all rules, all anchors)", lambda: list(r.iter_rulesets())),
        ("queues", r.queues),
        ("limiters", lambda: (r.state_limiters(), r.source_limiters())),
        ("states (read and decode all)", lambda: sum(1 for _ in r.states())),
        ("advance(15)", lambda: sim.advance(15)),
        ("fingerprint", sim.fingerprint),
    ]
    for name, fn in reads:
        print(f"  {name:36s} {_best(fn, args.repeat) * 1000:9.1f} ms")
    print(f"  open tickets afterwards: {sim.open_tickets()}")


if __name__ == "__main__":
    main()
