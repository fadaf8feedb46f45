#!/usr/bin/env python3
"""Scrape benchmark: what one ``/metrics`` request costs the exporter, per simulator scenario.

    python benchmarks/scrape.py                       # small, large, xlarge (+ per-rule on large)
    python benchmarks/scrape.py --scenarios large --scrapes 50
    python benchmarks/scrape.py --curve               # 1k, 10k, 50k, 100k rules: time per rule count
    python benchmarks/scrape.py --soak 10000          # memory over 10,000 scrapes (small)
    python benchmarks/scrape.py --profile large       # cProfile of collection + encoding
    python benchmarks/scrape.py --json out.json       # the numbers, machine-readable

How the figure is kept the exporter's own
-----------------------------------------
The simulator is not in the measured process.  For every scenario a *recording* process
runs the exporter's scrapes against the simulator through a recording transport that keeps
every ioctl's answer (the argument struct as the kernel leaves it, the bytes written to the
caller's buffer, the errno), keyed by the request number and a checksum of the argument the
exporter passed (buffer pointers masked).  The *worker* process is the exporter as the CLI
wires it (``cli.build_service``: the pf library, collectors, single-flight exporter, the real HTTP
server on 127.0.0.1) on a :class:`ReplayTransport` that answers each ioctl by copying the
recorded bytes out of a memory-mapped file.  What remains of the stand-in kernel is a
checksum, a binary search and a memmove per ioctl; it is timed and reported separately
(``replay ms``), and the mapped answers (index included) are left out of the RSS figure.

The parent only sends HTTP requests and reads the worker's counters over a pipe.  All
configurations' workers run at once and take turns, so load changes hit them alike.

The headline is the scrape as Prometheus makes it: ``GET /metrics`` with the Accept header
Prometheus 3 sends by default and ``Accept-Encoding: gzip``, the kernel's answers included.

Columns: scrape p50/p95 ms: that request, sequential over one keep-alive connection, the
replayed kernel included; kernel ms: the stand-in kernel's share of one scrape (every ioctl:
checksum, binary search, memmove); gzip ms: compressing that body at the exporter's level;
generate_latest ms: prometheus_client formatting the same samples (the floor: the families'
Sample tuples, which the exporter builds only when asked, are built before the clock starts;
timed right after each timed scrape, so both see the same load); ratio: scrape p50 / generate_latest;
text p50 ms: the same scrape with the plain 0.0.4 Accept and no gzip; exporter ms: scrape p50
less the kernel's share; us/rule: collect ms (reading pf and building the families, kernel
excluded) per rule, what Python adds to each DIOCGETRULE; peak RSS MB: the highest of the
worker's VmHWM per scrape (reset before each; scrapes of their own, Prometheus's request, after
PEAK_WARMUP of them and before any floor timing) minus the mapped replay answers.  ``xlarge``
is built here from ``large`` when the simulator has none (see ``_register_xlarge``);
``rules-1k`` ... ``rules-100k`` (``--curve``) likewise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.client

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "benchmarks"):  # run from a checkout without installing; replay.py beside this
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from replay import (  # noqa: E402 - after the path set-up above
    ARCH,
    RELEASE,
    ReplayTransport,
    compile_bytecode,
    record,
    source_fingerprint,
)

# pf_exporter, prometheus_client and what only the parent needs (http.client, subprocess, profiling)
# are imported where used: the worker process holds little beyond what the exporter itself imports.

SCENARIOS = ("small", "large", "xlarge")
CURVE_SCENARIOS = ("rules-1k", "rules-10k", "rules-50k", "rules-100k")
CHOICES = ("empty", *SCENARIOS, *CURVE_SCENARIOS)

# What Prometheus 3 sends by default (scrape_protocols), and the plain 0.0.4 text request.
ACCEPT_PROMETHEUS = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
ACCEPT_TEXT = "text/plain;version=0.0.4"

PEAK_WARMUP = 50  # scrapes (Prometheus's request) before the peak RSS is measured

TARGETS = {  # the goals, on the realistic path (Prometheus's request, kernel included)
    "large_ratio": 0.30,  # default collectors: scrape p50 / generate_latest
    "per_rule_ratio": 0.20,
    "large_peak_rss_mb": 40.0,
    "rules_100k_p50_ms": 1500.0,
}


# =====================================================================================================
# The worker: the exporter on a replay transport, behind the real HTTP server
# =====================================================================================================

def _proc_status() -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0]) / 1024
    except OSError:  # not Linux: the peak only
        import resource

        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _mapping_rss_mb(path: str) -> float:
    """Resident MB of the mapping of *path* (/proc/self/smaps), 0 when unknown."""
    try:
        with open("/proc/self/smaps") as f:
            inside = False
            total = 0
            for line in f:
                if "-" in line.split(" ", 1)[0] and not line.startswith(("Rss", "Size")):
                    inside = line.rstrip().endswith(path)
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
            return total / 1024
    except OSError:
        return 0.0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _Fixed:
    def __init__(self, metrics: list) -> None:
        self.metrics = metrics

    def collect(self) -> list:
        return self.metrics


def median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _median_time(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


def build_worker(directory: Path, per_rule: bool) -> tuple[Any, ReplayTransport]:
    """The exporter service as the CLI builds it, on a replay of *directory*, on 127.0.0.1:0."""
    from pf_exporter import cli
    from pf_exporter.abi import select_abi
    from pf_exporter.device import Device
    from pf_exporter.exporter import ExporterInfo
    from pf_exporter.pf import PacketFilter

    meta = json.loads((directory / "meta.json").read_text())
    abi = select_abi(meta["release"], meta["arch"])
    transport = ReplayTransport(directory, abi)
    device = Device(abi, transport)
    pf = cli.Pf(PacketFilter.from_device(device), ExporterInfo(abi.release, abi.arch, abi.features), device.close)
    argv = ["--web.listen-address", "127.0.0.1:0", "--collector.disable-defaults"]
    argv += [f"--collector.{n}" for n in meta["collectors"]]
    if per_rule:
        argv.append("--collector.rules.per-rule")
    service = cli.build_service(cli.build_parser().parse_args(argv), pf=pf)
    cli.tune_runtime()  # as cli.run does once started
    return service, transport


def measure_floor(exporter: Any, transport: ReplayTransport, check: bool) -> dict[str, float]:
    """One timing each of: collecting the families (reading pf included; the replay's share
    given apart), prometheus_client's generate_latest on those families (the floor), and the
    exporter's encoder on them; with *check*, also that both encoders wrote the same bytes."""
    from prometheus_client import generate_latest

    from pf_exporter.exporter import build_registry
    from pf_exporter.exposition import generate_text

    registry = build_registry(exporter)
    r0 = transport.seconds
    t0 = time.perf_counter()
    fixed = _Fixed(list(registry.collect()))
    collect_s = time.perf_counter() - t0
    replay_s = transport.seconds - r0
    for m in fixed.metrics:  # generate_latest's work is formatting samples; building them is not
        m.samples  # noqa: B018  # RowMetric builds its Sample tuples on first read
    t0 = time.perf_counter()
    latest = generate_latest(fixed)  # type: ignore[arg-type]
    latest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    text = generate_text(fixed)  # type: ignore[arg-type]
    text_s = time.perf_counter() - t0
    import zlib

    from pf_exporter.web import GZIP_LEVEL

    t0 = time.perf_counter()
    z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    z.compress(text)
    z.flush()
    gzip_s = time.perf_counter() - t0
    if check and text != latest:
        raise SystemExit("generate_text differs from generate_latest on these families")
    # The exporter keeps its last collection (single flight): these families, with the samples
    # generate_latest built on them, would otherwise be freed inside the next timed scrape.
    del fixed, latest, text
    exporter._last = None
    return {"collect_s": collect_s, "collect_replay_s": replay_s, "generate_latest_s": latest_s,
            "generate_text_s": text_s, "gzip_s": gzip_s}


