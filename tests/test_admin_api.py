"""The admin API against the simulated pf: every endpoint, every error status, the audit log,
and "nothing lost" (the simulator's model is unchanged after every rejected or failed change)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.admin import OPS_TOKEN, TOKEN, Admin, start_admin

from pf_exporter.abi import constants as C


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    a = start_admin(tmp_path)
    yield a
    a.close()


def table_members(admin: Admin, anchor: str, name: str) -> set[str]:
    status, body, _ = admin.call("GET", f"/api/v1/tables/{anchor + '/' if anchor else ''}{name}/addresses")
    assert status == 200
    return set(body["addresses"])


# --- every endpoint -------------------------------------------------------------------------------


def test_status(admin: Admin) -> None:
    status, body, headers = admin.call("GET", "/api/v1/status")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert body["running"] is True
    assert body["states"] == len(admin.sim.states)
    assert body["state_limit"] == body["limits"]["states"] == admin.sim.limits[C.PF_LIMIT_STATES]
    assert body["release"] == "7.9" and body["arch"] == "amd64"
    assert len(body["ruleset_checksum"]) == 32
    assert body["admin"]["allow_main_ruleset"] is False


def test_enable_and_disable_are_idempotent(admin: Admin) -> None:
    assert admin.call("POST", "/api/v1/pf/disable")[:2] == (200, {"running": False, "changed": True})
    assert admin.sim.running is False
    assert admin.call("POST", "/api/v1/pf/disable")[:2] == (200, {"running": False, "changed": False})
    assert admin.call("POST", "/api/v1/pf/enable")[:2] == (200, {"running": True, "changed": True})
    assert admin.sim.running is True
    assert admin.call("POST", "/api/v1/pf/enable")[:2] == (200, {"running": True, "changed": False})


def test_anchor_tree(admin: Admin) -> None:
    status, body, _ = admin.call("GET", "/api/v1/anchors")
    assert status == 200
    assert body["anchors"] == ["ftp-proxy", "ftp-proxy/21345.1", "office", "office/guests", "relayd", "relayd/web"]
    tree = body["tree"]
    assert tree["path"] == "" and tree["rules"] == len(admin.sim.main.active)
    office = next(c for c in tree["children"] if c["name"] == "office")
    assert office["rules"] == 3
    assert [c["path"] for c in office["children"]] == ["office/guests"]


def test_rules_of_an_anchor_as_json_and_text(admin: Admin) -> None:
    status, body, _ = admin.call("GET", "/api/v1/anchors/office/rules")
    assert status == 200
    assert body["anchor"] == "office"
    assert body["rules"][0] == {"action": "pass", "direction": "in", "interface": "vlan10", "af": "inet",
                                "from": "10.10.0.0/24", "flags": "any", "state": "keep", "label": "office-in"}
    assert body["rules"][2] == {"action": "anchor", "anchor": "guests", "direction": "in", "interface": "vlan20"}
    assert body["text"].splitlines()[2] == 'anchor "guests" in on vlan20 all'


def test_rules_of_the_main_ruleset_flag_what_the_schema_cannot_express(admin: Admin) -> None:
    status, body, _ = admin.call("GET", "/api/v1/anchors/rules")
    assert status == 200 and body["anchor"] == ""
    nat = next(r for r in body["rules"] if r.get("label") == "nat-lan")
    assert "nat-to" in nat["unsupported"] and "queue" in nat["unsupported"]
    assert "nat-to 203.0.113.2" in body["text"]  # the pf.conf text shows everything, as pfctl -sr does
    bruteforce = body["tables"]["bruteforce"]
    assert bruteforce["persist"] is True and bruteforce["counters"] is True
    assert "192.0.2.144" in bruteforce["addresses"]


def test_table_addresses_list_add_delete_replace(admin: Admin) -> None:
    base = "/api/v1/tables/bruteforce/addresses"
    status, body, _ = admin.call("GET", base)
    assert status == 200 and body["count"] == 6 and "2001:db8:bad::1" in body["addresses"]

    status, body, _ = admin.call("POST", base, {"addresses": ["192.0.2.7", "198.51.100.23", "2001:db8::/48"]})
    assert (status, body["added"]) == (200, 2)  # 198.51.100.23 was already there
    assert {"192.0.2.7", "2001:db8::/48"} <= table_members(admin, "", "bruteforce")

    status, body, _ = admin.call("DELETE", base, {"addresses": ["192.0.2.7", "203.0.113.200"]})
    assert (status, body["deleted"]) == (200, 1)
    assert "192.0.2.7" not in table_members(admin, "", "bruteforce")

    status, body, _ = admin.call("PUT", base, ["198.51.100.23", "!198.51.100.24", "10.1.0.0/16"])
    assert status == 200
    assert (body["added"], body["deleted"], body["changed"]) == (2, 6, 0)
    assert table_members(admin, "", "bruteforce") == {"198.51.100.23", "!198.51.100.24", "10.1.0.0/16"}


def test_table_in_an_anchor(admin: Admin) -> None:
    base = "/api/v1/tables/office/guests/guests/addresses"
    assert table_members(admin, "office/guests", "guests") == {"10.20.0.0/24", "!10.20.0.1"}
    status, body, _ = admin.call("PUT", base, {"addresses": ["10.20.0.0/24", "10.20.0.1"]})
    assert (status, body["added"], body["deleted"], body["changed"]) == (200, 0, 0, 1)  # negation flipped


def test_kill_states_by_filter(admin: Admin) -> None:
    sim = admin.sim
    victims = [s for s in sim.states.values() if s.proto == C.IPPROTO_TCP and s.af == C.AF_INET]
    assert victims
    before = len(sim.states)
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"af": "inet", "proto": "tcp"})
    assert status == 200 and body["killed"] == len(victims)
    assert len(sim.states) == before - len(victims)
    assert not [s for s in sim.states.values() if s.proto == C.IPPROTO_TCP and s.af == C.AF_INET]


def test_kill_states_by_id_and_by_rule(admin: Admin, ) -> None:
    sim = admin.sim
    st = next(iter(sim.states.values()))
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"id": f"{st.id:016x}"})
    assert (status, body["killed"]) == (200, 1)
    assert st.id not in sim.states
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"id": f"{st.id:016x}"})
    assert (status, body["killed"]) == (200, 0)

    rule = next(iter(sim.states.values())).rule
    expected = [s for s in sim.states.values() if s.rule is rule]
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"rule": rule.nr, "anchor": rule.ruleset.path})
    assert (status, body["killed"]) == (200, len(expected))
    assert not [s for s in sim.states.values() if s.rule is rule]


def test_a_rule_filter_must_name_its_anchor(admin: Admin) -> None:
    """Every anchor numbers its rules from 0: {"rule": 3} alone would mean rule 3 everywhere."""
    before = len(admin.sim.states)
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"rule": 3})
    assert status == 400 and body["error"]["field"] == "anchor" and "ruleset the rule is in" in body["error"]["message"]
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"anchor": "office"})
    assert status == 400 and body["error"]["field"] == "anchor"
    assert len(admin.sim.states) == before


def test_port_ranges_mean_what_pf_conf_says_when_loaded_and_read_back(admin: Admin) -> None:
    """pf.conf(5): "1000><2000" is between the ends (ends excluded), "1000<>2000" everything outside."""
    rules = [{"action": "pass", "direction": "in", "proto": "tcp", "to": {"port": "1000><2000"}},
             {"action": "pass", "direction": "in", "proto": "tcp", "to": {"port": "1000<>2000"}}]
    status, body, _ = admin.call("PUT", "/api/v1/anchors/ports/rules", {"rules": rules})
    assert status == 200, body
    status, body, _ = admin.call("GET", "/api/v1/anchors/ports/rules")
    assert [r["to"]["port"] for r in body["rules"]] == ["1000><2000", "1000<>2000"]
    assert "port 1000 >< 2000" in body["text"] and "port 1000 <> 2000" in body["text"]


def test_a_port_range_kill_filter_kills_what_it_says(admin: Admin) -> None:
    sim = admin.sim
    tcp = [s for s in sim.states.values() if s.proto == C.IPPROTO_TCP]
    outside = [s for s in tcp if not 1 <= int.from_bytes(s.dport.to_bytes(2, "little"), "big") <= 1000]
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"proto": "tcp", "to": {"port": "1<>1000"}})
    assert status == 200 and body["killed"] == len(outside) > 0
    assert all(1 <= int.from_bytes(s.dport.to_bytes(2, "little"), "big") <= 1000
               for s in sim.states.values() if s.proto == C.IPPROTO_TCP)


def test_clear_all_states(admin: Admin) -> None:
    assert admin.call("DELETE", "/api/v1/states", {})[0] == 400
    before = len(admin.sim.states)
    for body in ({"from": "any"}, {"to": {}}, {"rdomain": 0}, {"from": {"address": "any"}},
                 {"all": False, "to": "any"}):
        status, resp, _ = admin.call("DELETE", "/api/v1/states", body)
        assert status == 400 and "empty filter" in resp["error"]["message"], body
    assert len(admin.sim.states) == before  # none of those killed anything
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"all": True})
    assert status == 200 and body["killed"] > 0 and body["all"] is True
    assert not admin.sim.states
    assert admin.audit()[-1]["params"]["all"] is True  # the audit line tells an all-kill apart


# --- every error status ----------------------------------------------------------------------------


def test_401_without_or_with_a_wrong_token(admin: Admin) -> None:
    status, body, headers = admin.call("GET", "/api/v1/status", token=None)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    status, body, _ = admin.call("POST", "/api/v1/pf/disable", token="not-the-token-but-long-enough")
    assert status == 401 and body["error"]["message"] == "invalid token"
    assert admin.sim.running is True
    # unauthenticated clients do not learn which routes exist
    assert admin.call("GET", "/api/v1/nowhere", token=None)[0] == 401


def test_second_named_token_works(admin: Admin) -> None:
    assert admin.call("GET", "/api/v1/status", token=OPS_TOKEN)[0] == 200
    assert admin.audit()[-1]["identity"] == "token:ops"


def test_404(admin: Admin) -> None:
    assert admin.call("GET", "/api/v1/nowhere")[0] == 404
    assert admin.call("GET", "/metrics")[0] == 404
    status, body, _ = admin.call("GET", "/api/v1/anchors/no/such/anchor/rules")
    assert status == 404 and "no anchor" in body["error"]["message"]
    status, body, _ = admin.call("POST", "/api/v1/tables/nosuchtable/addresses", ["192.0.2.1"])
    assert status == 404 and "no active table <nosuchtable>" in body["error"]["message"]


def test_405_names_the_allowed_methods(admin: Admin) -> None:
    status, body, headers = admin.call("PUT", "/api/v1/states")
    assert status == 405 and headers["allow"] == "GET, DELETE"
    status, _, headers = admin.call("PATCH", "/api/v1/tables/bruteforce/addresses", ["192.0.2.1"])
    assert status == 405 and headers["allow"] == "GET, POST, DELETE, PUT"
    assert admin.call("BREW", "/api/v1/status")[0] == 405


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"addresses": ["192.0.2.1", "192.0.2.300"]}, "addresses[1]"),
        ({"addresses": ["10.0.0.1/8"]}, "addresses[0]"),
        ({"addresses": "192.0.2.1"}, "addresses"),
        ({"adresses": ["192.0.2.1"]}, "adresses"),
        (["example.org"], "addresses[0]"),
    ],
)
def test_400_names_the_field(admin: Admin, body: object, field: str) -> None:
    status, resp, _ = admin.call("POST", "/api/v1/tables/bruteforce/addresses", body)
    assert status == 400
    assert resp["error"]["field"] == field


def test_400_for_broken_json_gives_line_and_column(admin: Admin) -> None:
    status, body, _ = admin.call("DELETE", "/api/v1/states", raw=b'{"proto":\n  tcp}',
                                 headers={"Content-Type": "application/json"})
    assert status == 400
    assert (body["error"]["line"], body["error"]["column"]) == (2, 3)


def test_403_for_a_const_table(admin: Admin) -> None:
    # main-ruleset tables are editable without --admin.allow-main-ruleset (blockers need them);
    # `const` is what keeps a lock-out-critical table (e.g. <admins> of the ssh rule) safe
    fp = admin.sim.fingerprint()
    for method, addresses in (("POST", ["192.0.2.1"]), ("PUT", []), ("DELETE", ["192.0.2.1"])):
        status, body, _ = admin.call(method, "/api/v1/tables/martians/addresses", {"addresses": addresses})
        assert status == 403 and "const" in body["error"]["message"], method
    assert admin.sim.fingerprint() == fp


def test_413_for_a_body_over_one_mebibyte(admin: Admin) -> None:
    big = {"addresses": ["192.0.2.1"] * 90000}  # ~1.2 MB of JSON
    status, body, headers = admin.call("POST", "/api/v1/tables/bruteforce/addresses", big)
    assert status == 413 and "1 MiB" in body["error"]["message"]


def test_409_when_the_ruleset_changes_underneath(admin: Admin) -> None:
    admin.sim.inject("DIOCRADDADDRS", errno.EBUSY)
    status, body, _ = admin.call("POST", "/api/v1/tables/bruteforce/addresses", ["192.0.2.1"])
    assert status == 409 and "retry" in body["error"]["message"]


def test_503_at_securelevel_2(tmp_path: Path) -> None:
    admin = start_admin(tmp_path, securelevel=2)
    try:
        status, body, _ = admin.call("POST", "/api/v1/pf/disable")
        assert status == 503 and "securelevel" in body["error"]["message"]
        # table address edits are allowed at any securelevel
        assert admin.call("POST", "/api/v1/tables/bruteforce/addresses", ["192.0.2.1"])[0] == 200
        assert admin.call("DELETE", "/api/v1/states", {"all": True})[0] == 503
    finally:
        admin.close()


def test_503_when_pf_is_gone(admin: Admin) -> None:
    admin.device.close()
    status, body, _ = admin.call("POST", "/api/v1/pf/disable")
    assert status == 503 and "not available" in body["error"]["message"]


# --- the audit log -----------------------------------------------------------------------------------


def test_every_request_is_audited_once_without_secrets(admin: Admin) -> None:
    admin.call("GET", "/api/v1/status")
    admin.call("POST", "/api/v1/tables/bruteforce/addresses", ["192.0.2.99"])
    admin.call("POST", "/api/v1/pf/disable", token="wrong-token-wrong-token-wrong")
    admin.call("GET", "/api/v1/nowhere")
    admin.call("DELETE", "/api/v1/states", {"proto": "udp"})
    lines = admin.audit()
    assert [(x["action"], x["status"], x["outcome"]) for x in lines] == [
        ("status", 200, "ok"),
        ("table.add", 200, "ok"),
        ("unknown", 401, "denied"),
        ("unknown", 404, "rejected"),
        ("states.kill", 200, "ok"),
    ]
    add = lines[1]
    assert add["identity"] == "token:deploy"
    assert add["remote"].startswith("127.0.0.1:")
    assert add["params"] == {"anchor": "", "table": "bruteforce", "addresses": ["192.0.2.99"], "count": 1,
                             "added": 1}
    assert lines[2]["identity"] == "-"
    assert lines[4]["params"]["proto"] == "udp" and "killed" in lines[4]["params"]
    assert lines[4]["params"]["all"] is False
    text = admin.audit_path.read_text()
    assert TOKEN not in text and "wrong-token" not in text


BAD_JSON = {
    "5,000 nested arrays": (b"[" * 5000 + b"]" * 5000, "nested more than 32 levels deep"),
    "5,000 nested objects": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested more than 32 levels deep"),
    "a lone surrogate in a label": (b'{"label": "\\ud800"}', "label: a lone UTF-16 surrogate (\\ud800) is not text"),
    "a lone low surrogate in a tag": (b'{"rules": [{"action": "pass", "tag": "x\\udc00"}]}',
                                      "rules[0].tag: a lone UTF-16 surrogate (\\udc00) is not text"),
    "a surrogate in a member name": (b'{"\\ud800": 1}', "a member name holds a lone UTF-16 surrogate"),
    "a member given twice": (b'{"addresses": ["192.0.2.1"], "addresses": []}', "member 'addresses' is given twice"),
    "NaN": (b'{"id": NaN}', "NaN is not valid JSON"),
}
JSON_TARGETS = [("DELETE", "/api/v1/states"), ("PUT", "/api/v1/anchors/deploy/web/rules"),
                ("POST", "/api/v1/tables/bruteforce/addresses"), ("PUT", "/api/v1/tables/bruteforce/addresses")]


@pytest.mark.parametrize("case", BAD_JSON)
@pytest.mark.parametrize(("method", "path"), JSON_TARGETS)
def test_hostile_json_is_a_400_that_names_the_problem_and_changes_nothing(admin: Admin, case: str, method: str,
                                                                           path: str) -> None:
    raw, message = BAD_JSON[case]
    before = admin.sim.fingerprint()
    status, body, _ = admin.call(method, path, raw=raw, headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert message in body["error"]["message"]
    assert admin.sim.fingerprint() == before


def test_a_valid_surrogate_pair_is_text(admin: Admin) -> None:
    status, body, _ = admin.call("DELETE", "/api/v1/states", raw=b'{"label": "\\ud83d\\ude00"}',
                                 headers={"Content-Type": "application/json"})
    assert status == 200, body


def test_wrong_tokens_are_throttled_per_address_and_the_right_one_still_works(admin: Admin) -> None:
    wrong = "wr0ng-t0k3n-5a7c9e1b3d5f7a9c"
    assert [admin.call("GET", "/api/v1/status", token=wrong)[0] for _ in range(5)] == [401] * 5
    status, body, headers = admin.call("GET", "/api/v1/status", token=wrong)
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert "too many failed logins" in body["error"]["message"]
    assert admin.audit()[-1]["outcome"] == "denied"
    assert admin.call("GET", "/api/v1/status")[0] == 200  # a valid token is never throttled


def test_table_entries_past_the_limit_are_a_503_that_names_it_and_add_nothing(admin: Admin) -> None:
    admin.sim.limits[C.PF_LIMIT_TABLE_ENTRIES] = admin.sim.tables.entry_count() + 1
    before = admin.sim.fingerprint()
    status, body, _ = admin.call("POST", "/api/v1/tables/bruteforce/addresses",
                                 {"addresses": ["203.0.113.1", "203.0.113.2"]})
    assert status == 503 and "table-entries" in body["error"]["message"], body
    assert admin.sim.fingerprint() == before
