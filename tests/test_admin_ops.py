"""The admin API's pfctl operations (options, counters, source nodes, states, whole tables) and
per-token scopes: a token scoped to one table gets 403 on everything else, before anything
changes; every change is audited."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.admin import OPS_TOKEN, TOKEN, Admin, start_admin

from pf_exporter.admin.auth import TokenFileError, parse_token_entries

BLOCKER = "blocker-7f3a9c21e4b86d05aa19"
READER = "reader-5c1e7d93b2a04f68cc27"
OPTIONER = "optioner-9d2b4e71a6c35f08bd43"


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    a = start_admin(tmp_path, release="7.8")  # 7.8: a main-ruleset load has no limiters to lose
    tokens = tmp_path / "admin-tokens"
    tokens.write_text(f"deploy:{TOKEN}\nops:{OPS_TOKEN}\nblocker:{BLOCKER} tables:bruteforce\n"
                      f"reader:{READER} read\noptioner:{OPTIONER} options,read\n")
    os.utime(tokens, ns=(1, 1))  # a different signature even within one clock tick
    yield a
    a.close()


def test_options_read_and_set(admin: Admin) -> None:
    status, body, _ = admin.call("GET", "/api/v1/options")
    assert status == 200 and body["limits"]["states"] == 10000
    status, body, _ = admin.call("PUT", "/api/v1/options", {"limits": {"states": 20000},
                                                            "timeouts": {"tcp.established": 3600}, "debug": "info"})
    assert status == 200, body
    assert (body["limits"]["states"], body["timeouts"]["tcp.established"], body["debug"]) == (20000, 3600, "info")
    for bad, field in (({"limits": {"nope": 1}}, "limits"), ({"debug": "loud!"}, "debug"), ({"bogus": 1}, "bogus"),
                       ({"limits": [1]}, "limits"), ({}, None), ({"limits": {"states": 1}}, None),
                       ({"skip": [f"new{i}" for i in range(1000)]}, "skip"), ({"skip": [["em0"]]}, "skip")):
        fp = admin.sim.fingerprint()
        status, body, _ = admin.call("PUT", "/api/v1/options", bad)
        assert status in (400, 409), (bad, body)
        assert body["error"].get("field") == field or field is None
        assert admin.sim.fingerprint() == fp


def test_counters_and_rule_counters(admin: Admin) -> None:
    admin.sim.advance(5)
    assert admin.call("POST", "/api/v1/counters/zero", {"interface": "em0"})[0] == 200
    status, body, _ = admin.call("POST", "/api/v1/counters/zero")
    assert status == 200 and body["zeroed"] == "pf"
    assert admin.pf.status().counters["match"] == 0
    status, body, _ = admin.call("POST", "/api/v1/anchors/office/rules/zero")
    assert status == 200 and body["rules"] == admin.pf.rule_count("office")
    assert all(r.evaluations == 0 for r in admin.pf.rules("office"))


def test_sources_states_and_kill_by_key(admin: Admin) -> None:
    status, body, _ = admin.call("GET", "/api/v1/sources")
    assert status == 200 and body["count"] == len(admin.sim.src_nodes) > 0
    one = body["sources"][0]["address"]
    status, body, _ = admin.call("DELETE", "/api/v1/sources", {"source": one})
    assert status == 200 and body["killed"] == 1
    assert admin.call("DELETE", "/api/v1/sources", {})[0] == 400
    assert admin.call("DELETE", "/api/v1/sources", {"all": True})[1] == {"all": True}
    assert admin.sim.src_nodes == {}
    assert admin.call("GET", "/api/v1/states?limit=10001")[0] == 400  # bounded responses
    status, body, _ = admin.call("GET", "/api/v1/states?limit=5&protocol=tcp")
    assert status == 200 and body["count"] == 5 and body["truncated"]
    assert all(s["protocol"] == 6 for s in body["states"])
    s = body["states"][0]
    src, dst = s["source"], s["destination"]
    key = f"tcp {src['address']}:{src['port']} -> {dst['address']}:{dst['port']}"
    status, body, _ = admin.call("DELETE", "/api/v1/states", {"key": key})
    assert status == 200 and body["killed"] == 1
    assert admin.call("DELETE", "/api/v1/states", {"key": "tcp nonsense"})[0] == 400
    assert admin.call("GET", "/api/v1/states?limit=0")[0] == 400
    assert admin.call("GET", "/api/v1/states?evil=1")[0] == 400


def test_whole_table_operations(admin: Admin) -> None:
    status, body, _ = admin.call("POST", "/api/v1/tables/blocked", {"counters": True})
    assert status == 201 and body["created"] is True
    assert admin.call("POST", "/api/v1/tables/blocked")[0] == 200  # exists already
    assert admin.call("POST", "/api/v1/tables/blocked/addresses", ["192.0.2.1", "10.0.0.0/8"])[0] == 200
    status, body, _ = admin.call("POST", "/api/v1/tables/blocked/test", ["10.1.2.3", "192.0.2.9"])
    assert status == 200 and body["matched"] == 1
    assert [r["result"] for r in body["results"]] == ["match", "none"]
    assert admin.call("POST", "/api/v1/tables/blocked/zero")[1]["tables_zeroed"] == 1
    assert admin.call("POST", "/api/v1/tables/blocked/zero", ["192.0.2.1"])[1]["addresses_zeroed"] == 1
    status, body, _ = admin.call("POST", "/api/v1/tables/blocked/expire", {"seconds": 3600})
    assert status == 200 and body["deleted"] == 0
    assert admin.call("POST", "/api/v1/tables/blocked/expire", {"seconds": -1})[0] == 400
    status, body, _ = admin.call("PATCH", "/api/v1/tables/blocked", {"counters": False})
    assert status == 200 and body["changed"] == 1
    status, body, _ = admin.call("GET", "/api/v1/tables?anchor=")
    assert "counters" not in next(t for t in body["tables"] if t["name"] == "blocked")["flags"]
    assert admin.call("POST", "/api/v1/tables/blocked/flush")[1]["deleted"] == 2
    assert admin.call("DELETE", "/api/v1/tables/blocked")[1]["deleted"] == 1
    assert admin.call("DELETE", "/api/v1/tables/blocked")[0] == 404
    assert admin.call("POST", "/api/v1/tables/nosuch/flush")[0] == 404
    actions = [e["action"] for e in admin.audit()]
    for a in ("table.create", "table.add", "table.zero", "table.expire", "table.flags", "table.flush", "table.kill"):
        assert a in actions


def test_a_token_scoped_to_one_table_gets_403_on_everything_else(admin: Admin) -> None:
    ok = admin.call("POST", "/api/v1/tables/bruteforce/addresses", ["192.0.2.77"], token=BLOCKER)
    assert ok[0] == 200, ok
    for method, path in (("GET", "/api/v1/tables/bruteforce/addresses"),
                         ("DELETE", "/api/v1/tables/bruteforce/addresses"), ("POST", "/api/v1/tables/bruteforce/test")):
        body = None if method == "GET" else ["192.0.2.77"]
        assert admin.call(method, path, body, token=BLOCKER)[0] == 200, (method, path)
    fp = admin.sim.fingerprint()
    for method, path, body in (
            ("POST", "/api/v1/tables/spamd/addresses", ["192.0.2.1"]),
            ("GET", "/api/v1/tables/spamd/addresses", None),
            ("DELETE", "/api/v1/tables/bruteforce", None),  # deleting the table is not an address operation
            ("POST", "/api/v1/tables/office/guests/guests/addresses", ["10.20.0.9"]),
            ("PUT", "/api/v1/anchors/office/rules", "pass all\n"),
            ("DELETE", "/api/v1/states", {"all": True}),
            ("PUT", "/api/v1/options", {"debug": "info"}),
            ("POST", "/api/v1/pf/disable", None),
            ("GET", "/api/v1/status", None),
            ("DELETE", "/api/v1/sources", {"all": True})):
        status, resp, _ = admin.call(method, path, body, token=BLOCKER)
        assert status == 403, (method, path, resp)
        assert "token:blocker" in resp["error"]["message"]
    assert admin.sim.fingerprint() == fp
    refused = [e for e in admin.audit() if e.get("status") == 403]
    assert len(refused) == 10 and all(e["identity"] == "token:blocker" for e in refused)


def test_read_and_options_scopes(admin: Admin) -> None:
    assert admin.call("GET", "/api/v1/status", token=READER)[0] == 200
    assert admin.call("GET", "/api/v1/tables/spamd/addresses", token=READER)[0] == 200
    assert admin.call("POST", "/api/v1/tables/spamd/addresses", ["192.0.2.1"], token=READER)[0] == 403
    assert admin.call("PUT", "/api/v1/options", {"debug": "info"}, token=OPTIONER)[0] == 200
    assert admin.call("POST", "/api/v1/counters/zero", token=OPTIONER)[0] == 200
    assert admin.call("POST", "/api/v1/pf/disable", token=OPTIONER)[0] == 403


def test_scopes_in_the_token_file_are_checked() -> None:
    entries = parse_token_entries(f"a:{BLOCKER} tables:office/guests,read\nb:{READER}\n", "t")
    assert entries["a"][1] == frozenset({"tables:office/guests", "read"}) and entries["b"][1] is None
    assert parse_token_entries(f"a:{BLOCKER} all read\n", "t")["a"][1] is None
    for bad in ("writeall", "tables:", "tables:../x", "tables:a//b", "tables:" + "x" * 40):
        with pytest.raises(TokenFileError) as e:
            parse_token_entries(f"a:{BLOCKER} {bad}\n", "t")
        assert "after the token" in str(e.value) and BLOCKER not in str(e.value)


def test_securelevel_refusals_name_the_operation(admin: Admin) -> None:
    admin.sim.securelevel = 2
    fp = admin.sim.fingerprint()
    for method, path, body, action in (("PUT", "/api/v1/options", {"debug": "info"}, "options.set"),
                                       ("DELETE", "/api/v1/tables/spamd", None, "table.kill"),
                                       ("POST", "/api/v1/pf/disable", None, "pf.disable")):
        status, resp, _ = admin.call(method, path, body)
        assert status == 503, resp
        assert f"pf refuses {action}" in resp["error"]["message"] and "securelevel" in resp["error"]["message"]
    assert admin.sim.fingerprint() == fp
    # table address edits work at any securelevel (pfioctl)
    assert admin.call("POST", "/api/v1/tables/spamd/addresses", ["192.0.2.200"])[0] == 200


def test_source_limiter_entries(tmp_path: Path) -> None:
    admin = start_admin(tmp_path, release="7.9")
    try:
        status, body, _ = admin.call("GET", "/api/v1/limiters/sources/clients")
        assert status == 200 and body["count"] == len(admin.sim.sourcelims[1].sources)
        first = body["sources"][0]["network"].split("/")[0]
        status, body, _ = admin.call("DELETE", "/api/v1/limiters/sources/1", {"address": first, "kill_states": True})
        assert status == 200, body
        assert admin.call("DELETE", "/api/v1/limiters/sources/1", {"address": first})[0] == 404
        assert admin.call("GET", "/api/v1/limiters/sources/nosuch")[0] == 404
        assert admin.call("DELETE", "/api/v1/limiters/sources/1", {"address": 5})[0] == 400
        assert [e["action"] for e in admin.audit()].count("sources.clear") == 3
    finally:
        admin.close()


def test_os_fingerprints(admin: Admin) -> None:
    assert admin.call("PUT", "/api/v1/osfp", {"default": True})[1]["added"] == 246
    status, body, _ = admin.call("GET", "/api/v1/osfp", token=READER)
    assert status == 200 and body["count"] == 246
    status, body, _ = admin.call("PUT", "/api/v1/osfp", "S4:64:1:60:M*,S,T,N,W0:Linux:2.6::\n", ctype="text/plain")
    assert status == 200 and body["added"] == 1
    fp = admin.sim.fingerprint()
    status, body, _ = admin.call("PUT", "/api/v1/osfp", "S4:64:1:60:M*,Q:Linux:2.6::\n", ctype="text/plain")
    assert status == 400 and "line 1" in body["error"]["message"]
    assert admin.call("PUT", "/api/v1/osfp", {"default": "yes"})[0] == 400
    flood = "".join(f"S4:64:1:60:M*,S,T,N,W0:X:{i}::\n" for i in range(5000))
    status, body, _ = admin.call("PUT", "/api/v1/osfp", flood, ctype="text/plain")
    assert status == 400 and "at most 4096" in body["error"]["message"]
    assert admin.call("PUT", "/api/v1/osfp", {"default": True}, token=BLOCKER)[0] == 403
    assert admin.sim.fingerprint() == fp and len(admin.pf.fingerprints()) == 1
    assert admin.call("DELETE", "/api/v1/osfp", token=OPTIONER)[0] == 200 and admin.pf.fingerprints() == []