def worker_main(directory: Path, per_rule: bool) -> int:
    """Serve, and answer the parent's commands, one JSON line each, on stdin/stdout."""
    service, transport = build_worker(directory, per_rule)
    service.server.start()
    exporter = service.exporter
    host, port = service.server.addresses[0]

    def reply(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"port": port, **_proc_status()})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "stats":
            reply({"walks": exporter.scrapes, "ioctls": transport.count, "replay_s": transport.seconds,
                   "misses": transport.misses, "replay_mapped_mb": _mapping_rss_mb(transport.path),
                   **_proc_status()})
        elif cmd[0] == "reset_peak":
            reply({"ok": _reset_peak()})
        elif cmd[0] == "floor":
            reply(measure_floor(exporter, transport, "check" in cmd))
        elif cmd[0] == "quit":
            break
    service.server.shutdown()
    return 0


# =====================================================================================================
# The parent: HTTP client, measurements, report
# =====================================================================================================

class Worker:
    """A worker process (importing the checkout's bytecode: :func:`compile_bytecode`) and its
    command pipe."""

    def __init__(self, directory: Path, per_rule: bool) -> None:
        import subprocess

        compile_bytecode()
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", str(directory)]
        if per_rule:
            argv.append("--worker-per-rule")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        hello = self._read()
        self.port: int = hello["port"]
        self.started = hello

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker exited (status {self.proc.wait()}); see its stderr above")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        import subprocess

        with contextlib.suppress(Exception):
            self.ask("quit")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def scrape(conn: http.client.HTTPConnection, accept: str = ACCEPT_TEXT, gzip: bool = False) -> tuple[float, bytes]:
    headers = {"Accept": accept, "Accept-Encoding": "gzip" if gzip else "identity"}
    t0 = time.perf_counter()
    conn.request("GET", "/metrics", headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status != 200:
        raise RuntimeError(f"/metrics answered {resp.status}: {body[:200]!r}")
    return elapsed, body


def count_samples(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def failed_collectors(body: bytes) -> list[str]:
    out = []
    for line in body.split(b"\n"):
        if line.startswith(b"pf_scrape_collector_success{") and line.endswith(b" 0.0"):
            out.append(line.split(b'"')[1].decode())
    return out


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return 0.0
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def concurrent_scrapes(port: int, n: int) -> tuple[int, list[str]]:
    """*n* clients, connected beforehand, send their request at the same moment.
    Returns (responses with status 200, errors)."""
    import http.client

    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(n)]
    for c in conns:
        c.connect()
    barrier = threading.Barrier(n)
    ok: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(c: http.client.HTTPConnection) -> None:
        try:
            barrier.wait()
            c.request("GET", "/metrics", headers={"Accept": ACCEPT_TEXT})
            resp = c.getresponse()
            body = resp.read()
            with lock:
                if resp.status == 200 and not failed_collectors(body):
                    ok.append(1)
                else:
                    errors.append(f"status {resp.status}, failed collectors {failed_collectors(body)}")
        except Exception as e:  # reported, never raised: the count of errors is the result
            with lock:
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=one, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    return len(ok), errors


@dataclass
class Result:
    name: str
    scenario: str
    per_rule: bool
    rules: int
    scrapes: int
    samples: int
    body_bytes: int
    p50_ms: float
    p95_ms: float
    us_per_sample: float
    ioctls_per_scrape: float
    walks_per_scrape: float
    replay_ms: float  # the stand-in kernel's share of one scrape
    exporter_p50_ms: float  # p50 minus the replay share
    peak_rss_mb: float  # highest worker VmHWM of one scrape (reset before each), replay left out
    idle_rss_mb: float
    generate_latest_ms: float  # prometheus_client's floor for the same families
    generate_text_ms: float  # the exporter's encoder on the same families
    collect_ms: float  # reading pf + building the families (no encoding, no HTTP)
    floor_ratio: float  # p50 / generate_latest
    gzip_ms: float  # compressing the body at the exporter's level
    text_p50_ms: float  # plain 0.0.4 Accept, no gzip
    us_per_rule: float  # collect ms (kernel excluded) per rule
    concurrent: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One configuration under test: a worker, its connection and what was measured."""

    name: str
    scenario: str
    per_rule: bool
    meta: dict
    worker: Worker | None = None
    conn: Any = None
    times: list[float] = field(default_factory=list)
    prom: list[float] = field(default_factory=list)
    floors: list[dict[str, float]] = field(default_factory=list)
    body: bytes = b""
    acc: dict[str, float] = field(default_factory=dict)  # walks, ioctls, replay_s over the timed scrapes
    peak: float = 0.0  # the highest per-scrape peak RSS (MB, replayed answers left out)
    conc: dict[str, Any] = field(default_factory=dict)


# The measurement loop: workers, warm-up, timed and floor runs in turn.
def run_all(runs: list[Run], cache: Path, release: str, n: int, concurrency: int, rounds: int,  # noqa: C901 - see above
            floor_n: int) -> list[Result]:
    """Every configuration's worker runs at the same time and the measurements take turns
    (one scrape of each, then the next round), so a change in the machine's load hits every
    configuration alike and the ratios between them hold."""
    import http.client

    try:
        for r in runs:
            r.worker = Worker(cache / f"{r.scenario}-{release}", r.per_rule)
            r.conn = http.client.HTTPConnection("127.0.0.1", r.worker.port, timeout=600)
            for _ in range(2):  # buffer sizes settle, answers paged in
                scrape(r.conn)
        # Peak RSS first, before any floor timing (generate_latest's copies) has grown the heap: the
        # realistic path, after PEAK_WARMUP scrapes (the allocator's working size is reached after a
        # few dozen; a fresh process peaks lower), per scrape (reset before each, read after it).
        for _ in range(PEAK_WARMUP):
            for r in runs:
                scrape(r.conn, ACCEPT_PROMETHEUS, gzip=True)
        for _ in range(max(3, n // 4)):
            for r in runs:
                assert r.worker is not None
                r.worker.ask("reset_peak")
                scrape(r.conn, ACCEPT_PROMETHEUS, gzip=True)
                after = r.worker.ask("stats")
                r.peak = max(r.peak, after["VmHWM"] - after["replay_mapped_mb"])
        # Then each timed scrape followed by its floor (generate_latest on freshly collected
        # families), so a scrape and its floor see the same machine load and the ratio holds on
        # a busy host.
        for i in range(n):
            for r in runs:
                w = r.worker
                assert w is not None
                before = w.ask("stats")
                t, _gz = scrape(r.conn, ACCEPT_PROMETHEUS, gzip=True)
                after = w.ask("stats")
                r.times.append(t)
                for k in ("walks", "ioctls", "replay_s"):
                    r.acc[k] = r.acc.get(k, 0) + after[k] - before[k]
                r.floors.append(w.ask("floor check" if i == 0 else "floor"))
        for _ in range(max(3, n // 4)):  # the plain text request, for comparison (and the body counted)
            for r in runs:
                t, r.body = scrape(r.conn)
                r.prom.append(t)
        for _ in range(floor_n - n):  # more floor timings than scrapes were asked for
            for r in runs:
                r.floors.append(r.worker.ask("floor"))  # type: ignore[union-attr]
        for r in runs:
            if concurrency and not r.per_rule:
                walk_counts, errors, served = [], [], 0
                for _ in range(rounds):
                    before = r.worker.ask("stats")["walks"]  # type: ignore[union-attr]
                    good, errs = concurrent_scrapes(r.worker.port, concurrency)  # type: ignore[union-attr]
                    walk_counts.append(r.worker.ask("stats")["walks"] - before)  # type: ignore[union-attr]
                    served += good
                    errors += errs
                r.conc = {"clients": concurrency, "rounds": rounds, "walks_per_round": walk_counts, "served": served,
                          "errors": errors}
            end = r.worker.ask("stats")  # type: ignore[union-attr]
            if end["misses"]:
                raise RuntimeError(f"{r.name}: {end['misses']} ioctls had no recorded answer; run with --rerecord")
    finally:
        for r in runs:
            if r.conn is not None:
                r.conn.close()
            if r.worker is not None:
                r.worker.close()
    return [_result(r, n) for r in runs]


def _result(r: Run, n: int) -> Result:
    assert r.worker is not None
    acc = r.acc
    walks = int(acc["walks"])
    samples = count_samples(r.body)
    p50 = median(r.times)
    replay = acc["replay_s"] / max(1, walks)

    def floor(key: str) -> float:
        return median([f[key] for f in r.floors])

    latest = floor("generate_latest_s")
    return Result(
        name=r.name, scenario=r.scenario, per_rule=r.per_rule, rules=r.meta["rules"], scrapes=n, samples=samples,
        body_bytes=len(r.body), p50_ms=p50 * 1e3, p95_ms=percentile(r.times, 0.95) * 1e3,
        us_per_sample=p50 * 1e6 / max(1, samples), ioctls_per_scrape=acc["ioctls"] / max(1, walks),
        walks_per_scrape=walks / n, replay_ms=replay * 1e3, exporter_p50_ms=(p50 - replay) * 1e3,
        peak_rss_mb=r.peak, idle_rss_mb=r.worker.started.get("VmRSS", 0.0),
        generate_latest_ms=latest * 1e3, generate_text_ms=floor("generate_text_s") * 1e3,
        collect_ms=median([f["collect_s"] - f["collect_replay_s"] for f in r.floors]) * 1e3,
        floor_ratio=p50 / latest, gzip_ms=floor("gzip_s") * 1e3, text_p50_ms=median(r.prom) * 1e3,
        us_per_rule=median([f["collect_s"] - f["collect_replay_s"] for f in r.floors]) * 1e6 / max(1, r.meta["rules"]),
        concurrent=r.conc, failed=failed_collectors(r.body),
    )


def ensure_recording(scenario: str, cache: Path, release: str, rerecord: bool) -> dict:
    """The recording of *scenario* in *cache*, made (in a subprocess) when missing or stale."""
    import subprocess

    directory = cache / f"{scenario}-{release}"
    index = directory / "meta.json"
    if index.exists() and not rerecord:
        meta = json.loads(index.read_text())
        if meta.get("source") == source_fingerprint():
            return meta
    argv = [sys.executable, str(Path(__file__).resolve()), "--record", scenario, str(directory), "--release", release]
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def print_table(results: list[Result], out: Any = sys.stdout) -> None:
    cols = [
        ("run", "name", "{}"), ("rules", "rules", "{}"), ("samples", "samples", "{}"),
        ("scrape p50 ms", "p50_ms", "{:.1f}"), ("p95 ms", "p95_ms", "{:.1f}"), ("kernel ms", "replay_ms", "{:.1f}"),
        ("gzip ms", "gzip_ms", "{:.1f}"), ("generate_latest ms", "generate_latest_ms", "{:.1f}"),
        ("ratio", "floor_ratio", "{:.2f}"), ("text p50 ms", "text_p50_ms", "{:.1f}"),
        ("exporter ms", "exporter_p50_ms", "{:.1f}"), ("us/rule", "us_per_rule", "{:.2f}"),
        ("ioctls/scrape", "ioctls_per_scrape", "{:.0f}"), ("peak RSS MB", "peak_rss_mb", "{:.1f}"),
    ]
    rows = [[h for h, _, _ in cols]] + [[fmt.format(getattr(r, a)) for _, a, fmt in cols] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    for i, row in enumerate(rows):
        cells = [c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


def verdicts(results: list[Result]) -> list[tuple[str, float, float, bool]]:
    """(target, measured, limit, met) for the issue's goals present in *results*, on the realistic
    path: Prometheus's request with gzip, the replayed kernel included."""
    by = {r.name: r for r in results}
    out = []
    if "large" in by:
        r = by["large"]
        out.append(("default collectors on large: scrape / generate_latest", r.floor_ratio, TARGETS["large_ratio"],
                    r.floor_ratio <= TARGETS["large_ratio"]))
        out.append(("default collectors on large: peak RSS MB beyond the kernel's data", r.peak_rss_mb,
                    TARGETS["large_peak_rss_mb"], r.peak_rss_mb <= TARGETS["large_peak_rss_mb"]))
    if "large per-rule" in by:
        r = by["large per-rule"]
        out.append(("per-rule on large: scrape / generate_latest", r.floor_ratio, TARGETS["per_rule_ratio"],
                    r.floor_ratio <= TARGETS["per_rule_ratio"]))
    if "rules-100k" in by:
        r = by["rules-100k"]
        out.append(("100,000 rules: scrape p50 ms", r.p50_ms, TARGETS["rules_100k_p50_ms"],
                    r.p50_ms <= TARGETS["rules_100k_p50_ms"]))
    return out


def cache_dir(args: argparse.Namespace) -> Path:
    import tempfile

    return Path(args.cache) if args.cache else Path(tempfile.gettempdir()) / "pf_exporter-bench"


def reference_ms() -> float:
    """Median time of a fixed pure-Python loop (10**6 additions): how fast this host runs Python right
    now, so numbers from runs on a host whose speed varies can be told apart."""
    def loop() -> None:
        s = 0
        for i in range(1_000_000):
            s += i

    return _median_time(loop, 5) * 1e3


def main_bench(args: argparse.Namespace) -> int:
    cache = cache_dir(args)
    runs: list[tuple[str, str, bool]] = [(s, s, False) for s in args.scenarios]
    per_rule = args.per_rule if args.per_rule is not None else (["large"] if "large" in args.scenarios else [])
    runs += [(f"{s} per-rule", s, True) for s in per_rule]
    print(f"# pf_exporter scrape benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"OpenBSD {args.release}/{ARCH} ABI, {args.scrapes} scrapes per run; host speed: {reference_ms():.0f} ms "
          "for a reference loop (lower is faster)", flush=True)
    metas: dict[str, dict] = {}
    for _, scenario, _ in runs:
        if scenario not in metas:
            t0 = time.perf_counter()
            metas[scenario] = ensure_recording(scenario, cache, args.release, args.rerecord)
            m = metas[scenario]
            print(f"# recorded {scenario}: {m['rules']} rules, {m['tables']} tables, {m['interfaces']} interfaces, "
                  f"{m['states']} states, {m['answers']} distinct ioctl answers "
                  f"({time.perf_counter() - t0:.1f} s; one scrape on the live simulator took "
                  f"{m['simulator_scrape_s'] * 1e3:.0f} ms)", flush=True)
    print(f"# measuring {', '.join(name for name, _, _ in runs)} (taking turns)", flush=True)
    results = run_all([Run(name, scenario, pr, metas[scenario]) for name, scenario, pr in runs], cache,
                      args.release, args.scrapes, args.concurrency, args.rounds, args.floor_iterations)
    print()
    print_table(results)
    print()
    for r in results:
        if r.concurrent:
            c = r.concurrent
            print(f"{r.name}: {c['clients']} concurrent scrapes x {c['rounds']} rounds -> kernel walks per round "
                  f"{c['walks_per_round']}, {c['served']} served, {len(c['errors'])} errors"
                  + (f" ({c['errors'][:3]})" if c["errors"] else ""))
        if r.failed:
            print(f"{r.name}: COLLECTORS FAILED: {', '.join(r.failed)}")
        share = r.gzip_ms / r.p50_ms if r.p50_ms else 0.0
        print(f"{r.name}: scrape {r.p50_ms:.1f} ms = kernel {r.replay_ms:.1f} + exporter {r.exporter_p50_ms:.1f} "
              f"(gzip {r.gzip_ms:.1f} of it, {share:.0%}); ratio {r.floor_ratio:.2f} to generate_latest "
              f"({r.exporter_p50_ms / r.generate_latest_ms:.2f} without the kernel); Python per rule beyond the ioctl "
              f"{r.us_per_rule:.2f} us; idle RSS {r.idle_rss_mb:.1f} MB; body {r.body_bytes / 1e6:.2f} MB; walks per "
              f"scrape {r.walks_per_scrape:.2f}")
    curve = [r for r in results if r.name.startswith("rules-")]
    if len(curve) > 1:
        print()
        print("curve (default collectors): rules -> scrape p50 ms, ms per 1,000 rules")
        for r in sorted(curve, key=lambda x: x.rules):
            print(f"  {r.rules:>7,} rules: {r.p50_ms:8.1f} ms  ({r.p50_ms * 1000 / r.rules:.2f} ms per 1,000 rules; "
                  f"kernel {r.replay_ms:.1f} ms)")
    print()
    for what, measured, limit, met in verdicts(results):
        print(f"target {what}: {measured:.2f} <= {limit:g}: {'met' if met else 'MISSED'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": [asdict(r) for r in results], "recordings": metas,
                                               "host_reference_ms": reference_ms(),
                                               "targets": [list(v) for v in verdicts(results)]}, indent=2))
    bad = [r.name for r in results if r.failed or (r.concurrent and r.concurrent["errors"])]
    return 1 if bad else 0


