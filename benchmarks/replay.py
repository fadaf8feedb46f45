"""Record and replay of ioctl answers, for benchmarks/scrape.py.

A *recording* process runs the exporter's scrapes against the simulator through a
:class:`Recorder`, a transport that keeps every ioctl's answer (the argument struct as the kernel
leaves it, the bytes written to the caller's buffer, the errno), keyed by the request number and
a checksum of the argument the exporter passed (buffer pointers masked), and saves them to
``answers.bin`` + ``meta.json``.  A :class:`ReplayTransport` answers the same requests by copying
the recorded bytes out of a memory-mapped file, so the measured process holds no simulator.
``xlarge`` is built here from ``large`` when the simulator has none (:func:`_register_xlarge`).
"""

from __future__ import annotations

import array
import bisect
import ctypes
import errno
import functools
import hashlib
import json
import mmap
import os
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RELEASE, ARCH = "7.9", "amd64"

# =====================================================================================================
# Record and replay of ioctl answers
# =====================================================================================================

# Requests whose argument points at a caller's buffer: the pointer field and how many bytes
# the caller offers there (read before the call).
_BUFFERS: dict[str, tuple[str, Callable[[Any], int]]] = {
    "DIOCIGETIFACES": ("pfiio_buffer", lambda a: a.pfiio_size * a.pfiio_esize),
    "DIOCRGETTSTATS": ("pfrio_buffer", lambda a: a.pfrio_size * a.pfrio_esize),
    "DIOCRGETTABLES": ("pfrio_buffer", lambda a: a.pfrio_size * a.pfrio_esize),
    "DIOCRGETASTATS": ("pfrio_buffer", lambda a: a.pfrio_size * a.pfrio_esize),
    "DIOCRGETADDRS": ("pfrio_buffer", lambda a: a.pfrio_size * a.pfrio_esize),
    "DIOCGETQSTATS": ("buf", lambda a: a.nbytes),
    "DIOCGETSTATES": ("ps_u.psu_buf", lambda a: a.ps_len),
}


def _field_offset(cls: type, path: str) -> int:
    off = 0
    for part in path.split("."):
        desc = getattr(cls, part)
        off += desc.offset
        cls = dict(cls._fields_)[part]  # type: ignore[attr-defined]
    return off


class _Keyer:
    """The replay key of one ioctl: the request number (high 32 bits) and the CRC-32 of the
    argument bytes with the caller's buffer pointer zeroed (low 32 bits).  Also reads the
    buffer pointer and its length.  The recorder keeps a SHA-1 of every argument and refuses
    a recording in which two different arguments share a key, so replay can trust the key."""

    def __init__(self, abi: Any) -> None:
        self.buffers: dict[int, tuple[int, Callable[[Any], int]]] = {}
        self.names: dict[int, str] = {}
        for name, req in abi.requests.items():
            self.names[req.number] = name
            if name in _BUFFERS:
                path, length = _BUFFERS[name]
                self.buffers[req.number] = (_field_offset(getattr(abi.layout, req.arg), path), length)

    def key(self, request: int, arg: Any) -> tuple[int, int, int, int]:
        """(key, pointer field address, caller's pointer, caller's buffer length)."""
        if arg is None:
            return request << 32, 0, 0, 0
        spec = self.buffers.get(request)
        if spec is None:
            return request << 32 | zlib.crc32(arg), 0, 0, 0
        where = ctypes.addressof(arg) + spec[0]
        slot = ctypes.c_uint64.from_address(where)
        ptr = slot.value
        slot.value = 0
        k = request << 32 | zlib.crc32(arg)
        slot.value = ptr
        return k, where, ptr, spec[1](arg) if ptr else 0


class ReplayMiss(RuntimeError):
    """An ioctl the recording has no answer for: the exporter asked something new."""


# answers.bin: u64 count, count sorted u64 keys, count entries of five u64 (answer offset, answer
# length, buffer offset, buffer length, errno), then the bytes.  Everything the replay reads is
# in this one mapped file, so its resident size is exactly the replay's share of the RSS.
_ENTRY = 5
_ENTRY_STRUCT = struct.Struct("<5Q")


