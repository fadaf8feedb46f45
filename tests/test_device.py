"""The Device over the simulator (and the real fcntl path where a host can show it): errno
mapped once to named exceptions, rule tickets always released, one lock for all callers."""

from __future__ import annotations

import ctypes
import errno
import threading

import pytest

from pf_exporter.abi import select_abi
from pf_exporter.device import Device, open_device
from pf_exporter.errors import (
    PfAbiMismatch,
    PfBusy,
    PfNotFound,
    PfNotPresent,
    PfPermissionError,
    PfSecurelevelError,
    PfStaleTicket,
)
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator


def test_request_of_another_release_on_a_read_only_fd_is_an_abi_mismatch_not_a_permission_problem():
    sim = Simulator("small", release="7.9")
    dev = Device(select_abi("7.8", "amd64"), sim.open(False))  # pf_rule is 16 bytes shorter in 7.8
    dev.ioctl("DIOCGETSTATUS", dev.abi.new("pf_status"))  # same struct in both: works
    with pytest.raises(PfAbiMismatch, match="--pf.release"):
        PacketFilter.from_device(dev).rule_counters("")


def test_request_of_another_release_on_a_writable_fd_is_an_abi_mismatch():
    sim = Simulator("small", release="7.6")
    dev = Device(select_abi("7.7", "amd64"), sim.open(True))  # queue structs grew in 7.7
    with pytest.raises(PfAbiMismatch):
        PacketFilter.from_device(dev).queues()


def test_write_on_a_read_only_fd_says_it_needs_a_writable_one(device):
    with pytest.raises(PfPermissionError, match="writable"):
        device.ioctl("DIOCSTOP")


def test_write_at_securelevel_2_is_a_securelevel_error():
    sim = Simulator("small", securelevel=2)
    dev = Device(sim.abi, sim.open(True))
    with pytest.raises(PfSecurelevelError, match="securelevel"):
        dev.ioctl("DIOCSTOP")


def test_ruleset_ticket_is_released_when_the_walk_raises(sim, device):
    with pytest.raises(RuntimeError), device.ruleset_ticket("office") as (ticket, nr):
        assert nr == 3 and sim.open_tickets() == 1
        raise RuntimeError("boom")
    assert sim.open_tickets() == 0
    with pytest.raises(PfStaleTicket):
        device.ioctl("DIOCGETRULE", device.abi.new("pfioc_rule", ticket=ticket))


def test_ticket_table_full_is_busy(sim, device):
    pr = device.abi.new("pfioc_rule")
    for _ in range(512):
        device.ioctl("DIOCGETRULES", pr)
    with pytest.raises(PfBusy):
        device.ioctl("DIOCGETRULES", pr)
    device.transport.close()
    assert sim.open_tickets() == 0


def test_end_of_list_is_not_found(sim, device):
    ioc = device.abi.new("pfioc_statelim", id=200)
    with pytest.raises(PfNotFound):
        device.ioctl("DIOCGETNSTATELIM", ioc)
    ioc = device.abi.new("pfioc_sourcelim", id=200)
    with pytest.raises(PfNotFound) as ei:
        device.ioctl("DIOCGETNSOURCELIM", ioc)
    assert ei.value.errno == errno.ESRCH


def test_a_raw_caller_behaves_like_ioctl(sim, device):
    call, fail = device.raw_caller("DIOCGETNSTATELIM")
    ioc = device.abi.new("pfioc_statelim", id=0)
    call(ioc)
    assert ioc.id == device.ioctl("DIOCGETNSTATELIM", device.abi.new("pfioc_statelim", id=0)).id
    with pytest.raises(OSError) as raw:
        call(device.abi.new("pfioc_statelim", id=200))
    err = fail(raw.value)
    assert isinstance(err, PfNotFound) and err.request == "DIOCGETNSTATELIM"


def test_concurrent_readers_share_one_descriptor_safely(sim, device):
    r = PacketFilter.from_device(device)
    want = [len(rs.rules) for rs in r.iter_rulesets()]
    errors: list[BaseException] = []

    def work():
        try:
            for _ in range(30):
                assert [len(rs.rules) for rs in r.iter_rulesets()] == want
                r.status()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sim.open_tickets() == 0


def test_real_fcntl_path_missing_device_and_wrong_device():
    abi = select_abi("7.9", "amd64")
    with pytest.raises(PfNotPresent, match="--pf.device"):
        open_device(abi, "/nonexistent/dev/pf")
    dev = open_device(abi, "/dev/null")  # opens, but knows no pf request
    with pytest.raises(PfAbiMismatch):
        dev.ioctl("DIOCGETSTATUS", abi.new("pf_status"))
    dev.close()


def test_xend_argument_is_a_pointer_to_the_ticket(sim, device):
    pr = device.abi.new("pfioc_rule")
    device.ioctl("DIOCGETRULES", pr)
    device.ioctl("DIOCXEND", ctypes.c_uint32(pr.ticket))
    assert sim.open_tickets() == 0


def test_at_securelevel_2_kept_tickets_are_released_by_renewing_the_descriptor():
    """DIOCXEND is refused at securelevel > 1, so the device reopens /dev/pf before the
    kernel's 512-ticket limit is reached; closing the old descriptor releases its tickets."""
    from pf_exporter.simulator import simulated_device

    sim = Simulator("small", securelevel=2)
    dev = simulated_device(sim)
    r = PacketFilter.from_device(dev)
    for _ in range(1500):
        r.rule_counters("office")
    assert dev.kept_tickets < Device.KEPT_TICKET_LIMIT
    assert sim.open_tickets() == dev.kept_tickets


def test_renewing_is_refused_with_the_fix_when_the_descriptor_cannot_be_reopened():
    sim = Simulator("small", securelevel=2)

    def denied():
        raise PermissionError(13, "Permission denied")

    dev = Device(sim.abi, sim.open(False), reopen=denied)
    dev.kept_tickets = Device.KEPT_TICKET_LIMIT - 1
    with pytest.raises(PfPermissionError, match="--run-as root"):
        with dev.ruleset_ticket(""):
            pass