def main_soak(args: argparse.Namespace) -> int:
    import http.client

    cache = cache_dir(args)
    scenario = args.soak_scenario
    ensure_recording(scenario, cache, args.release, args.rerecord)
    w = Worker(cache / f"{scenario}-{args.release}", False)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=300)
        warm = min(200, max(10, args.soak // 20))
        for _ in range(warm):
            scrape(conn)
        start = w.ask("stats")
        print(f"# soak {scenario}: {args.soak} scrapes after {warm} warm-up scrapes (every tenth with Prometheus's "
              "Accept header and gzip); RSS includes the mapped replay answers (file pages the kernel may drop and "
              "read again), anon is the process's own memory (heap, stacks)", flush=True)
        print(f"scrapes {0:>6}  RSS {start['VmRSS']:.1f} MB  anon {start['RssAnon']:.1f} MB  "
              f"(peak {start['VmHWM']:.1f} MB)", flush=True)
        step = max(1, args.soak // 10)
        t0 = time.perf_counter()
        for i in range(1, args.soak + 1):
            if i % 10:
                scrape(conn)
            else:  # every tenth as Prometheus asks: OpenMetrics preferred, gzip
                scrape(conn, ACCEPT_PROMETHEUS, gzip=True)
            if i % step == 0 or i == args.soak:
                s = w.ask("stats")
                print(f"scrapes {i:>6}  RSS {s['VmRSS']:.1f} MB  anon {s['RssAnon']:.1f} MB  "
                      f"(peak {s['VmHWM']:.1f} MB, {s['VmHWM'] - s['replay_mapped_mb']:.1f} MB beyond the replay's "
                      "answers)  "
                      f"{(time.perf_counter() - t0) / i * 1e3:.1f} ms/scrape", flush=True)
        end = w.ask("stats")
        conn.close()
    finally:
        w.close()
    growth = end["VmRSS"] - start["VmRSS"]
    anon = end["RssAnon"] - start["RssAnon"]
    print(f"RSS at start {start['VmRSS']:.1f} MB, at end {end['VmRSS']:.1f} MB: growth {growth:+.1f} MB "
          f"over {args.soak} scrapes ({growth * 1024 / args.soak:+.3f} KB/scrape); anon {start['RssAnon']:.1f} -> "
          f"{end['RssAnon']:.1f} MB ({anon:+.1f} MB); peak beyond the replay's answers (the benchmark's peak RSS) "
          f"{end['VmHWM'] - end['replay_mapped_mb']:.1f} MB")
    return 0


def main_profile(args: argparse.Namespace) -> int:
    """cProfile of collection and encoding (no HTTP) on a replay, top functions by own time."""
    import cProfile
    import pstats

    from pf_exporter.exporter import build_registry
    from pf_exporter.exposition import generate_text

    cache = cache_dir(args)
    scenario = args.profile
    ensure_recording(scenario, cache, args.release, args.rerecord)
    service, transport = build_worker(cache / f"{scenario}-{args.release}", args.per_rule is not None)
    registry = build_registry(service.exporter)
    generate_text(registry)
    prof = cProfile.Profile()
    n = args.profile_scrapes
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(n):
        generate_text(registry)
    prof.disable()
    wall = (time.perf_counter() - t0) / n
    service.server.close()
    st = pstats.Stats(prof, stream=sys.stderr)
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    mode = " per-rule" if args.per_rule is not None else ""
    print(f"# profile {scenario}{mode}: {n} scrapes, {wall * 1e3:.1f} ms each under the profiler; "
          "own % = time in the function itself, cum % = with what it calls (of all profiled time)")
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    print(f"{'own %':>6} {'cum %':>6} {'calls/scrape':>12}  function")
    for (file, line, func), (_cc, nc, tt, ct, _callers) in rows[:args.top]:
        where = f"{_short(file)}:{line}({func})"
        print(f"{tt / total * 100:6.1f} {ct / total * 100:6.1f} {nc / n:12.0f}  {where}")
    return 0


def _short(path: str) -> str:
    p = str(path)
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in p:
            return p.split(marker, 1)[1]
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=CHOICES,
                   help="simulator scenarios to run with the default collectors (default: small large xlarge)")
    p.add_argument("--curve", action="store_true",
                   help="run the rule-count curve instead: " + ", ".join(CURVE_SCENARIOS) + " (default collectors)")
    p.add_argument("--per-rule", nargs="*", choices=CHOICES, default=None,
                   help="also run these scenarios with --collector.rules.per-rule (default: large when it is "
                   "selected; give the flag alone for none)")
    p.add_argument("--scrapes", type=int, default=20, help="timed sequential scrapes per run (default 20)")
    p.add_argument("--concurrency", type=int, default=32, help="clients scraping at the same moment (0: skip)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of concurrent scrapes (default 3)")
    p.add_argument("--floor-iterations", type=int, default=5,
                   help="repetitions of generate_latest / encoding / collection timings (median; one after "
                        "each timed scrape, more when this is larger than --scrapes; default 5)")
    p.add_argument("--release", default=RELEASE, help=f"simulated OpenBSD release (default {RELEASE})")
    p.add_argument("--cache", help="where recordings are kept (default: $TMPDIR/pf_exporter-bench)")
    p.add_argument("--rerecord", action="store_true", help="record the scenarios again")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--soak", type=int, metavar="N", help="memory mode: N sequential scrapes, RSS at start and end")
    p.add_argument("--soak-scenario", default="small", choices=CHOICES)
    p.add_argument("--profile", choices=CHOICES, help="cProfile collection + encoding of a scenario")
    p.add_argument("--profile-scrapes", type=int, default=5)
    p.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    # internal
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-per-rule", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--record", nargs=2, metavar=("SCENARIO", "DIR"), help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker_main(Path(args.worker), args.worker_per_rule)
    if args.record:
        meta = record(args.record[0], Path(args.record[1]), args.release)
        print(json.dumps(meta))
        return 0
    for opt in ("scrapes", "concurrency", "rounds", "floor_iterations"):
        if getattr(args, opt) < (1 if opt in ("scrapes", "floor_iterations", "rounds") else 0):
            raise SystemExit(f"--{opt.replace('_', '-')} must be at least 1")
    if args.soak is not None:
        if args.soak < 1:
            raise SystemExit("--soak needs a number of scrapes, e.g. --soak 10000")
        return main_soak(args)
    if args.profile:
        return main_profile(args)
    if args.curve:
        args.scenarios, args.per_rule = list(CURVE_SCENARIOS), []
    return main_bench(args)


if __name__ == "__main__":
    sys.exit(main())