class Recorder:
    """A Transport that answers from what it has already recorded, and otherwise asks the
    simulator and records the answer.  Answering from the recording first keeps rule-walk
    tickets the same in every scrape, so a later replay sees exactly these arguments."""

    def __init__(self, inner: Any, abi: Any) -> None:
        self.inner = inner
        self.writable = False
        self.keyer = _Keyer(abi)
        self.answers: dict[int, tuple[bytes, bytes, int]] = {}
        self.digests: dict[int, bytes] = {}
        self.asked = 0  # answers taken from the simulator

    def uptime(self) -> int:
        return int(self.inner.uptime())

    def now(self) -> int:
        return int(self.inner.now())

    def ioctl(self, request: int, arg: Any) -> None:
        key, where, ptr, blen = self.keyer.key(request, arg)
        digest = b"" if arg is None else hashlib.sha1(_masked(arg, where)).digest()
        known = self.answers.get(key)
        if known is not None:
            if self.digests[key] != digest:
                raise RuntimeError(f"replay key collision on {self.keyer.names.get(request)}; change the key")
            _apply(arg, known[0], known[1], known[2], where, ptr, blen)
            return
        self.asked += 1
        err = 0
        try:
            self.inner.ioctl(request, arg)
        except OSError as e:
            err = e.errno or errno.EIO
        out = b"" if arg is None else bytes(memoryview(arg).cast("B"))
        buf = ctypes.string_at(ptr, blen) if ptr and blen else b""
        self.answers[key] = (out, buf, err)
        self.digests[key] = digest
        if err:
            raise OSError(err, os.strerror(err))

    def close(self) -> None:
        self.inner.close()

    def save(self, directory: Path, meta: dict[str, Any]) -> None:
        """answers.bin (the index and every answer's bytes) and meta.json."""
        keys = sorted(self.answers)
        n = len(keys)
        pos = 8 * (1 + n + n * _ENTRY)
        table: list[int] = []
        for key in keys:
            out, buf, err = self.answers[key]
            table += [pos, len(out), pos + len(out), len(buf), err]
            pos += len(out) + len(buf)
        with open(directory / "answers.bin", "wb") as f:
            f.write(struct.pack(f"<{1 + n + n * _ENTRY}Q", n, *keys, *table))
            for key in keys:
                out, buf, _err = self.answers[key]
                f.write(out)
                f.write(buf)
        (directory / "meta.json").write_text(json.dumps(meta))


def _masked(arg: Any, where: int) -> bytes:
    raw = bytearray(memoryview(arg).cast("B"))
    if where:
        off = where - ctypes.addressof(arg)
        raw[off:off + 8] = bytes(8)
    return bytes(raw)


def _apply(arg: Any, out: bytes, buf: bytes, err: int, where: int, ptr: int, blen: int) -> None:
    if arg is not None and out:
        ctypes.memmove(ctypes.addressof(arg), out, len(out))
        if where:
            ctypes.c_uint64.from_address(where).value = ptr  # the caller's pointer, not the recorder's
    if buf and ptr:
        ctypes.memmove(ptr, buf, min(len(buf), blen))
    if err:
        raise OSError(err, os.strerror(err))


