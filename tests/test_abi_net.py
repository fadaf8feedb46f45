"""The network ABI (pfsync, carp, interface groups) against the compiler-generated manifests:
every layout, request number, sysctl MIB and constant, on every release and architecture."""

from __future__ import annotations

import ctypes
import json
from functools import cache
from pathlib import Path

import pytest

from pf_exporter import abi
from pf_exporter.abi import net

DATA = Path(__file__).parent / "data" / "abi"
CASES = [(r, a) for r in abi.SUPPORTED_RELEASES for a in abi.SUPPORTED_ARCHS]


@cache
def manifest(release: str) -> dict:
    return json.loads((DATA / f"openbsd-{release}-net.json").read_text())


def _offsets(cls: type, prefix: str = "", base: int = 0):
    for name, ftype in cls._fields_:
        desc = getattr(cls, name)
        yield prefix + name, base + desc.offset, desc.size
        if ftype.__name__.startswith("anon_"):
            yield from _offsets(ftype, prefix + name + ".", base + desc.offset)


@pytest.mark.parametrize("release,arch", CASES)
def test_net_structs_match(release: str, arch: str) -> None:
    want = manifest(release)["archs"][arch]["structs"]
    layout = net.net_abi(arch).layout
    for tag in net.NET_RECORDS:
        cls = getattr(layout, tag)
        w = want[tag]
        assert (ctypes.sizeof(cls), ctypes.alignment(cls)) == (w["size"], w["align"]), f"{release}/{arch} {tag}"
        got = {p: (o, s) for p, o, s in _offsets(cls)}
        assert set(got) == set(w["fields"]), f"{release}/{arch} {tag} fields"
        for path, f in w["fields"].items():
            assert got[path] == (f["offset"], f["size"]), f"{release}/{arch} {tag}.{path}"


@pytest.mark.parametrize("release,arch", CASES)
def test_net_requests_match(release: str, arch: str) -> None:
    m = manifest(release)
    want = m["archs"][arch]["ioctls"]
    got = net.net_abi(arch).requests
    for name, number in got.items():
        assert number == want[name], f"{release}/{arch} {name}"
        d, g, n, arg = net.NET_REQUESTS[name]
        spec = m["ioctl_args"][name]
        assert (spec["dir"], spec["group"], spec["num"], spec["arg"]) == (d, g, n, f"struct {arg}")


@pytest.mark.parametrize("release", abi.SUPPORTED_RELEASES)
def test_sysctl_mibs_and_constants_match(release: str) -> None:
    m = manifest(release)
    for name, mib in net.SYSCTLS.items():
        assert tuple(m["sysctl"][name]["value"]) == mib, name
    for arch in abi.SUPPORTED_ARCHS:
        c = m["archs"][arch]["constants"]
        for name in ("IFNAMSIZ", "CARP_MAXNODES", "CARP_KEY_LEN", "CTL_KERN", "CTL_NET", "PF_INET", "PF_INET6",
                     "IPPROTO_CARP", "IPPROTO_PFSYNC", "KERN_PFSTATUS", "PFSYNCCTL_STATS", "CARPCTL_ALLOW",
                     "CARPCTL_PREEMPT", "CARPCTL_LOG", "CARPCTL_STATS", "INADDR_CARP_GROUP"):
            assert getattr(net, name) == c[name], f"{release}/{arch} {name}"
    states = m["kernel_private"]["carp_vhost_entry.state"]["values"]
    assert {k.lower(): v for k, v in states.items()} == {s: i for i, s in enumerate(net.CARP_STATES)}


@pytest.mark.parametrize("release,arch", CASES)
def test_sysctl_struct_sizes(release: str, arch: str) -> None:
    m = manifest(release)["sysctl"]
    layout = net.net_abi(arch).layout
    assert ctypes.sizeof(layout.pfsyncstats) == m["net.inet.pfsync.stats"]["size"][arch]
    assert ctypes.sizeof(layout.carpstats) == m["net.inet.carp.stats"]["size"][arch]
    assert ctypes.sizeof(abi.select_abi(release, arch).layout.pf_status) == m["kern.pfstatus"]["size"][arch]
