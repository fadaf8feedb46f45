"""A refused load leaves nothing behind: whatever step of the transaction fails (DIOCXBEGIN part-way,
DIOCRINADEFINE, DIOCADDRULE, DIOCXCOMMIT), the anchor tree, the tables and the rules are as before,
and a load over the anchor limit is refused before anything is created."""

from __future__ import annotations

import ctypes
import errno

import pytest
from support.admin import start_admin

from pf_exporter.abi import constants as C
from pf_exporter.pf import PacketFilter, PfLimitError, PfLoadError

# An anchor with two inline anchors (three rulesets, six transaction elements) and two tables.
LOAD = """table <web> persist { 192.0.2.10 }
table <bad> { 198.51.100.0/24 }
block in quick from <bad> to any
anchor "inner" {
  pass in proto tcp to <web> port 443
  anchor "deeper" {
    pass in proto tcp to <web> port 80
  }
}
pass out all
"""


def snapshot(pf: PacketFilter) -> tuple[object, ...]:
    """What a load could leave behind, as the library reads it."""
    anchors = pf.anchors()
    return (anchors, [(t.anchor, t.name, sorted(t.flags), t.addresses) for t in pf.tables()],
            [(path, [r.text for r in pf.rules(path)]) for path in ["", *anchors]], pf.status().checksum)


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small") as handle:
        yield handle


def test_the_load_itself_works(pf) -> None:
    result = pf.load(LOAD, "deploy")
    assert result.anchors == ("deploy", "deploy/inner", "deploy/inner/deeper")
    assert (result.rules, result.tables) == (6, 2)  # 3 in deploy (one calls inner), 2 in inner, 1 in deeper
    assert {"deploy", "deploy/inner", "deploy/inner/deeper"} <= set(pf.anchors())


# (request, how many calls pass before the failing one, errno, the stage the error names)
FAILURES = [
    ("DIOCXBEGIN", 0, errno.EIO, "begin"),
    ("DIOCRINADEFINE", 0, errno.EINVAL, "table"),
    ("DIOCRINADEFINE", 1, errno.ENOMEM, "table"),
    ("DIOCADDRULE", 0, errno.EINVAL, "rule"),
    ("DIOCADDRULE", 3, errno.EINVAL, "rule"),
    ("DIOCADDRULE", 4, errno.ENOMEM, "rule"),
    ("DIOCXCOMMIT", 0, errno.EBUSY, "commit"),
]


@pytest.mark.parametrize(("request_name", "after", "err", "stage"), FAILURES)
def test_a_failure_at_any_step_is_rolled_back_whole(pf, request_name, after, err, stage) -> None:
    sim = pf.simulator
    before, fingerprint = snapshot(pf), sim.fingerprint()
    sim.inject(request_name, err, after=after)
    with pytest.raises(PfLoadError) as e:
        pf.load(LOAD, "deploy")
    assert e.value.stage == stage and e.value.cause is not None and e.value.cause.errno == err
    assert "rolled back" in str(e.value)
    assert snapshot(pf) == before
    assert sim.fingerprint() == fingerprint  # open transactions and inactive tables included
    assert sim.calls.get("DIOCXROLLBACK", 0) == 1
    assert pf.load(LOAD, "deploy").changed  # and nothing stuck: the same load works afterwards


def test_a_begin_that_fails_part_way_is_rolled_back_element_by_element(pf) -> None:
    """pf_find_or_create_ruleset() runs out of anchors at the third ruleset: DIOCXBEGIN fails after
    opening the first two rulesets' rules and tables (their tickets already copied out); the
    rollback names them, and pf_remove_if_empty_ruleset() takes the new empty anchors away."""
    sim = pf.simulator
    plan = pf.compile(LOAD, "deploy")
    sim.limits[C.PF_LIMIT_ANCHORS] = len(sim.anchors) + 2  # room for deploy and deploy/inner only
    before, fingerprint = snapshot(pf), sim.fingerprint()
    with pytest.raises(PfLoadError) as e:
        pf.backend.load(plan.compiled)  # the transaction helper itself, without the library's limit check
    assert e.value.stage == "begin" and e.value.cause.errno == errno.EINVAL
    assert "anchor limit" in str(e.value)
    assert snapshot(pf) == before and sim.fingerprint() == fingerprint


def test_diocxbegin_writes_each_ticket_back_as_it_goes(pf) -> None:
    """The kernel copies each element out right after it began, so a failed DIOCXBEGIN leaves the
    tickets of the elements before the failing one in the caller's array (the simulator too)."""
    sim = pf.simulator
    L = sim.layout
    elems = (L.pfioc_trans_e * 4)()
    for e, (kind, path) in zip(elems, [(C.PF_TRANS_RULESET, "t1"), (C.PF_TRANS_TABLE, "t1"),
                                       (C.PF_TRANS_RULESET, "t2"), (C.PF_TRANS_TABLE, "t2")], strict=True):
        e.type, e.anchor = kind, path.encode()
    io = L.pfioc_trans(size=4, esize=ctypes.sizeof(L.pfioc_trans_e), array=ctypes.addressof(elems))
    sim.limits[C.PF_LIMIT_ANCHORS] = len(sim.anchors) + 1
    fd = sim.open(True)
    with pytest.raises(OSError) as e:
        fd.ioctl(sim.abi.request("DIOCXBEGIN").number, io)
    assert e.value.errno == errno.EINVAL
    assert elems[0].ticket and elems[1].ticket and not elems[2].ticket and not elems[3].ticket
    assert "t1" in sim.anchors
    fd.ioctl(sim.abi.request("DIOCXROLLBACK").number, io)
    assert "t1" not in sim.anchors
    fd.close()


