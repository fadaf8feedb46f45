"""ABI conformance: every declared struct and request number equals what a C compiler
computed from OpenBSD's headers (tests/data/abi/openbsd-*.json), for every supported
release on amd64, arm64 and i386."""

from __future__ import annotations

import ctypes
import json
import os
from functools import cache
from pathlib import Path

import pytest

from pf_exporter import abi
from pf_exporter.abi import constants
from pf_exporter.abi.decls import records_for

DATA = Path(__file__).parent / "data" / "abi"
CASES = [(r, a) for r in abi.SUPPORTED_RELEASES for a in abi.SUPPORTED_ARCHS]


@cache
def manifest(release: str) -> dict:
    return json.loads((DATA / f"openbsd-{release}.json").read_text())


def _field_offsets(cls: type, prefix: str = "", base: int = 0):
    """Yield (dotted path, offset, size) for each field, descending into tag-less members."""
    for name, ftype in cls._fields_:
        desc = getattr(cls, name)
        path = prefix + name
        yield path, base + desc.offset, desc.size
        if ftype.__name__.startswith("anon_"):
            yield from _field_offsets(ftype, path + ".", base + desc.offset)


@pytest.mark.parametrize("release,arch", CASES)
def test_every_declared_struct_matches_manifest(release, arch):
    m = manifest(release)["archs"][arch]["structs"]
    layout = abi.select_abi(release, arch).layout
    declared = records_for(release)
    assert declared, "nothing declared"
    for tag in declared:
        cls = getattr(layout, tag)
        want = m[tag]
        assert ctypes.sizeof(cls) == want["size"], f"{release}/{arch} sizeof(struct {tag})"
        assert ctypes.alignment(cls) == want["align"], f"{release}/{arch} alignof(struct {tag})"
        got = {p: (o, s) for p, o, s in _field_offsets(cls)}
        # every field the header has is declared, at the same offset and with the same size
        assert set(got) == set(want["fields"]), f"{release}/{arch} struct {tag} field set"
        for path, f in want["fields"].items():
            assert got[path] == (f["offset"], f["size"]), f"{release}/{arch} {tag}.{path}"


@pytest.mark.parametrize("release,arch", CASES)
def test_every_ioctl_struct_in_manifest_is_declared(release, arch):
    declared = set(records_for(release))
    missing = set(manifest(release)["ioctl_structs"]) - declared
    assert not missing


@pytest.mark.parametrize("release,arch", CASES)
def test_request_numbers_match_manifest(release, arch):
    want = manifest(release)["archs"][arch]["ioctls"]
    got = {name: r.number for name, r in abi.select_abi(release, arch).requests.items()}
    assert got == want


@pytest.mark.parametrize("release,arch", CASES)
def test_constants_match_manifest(release, arch):
    want = manifest(release)["archs"][arch]["constants"]
    for name in dir(constants):
        value = getattr(constants, name)
        if name.isupper() and isinstance(value, int) and name in want:
            assert value == want[name], name
    added_in_79 = {n for n in dir(constants) if n.startswith(("PF_STATELIM", "PF_SOURCELIM", "PF_LIMITER"))}
    present = {n for n in dir(constants) if n.isupper() and isinstance(getattr(constants, n), int)}
    missing = present - set(want) - (added_in_79 if release in ("7.6", "7.7", "7.8") else set())
    assert not missing


@pytest.mark.parametrize("release", abi.SUPPORTED_RELEASES)
def test_counter_names_match_manifest(release):
    m = manifest(release)
    for key in ("PFRES_NAMES", "LCNT_NAMES", "PFUDPS_NAMES", "PFOTHERS_NAMES"):
        assert list(getattr(constants, key)) == m["names"][key]
    assert list(constants.FCNT_NAMES) == m["pfctl_userland"]["names"]["FCNT_NAMES"]
    assert len(constants.LIMIT_NAMES) == constants.PF_LIMIT_MAX
    assert len(constants.TIMEOUT_NAMES) == constants.PFTM_MAX


def test_known_sizes_from_manifest_readme():
    assert abi.select_abi("7.9", "amd64").request("DIOCGETSTATUS").number == 0xC2084415
    assert abi.select_abi("7.9", "i386").request("DIOCGETSTATUS").number == 0xC2044415
    assert ctypes.sizeof(abi.select_abi("7.6", "i386").layout.pf_queuespec) == 248
    assert ctypes.sizeof(abi.select_abi("7.7", "i386").layout.pf_queuespec) == 272


def _uname(sysname="OpenBSD", release="7.9", machine="amd64"):
    return os.uname_result((sysname, "fw", release, "GENERIC.MP#1", machine))


def test_select_from_uname():
    a = abi.select_abi(uname=_uname(release="7.8", machine="arm64"))
    assert (a.release, a.arch) == ("7.8", "arm64")
    assert abi.select_abi(uname=_uname(release="8.0")).release == "current"


def test_explicit_release_overrides_uname():
    assert abi.select_abi(release="7.6", uname=_uname(release="7.9")).release == "7.6"


def test_unknown_release_is_refused_with_the_supported_list_and_the_override():
    with pytest.raises(abi.UnsupportedRelease) as e:
        abi.select_abi(uname=_uname(release="8.1"))
    msg = str(e.value)
    assert "8.1" in msg and "7.6" in msg and "7.9" in msg and "--pf.release" in msg


def test_non_openbsd_host_needs_an_explicit_release():
    with pytest.raises(abi.UnsupportedRelease, match="--pf.release"):
        abi.select_abi(uname=_uname(sysname="Linux", machine="x86_64"))
    assert abi.select_abi(release="7.9", uname=_uname(sysname="Linux", machine="x86_64")).arch == "amd64"


def test_limiter_requests_only_from_79():
    assert not abi.select_abi("7.8", "amd64").has_limiters
    assert abi.select_abi("7.9", "amd64").has_limiters
    with pytest.raises(abi.UnsupportedRelease):
        abi.select_abi("7.8", "amd64").request("DIOCGETSTATELIM")


@pytest.mark.parametrize("release,arch", CASES)
def test_read_only_requests_are_the_kernels(release, arch):
    """pfioctl's !FWRITE switch (net/pf_ioctl.c): these are served on a read-only fd."""
    a = abi.select_abi(release, arch)
    ro = {n for n, r in a.requests.items() if not r.writes}
    assert "DIOCGETSTATUS" in ro and "DIOCXEND" in ro and "DIOCIGETIFACES" in ro
    assert "DIOCSTART" not in ro and "DIOCADDRULE" not in ro and "DIOCKILLSTATES" not in ro