class ReplayTransport:
    """A Transport answering every ioctl from a recording (see :class:`Recorder`), from a
    memory-mapped file (index included), so the replay adds nothing to the heap.  ``seconds``
    and ``count`` say what the stand-in kernel cost."""

    def __init__(self, directory: Path, abi: Any) -> None:
        self.meta: dict[str, Any] = json.loads((directory / "meta.json").read_text())
        self.path = str((directory / "answers.bin").resolve())
        with open(self.path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(self._map))
        words = memoryview(self._map).cast("Q")
        self.n = n = words[0]
        self._keys = words[1:1 + n]
        self._table_at = 8 * (1 + n)  # byte offset of the entries
        # The answer that followed each answer last time (-1: not seen yet): a scrape asks the same
        # things in the same order, so the next answer is found without a binary search.  Learnt
        # while replaying; 8 bytes per recorded answer on the heap (80 KB for large).
        self._next = array.array("q", [-1]) * n
        self._last = -1
        self.keyer = _Keyer(abi)
        self.writable = False
        self.count = 0
        self.misses = 0
        self.seconds = 0.0

    def uptime(self) -> int:
        return int(self.meta["uptime"])

    def now(self) -> int:
        return int(self.meta.get("now", 0)) or int(time.time())

    def ioctl(self, request: int, arg: Any) -> None:
        t0 = time.perf_counter()
        self.count += 1
        key, where, ptr, blen = self.keyer.key(request, arg)
        keys = self._keys
        last = self._last
        i = self._next[last] if last >= 0 else -1
        if i < 0 or keys[i] != key:
            i = bisect.bisect_left(keys, key)
            if i == self.n or keys[i] != key:
                self.misses += 1
                self.seconds += time.perf_counter() - t0
                raise ReplayMiss(f"no recorded answer for {self.keyer.names.get(request, request)}; "
                                 "the exporter's requests changed since recording (run with --rerecord)")
            if last >= 0:
                self._next[last] = i
        self._last = i
        out_off, out_len, buf_off, buf_len, err = _ENTRY_STRUCT.unpack_from(self._map, self._table_at + 40 * i)
        base = self._base
        if out_len:
            ctypes.memmove(ctypes.addressof(arg), base + out_off, out_len)
            if where:
                ctypes.c_uint64.from_address(where).value = ptr
        if buf_len and ptr:
            ctypes.memmove(ptr, base + buf_off, min(buf_len, blen))
        self.seconds += time.perf_counter() - t0
        if err:
            raise OSError(err, os.strerror(err))

    def close(self) -> None:
        pass  # the mapping stays until the process ends (ctypes still points into it)


# =====================================================================================================
# Scenarios
# =====================================================================================================

XLARGE_EXTRA_ANCHORS = 200  # hosting/c049 .. hosting/c248, 200 rules each, on top of large's 10,000


# The rule-count curve (scrape.py --curve): a base scenario plus hosting anchors shaped like
# large's (200 rules, 10 tables, 20 labels each).  rules-10k is large itself.
CURVE = {"rules-1k": ("small", 5), "rules-10k": ("large", 0), "rules-50k": ("large", 200),
         "rules-100k": ("large", 450)}


def _register_xlarge() -> None:
    """``xlarge``: the ``large`` scenario plus 200 more hosting anchors shaped like its 49
    (200 rules, 10 tables, 20 new labels each): 50,000 rules, 2,510 tables, 5,000 labels; and the
    curve's ``rules-1k`` .. ``rules-100k`` (:data:`CURVE`) the same way.  Built through the
    simulator's scenario loader; traffic then accumulates over the same uptime for every rule.
    Used only when the simulator has no scenario of that name of its own."""
    from pf_exporter.simulator import SCENARIOS as SIM_SCENARIOS

    wanted = {"xlarge": ("large", XLARGE_EXTRA_ANCHORS), **CURVE}
    for name, (base, extra) in wanted.items():
        if name not in SIM_SCENARIOS:
            SIM_SCENARIOS[name] = _grown(SIM_SCENARIOS[base], extra)