def test_a_load_over_the_anchor_limit_is_refused_before_anything_is_created(pf) -> None:
    sim = pf.simulator
    limit = len(sim.anchors) + 2
    sim.limits[C.PF_LIMIT_ANCHORS] = limit
    before, fingerprint = snapshot(pf), sim.fingerprint()
    calls = dict(sim.calls)
    with pytest.raises(PfLimitError) as e:
        pf.load(LOAD, "deploy")
    assert (e.value.limit, e.value.value, e.value.needed) == ("anchors", limit, limit + 1)
    assert "anchor limit is" in str(e.value) and "set limit anchors" in str(e.value)
    assert sim.calls.get("DIOCXBEGIN", 0) == calls.get("DIOCXBEGIN", 0)  # refused before the transaction
    assert snapshot(pf) == before and sim.fingerprint() == fingerprint


def test_reloading_an_anchor_does_not_count_its_own_anchors_again(pf) -> None:
    """A load that replaces deploy/inner and deploy/inner/deeper reuses them: they are not new anchors."""
    pf.load(LOAD, "deploy")
    sim = pf.simulator
    sim.limits[C.PF_LIMIT_ANCHORS] = len(sim.anchors)  # full
    assert pf.load(LOAD, "deploy").changed
    with pytest.raises(PfLimitError):
        pf.load(LOAD, "another")


@pytest.mark.parametrize("text", ['anchor ".." {\n pass\n}\n', 'anchor "." {\n pass\n}\n', 'anchor ".."\n',
                                  'anchor "sub/.."\n', 'anchor "a/./b"\n'])
def test_dot_and_dot_dot_are_not_anchor_names(pf, text: str) -> None:
    """pf would create an anchor literally named ".." under the one loaded (deploy/..)."""
    before, fingerprint = snapshot(pf), pf.simulator.fingerprint()
    with pytest.raises(PfLoadError, match="'.' and '..' are not anchor names"):
        pf.load(text, "deploy")
    assert snapshot(pf) == before and pf.simulator.fingerprint() == fingerprint


@pytest.mark.parametrize("anchor", ["..", ".", "deploy/..", "deploy/./web"])
def test_an_anchor_path_with_dot_components_is_refused(pf, anchor: str) -> None:
    with pytest.raises(PfLoadError, match="'.' and '..' are not anchor names"):
        pf.load("pass\n", anchor)


def test_a_relative_call_to_a_sibling_is_still_pfctl_syntax(pf) -> None:
    assert pf.load('anchor "../web"\n', "deploy/api").rules == 1


def test_the_anchor_limit_through_the_admin_api_is_a_409_that_names_it(tmp_path) -> None:
    admin = start_admin(tmp_path)
    try:
        admin.sim.limits[C.PF_LIMIT_ANCHORS] = len(admin.sim.anchors)
        status, body, _ = admin.call("PUT", "/api/v1/anchors/deploy/web/rules", LOAD)
        assert status == 409
        err = body["error"]
        assert (err["limit"], err["limit_value"]) == ("anchors", len(admin.sim.anchors))
        assert "set limit anchors" in err["message"]
    finally:
        admin.close()


@pytest.mark.slow
def test_a_hundred_refused_loads_of_every_kind_through_the_admin_api_leave_pf_as_it_was(tmp_path) -> None:
    admin = start_admin(tmp_path, allow_main=True)
    try:
        sim = admin.sim
        pf = PacketFilter.from_device(admin.device, sim)
        before, fingerprint = snapshot(pf), sim.fingerprint()
        many_anchors = "".join(f'anchor "a{i}" {{\n pass all\n}}\n' for i in range(600))
        kinds = [
            ("syntax", lambda: admin.call("PUT", "/api/v1/anchors/deploy/rules", "pass in frob\n"), 400),
            ("anchors", lambda: admin.call("PUT", "/api/v1/anchors/deploy/rules", many_anchors), 409),
            ("rule", lambda: (sim.inject("DIOCADDRULE", errno.EINVAL, after=2),
                              admin.call("PUT", "/api/v1/anchors/deploy/rules", LOAD))[1], 400),
            ("table", lambda: (sim.inject("DIOCRINADEFINE", errno.ENOMEM, after=1),
                               admin.call("PUT", "/api/v1/anchors/deploy/rules", LOAD))[1], 503),
            ("begin", lambda: (sim.inject("DIOCXBEGIN", errno.EIO),
                               admin.call("PUT", "/api/v1/anchors/deploy/rules", LOAD))[1], 500),
            ("commit", lambda: (sim.inject("DIOCXCOMMIT", errno.EBUSY),
                                admin.call("PUT", "/api/v1/anchors/deploy/rules", LOAD))[1], 409),
            ("json", lambda: admin.call("PUT", "/api/v1/anchors/deploy/rules",
                                        {"rules": [{"action": "pass", "from": "10.0.0.300"}]}), 400),
            ("reserved", lambda: admin.call("PUT", "/api/v1/anchors/_pf/rules", LOAD), 400),
        ]
        for i in range(100):
            name, call, status = kinds[i % len(kinds)]
            got, body, _ = call()
            assert got == status, (name, body)
            sim.clear_faults()
        assert snapshot(pf) == before
        assert sim.fingerprint() == fingerprint
        status, body, _ = admin.call("PUT", "/api/v1/anchors/deploy/rules", many_anchors)
        assert body["error"]["limit"] == "anchors" and body["error"]["limit_value"] == sim.limits[C.PF_LIMIT_ANCHORS]
    finally:
        admin.close()
