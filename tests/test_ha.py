"""High availability: carp and pfsync through the library, the collectors and the admin API, on the
simulator's pair scenarios; the kernel's read semantics (NET-NOTES.md); no write from a scrape."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

import pytest
from support.admin import TOKEN, start_admin

from pf_exporter.abi import net as N
from pf_exporter.collectors import ScrapeView
from pf_exporter.collectors.carp import CarpCollector
from pf_exporter.collectors.pfsync import PfsyncCollector
from pf_exporter.device import NetDevice, NoNetTransport
from pf_exporter.pf import PacketFilter, PfInvalidArgument, PfNotFound, PfReadOnlyError
from pf_exporter.simulator import Simulator
from pf_exporter.simulator.net import SimNetTransport


def series(metrics, name):  # type: ignore[no-untyped-def]
    return {tuple(sorted(s.labels.items())): s.value for m in metrics for s in m.samples if s.name == name}


@pytest.mark.parametrize("scenario,state", [("ha-master", "master"), ("ha-backup", "backup"),
                                            ("ha-splitbrain", "master")])
def test_pair_members_read_back(scenario: str, state: str) -> None:
    with PacketFilter.simulated(scenario) as pf:
        carp = pf.carp_interfaces()
        assert [c.name for c in carp] == ["carp0", "carp1"]  # pfsync0 is in group carp too, and is not carp
        assert {v.state for c in carp for v in c.vhosts} == {state}
        assert [v.vhid for v in carp[0].vhosts] == [1, 2] and carp[0].carpdev == "em0"
        assert carp[0].peer == "203.0.113.3" and carp[1].peer == "224.0.0.18"
        assert pf.pfsync_interfaces()[0].syncdev == "em2"
        assert pf.carp_settings().preempt == 1
        assert pf.group_members("carp") == ["carp0", "carp1", "pfsync0"]
        assert pf.group_members("nosuch") == []
        assert pf.status_sysctl() == pf.status()


def test_a_host_without_carp_exports_nothing_and_succeeds() -> None:
    with PacketFilter.simulated("small") as pf:
        assert pf.carp_interfaces() == [] and pf.pfsync_interfaces() == []
        assert list(CarpCollector().collect(ScrapeView(pf))) == []
        assert list(PfsyncCollector().collect(ScrapeView(pf))) == []


def test_siocgvh_as_the_kernel_answers() -> None:
    sim = Simulator("ha-master")
    for root, key in ((False, b""), (True, b"s3cr3t-carp-key")):
        dev = NetDevice(N.net_abi("amd64"), SimNetTransport(sim.net, root=root))
        cr = dev.netabi.layout.carpreq()
        ifr = dev.netabi.layout.ifreq(ifr_name=b"carp0")
        ifr.ifr_ifru.ifru_data = ctypes.addressof(cr)
        dev.ioctl("SIOCGVH", ifr)
        assert cr.carpr_state == 0  # never set: the states are in carpr_states[]
        assert list(cr.carpr_states[:3]) == [2, 2, 0]
        assert bytes(cr.carpr_key).rstrip(b"\0") == key  # the key for root only
        ifr.ifr_name = b"pfsync0"
        with pytest.raises(PfNotFound):
            dev.ioctl("SIOCGVH", ifr)


def test_group_lists_survive_a_change_in_between() -> None:
    with PacketFilter.simulated("ha-master") as pf:
        net = pf.simulator.net
        real = net._siocgifgmemb
        calls = []

        def growing(ifgr, root):  # type: ignore[no-untyped-def]
            calls.append(ifgr.ifgr_len)
            if len(calls) == 2:  # between the size and the read, two carp interfaces are added
                from pf_exporter.simulator.net import NetIf, Vhost

                for n in (8, 9):
                    net.add(NetIf(f"carp{n}", ["all", "carp"], carpdev="em0", vhosts=[Vhost(n, 0, 2)]))
            return real(ifgr, root)

        net._siocgifgmemb = growing
        assert "carp9" in pf.group_members("carp")
        assert len(calls) >= 3  # the short buffer (EINVAL) was retried


def test_demote_for_a_planned_failover() -> None:
    with PacketFilter.simulated("ha-master") as pf:
        with pytest.raises(PfReadOnlyError):
            pf.reopen(writable=False).carp_demote("carp", 1)
        for bad in (0, 256, -1, True, "1"):
            with pytest.raises(PfInvalidArgument):
                pf.carp_demote("carp", bad)  # type: ignore[arg-type]
        assert pf.carp_demote("carp", 50) == 50
        assert {v.state for c in pf.carp_interfaces() for v in c.vhosts} == {"backup"}
        assert pf.carp_stats()["preempt"] == 3
        assert pf.carp_demote("carp", -50) == 0
        with pytest.raises(PfNotFound):
            pf.carp_demote("nosuchgroup", 1)


def test_collectors_on_a_master() -> None:
    with PacketFilter.simulated("ha-master") as pf:
        pf.simulate_traffic(30)
        ms = list(CarpCollector().collect(ScrapeView(pf)))
        state = series(ms, "pf_carp_state")
        assert state[(("interface", "carp0"), ("state", "master"), ("vhid", "1"))] == 1
        assert state[(("interface", "carp0"), ("state", "backup"), ("vhid", "1"))] == 0
        assert series(ms, "pf_carp_demotion") == {(("group", "carp"),): 0}
        assert series(ms, "pf_carp_packets_total")[(("direction", "out"), ("family", "inet"))] >= 30
        assert set(series(ms, "pf_carp_errors_total")) == {(("reason", r),) for r in (
            "badif", "badttl", "hdrops", "badsum", "badver", "badlen", "badauth", "badvhid", "badaddrs", "onomem",
            "ostates")}
        assert series(ms, "pf_carp_info")[(("carpdev", "em0"), ("interface", "carp0"), ("peer", "203.0.113.3"))] == 1
        ps = list(PfsyncCollector().collect(ScrapeView(pf)))
        assert series(ps, "pf_pfsync_defer") == {(("interface", "pfsync0"),): 1}
        assert series(ps, "pf_pfsync_packets_total")[(("direction", "out"), ("family", "inet"))] > 0


def test_a_scrape_never_writes() -> None:
    with PacketFilter.simulated("ha-master") as pf:
        net = pf.simulator.net
        asked = []
        real_ioctl, real_sysctl = net.ioctl, net.sysctl

        def ioctl(request, arg, root):  # type: ignore[no-untyped-def]
            asked.append(net.abi.names[request])
            return real_ioctl(request, arg, root)

        net.ioctl = ioctl
        for c in (CarpCollector(), PfsyncCollector()):
            list(c.collect(ScrapeView(pf)))
        assert asked and set(asked) <= N.READ_ONLY_NET
        del real_sysctl


def test_not_openbsd_means_no_network_reads() -> None:
    dev = NetDevice(N.net_abi("amd64"), NoNetTransport())
    with pytest.raises(PfNotFound):
        dev.sysctl("net.inet.carp.stats", N.SYSCTLS["net.inet.carp.stats"], 128)
    assert errno.EOPNOTSUPP


def test_admin_carp_and_demote_scope(tmp_path: Path) -> None:
    admin = start_admin(tmp_path, Simulator("ha-master", release="7.9"))
    try:
        tokens = tmp_path / "admin-tokens"
        tokens.write_text(f"deploy:{TOKEN}\nfailover:failover-5e0c1d7a9b3f2e84 carp,read\n"
                          f"reader:reader-8a2d4c6e0f1b3a5d read\n")
        os.utime(tokens, ns=(1, 1))
        status, body, _ = admin.call("GET", "/api/v1/carp", token="reader-8a2d4c6e0f1b3a5d")
        assert status == 200 and body["demotion"] == {"carp": 0}
        assert [i["name"] for i in body["interfaces"]] == ["carp0", "carp1"]
        assert admin.call("POST", "/api/v1/carp/demote", {"by": 10}, token="reader-8a2d4c6e0f1b3a5d")[0] == 403
        status, body, _ = admin.call("POST", "/api/v1/carp/demote", {"group": "carp", "by": 10},
                                     token="failover-5e0c1d7a9b3f2e84")
        assert status == 200 and (body["before"], body["demotion"]) == (0, 10)
        assert admin.call("POST", "/api/v1/carp/demote", {"by": 300})[0] == 400
        assert admin.call("POST", "/api/v1/carp/demote", {"group": "nope", "by": 1})[0] == 404
        admin.sim.net.ioctl = _not_root(admin.sim.net.ioctl)  # as after the privilege drop on OpenBSD
        status, body, _ = admin.call("POST", "/api/v1/carp/demote", {"by": -10})
        assert status == 503 and "needs root" in body["error"]["message"]
        entry = [e for e in admin.audit() if e["action"] == "carp.demote" and e["status"] == 200][0]
        assert entry["identity"] == "token:failover" and entry["params"]["after"] == 10
    finally:
        admin.close()


@pytest.mark.parametrize("release", ["7.6", "7.7", "7.8", "7.9", "current"])
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_every_ha_metric_on_every_release(release: str, arch: str) -> None:
    with PacketFilter.simulated("ha-master", release=release, arch=arch) as pf:
        names = {s.name for c in (CarpCollector(), PfsyncCollector()) for m in c.collect(ScrapeView(pf))
                 for s in m.samples}
        declared = {s.name for c in (CarpCollector, PfsyncCollector)
                    for s in c.specs}
        assert names == declared
        assert pf.status_sysctl() == pf.status()


def _not_root(ioctl):  # type: ignore[no-untyped-def]
    def call(request, arg, root):  # type: ignore[no-untyped-def]
        return ioctl(request, arg, False)

    return call