def _grown(build_base: Callable[..., None], extra: int) -> Callable[..., None]:
    from pf_exporter.abi import constants as C
    from pf_exporter.simulator.scenarios import Loader
    from pf_exporter.simulator.traffic import accumulate

    def build(sim: Any, state_fill: float | None) -> None:
        build_base(sim, state_fill)
        if not extra:
            return
        ld = Loader(sim)
        vlans = [f"vlan{100 + i}" for i in range(193)]
        children = [f"hosting/c{49 + i:03d}" for i in range(extra)]
        ld.begin(*children)
        names = ("web", "db", "mail", "dns", "admins", "monitor", "backup", "blocked", "partners", "vpn")
        ports = (22, 25, 53, 80, 123, 443, 587, 993, 3306, 5432, 8080, 8443)
        for c, child in enumerate(children, start=49):
            for j, name in enumerate(names):
                base = 10 + c * 10 + j
                ld.table(child, name, [f"172.{16 + base // 256 % 16}.{base % 256}.{k + 1}" for k in range(20)],
                         C.PFR_TFLAG_PERSIST)
            for k in range(200):
                label = f"svc{c * 20 + k // 10:05d}"
                if k == 0:
                    ld.rule(child, "block", "in", on=vlans[c * 3 % len(vlans)], log=True, label=label)
                    continue
                ld.rule(child, "pass", "in" if k % 4 else "out", quick=k % 7 == 0,
                        on=vlans[(c * 3 + k) % len(vlans)], af="inet", proto=("tcp", "udp", "tcp", "icmp")[k % 4],
                        src="10.0.0.0/8", dst=f"<{names[k % 10]}>", dport=None if k % 4 == 3 else ports[k % 12],
                        label=label, max_states=5000 if k % 50 == 0 else 0)
        sim.limits[C.PF_LIMIT_TABLES] = sim.limits_new[C.PF_LIMIT_TABLES] = 10000
        sim.limits[C.PF_LIMIT_ANCHORS] = sim.limits_new[C.PF_LIMIT_ANCHORS] = max(
            sim.limits[C.PF_LIMIT_ANCHORS], 1024)
        ld.commit()
        ld.rates()
        accumulate(sim, float(sim.clock.uptime() - sim.since))

    return build


def default_collectors() -> list[str]:
    from pf_exporter.collectors import COLLECTORS

    return [name for name, cls in COLLECTORS.items() if cls.default_enabled]


def record(scenario: str, directory: Path, release: str = RELEASE, collectors: Iterable[str] | None = None) -> dict:
    """Run the exporter's scrapes on the simulator through a Recorder and save the answers."""
    from pf_exporter.device import Device
    from pf_exporter.exporter import ExporterInfo, PfExporter, build_collectors, build_registry
    from pf_exporter.exposition import generate_text
    from pf_exporter.pf import PacketFilter
    from pf_exporter.simulator import Simulator

    _register_xlarge()
    t0 = time.perf_counter()
    sim = Simulator(scenario, release=release, arch=ARCH, seed=1)
    built = time.perf_counter() - t0
    rec = Recorder(sim.open(False), sim.abi)
    device = Device(sim.abi, rec)
    features = sim.abi.features
    names = list(collectors) if collectors is not None else default_collectors()
    exporter = PfExporter(PacketFilter.from_device(device), build_collectors(names, features),
                          ExporterInfo(release, ARCH, features))
    registry = build_registry(exporter)
    t0 = time.perf_counter()
    generate_text(registry)  # cold buffer sizes
    sim_scrape = time.perf_counter() - t0
    generate_text(registry)  # warm buffer sizes
    before = rec.asked
    generate_text(registry)
    if rec.asked != before:
        raise RuntimeError(f"{scenario}: the third scrape still asked the simulator {rec.asked - before} times; "
                           "the exporter's requests are not repeatable, replay would miss")
    rules = sum(1 for _ in sim.iter_rules())
    meta = {"scenario": scenario, "release": release, "arch": ARCH, "uptime": rec.uptime(), "now": rec.now(),
            "rules": rules,
            "tables": len(sim.tables.tables), "interfaces": len(sim.kifs), "states": len(sim.states),
            "collectors": names, "answers": len(rec.answers), "simulator_build_s": built,
            "simulator_scrape_s": sim_scrape, "source": source_fingerprint()}
    directory.mkdir(parents=True, exist_ok=True)
    rec.save(directory, meta)
    return meta



@functools.cache
def compile_bytecode() -> None:
    """Compile the checkout's modules to bytecode (their ``__pycache__``, as Python itself writes
    it unless PYTHONDONTWRITEBYTECODE is set), once per run, before starting benchmark workers.
    An installed exporter imports bytecode (pip and OpenBSD's packages compile it at install); a
    worker compiling every module of the checkout at start instead held 1.2 MB more (idle RSS
    32.2 vs 31.0 MB on large), which no deployment has."""
    import subprocess

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pf_exporter"), str(HERE)], check=True)


def source_fingerprint() -> str:
    """A digest of the project's code and the benchmark scripts: a recording made by other code may
    ask other ioctls, so it is made again."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "pf_exporter").rglob("*.py")) + sorted(HERE.glob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


