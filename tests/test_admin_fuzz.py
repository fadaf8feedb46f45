"""Fuzzing the admin API with hypothesis: state-kill filters, table address bodies, JSON rules,
pf.conf bodies and paths.  Whatever arrives, the answer is never a 500 (an unexpected
exception), and a rejected request leaves pf exactly as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pf_exporter.admin.api import AdminApi, Request, parse_query
from pf_exporter.admin.errors import ApiError
from pf_exporter.admin.jsonrules import STATE_KEYS
from pf_exporter.admin.validate import KILL_KEYS
from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)


class Harness:
    """The routes in-process (no sockets) over one simulator, re-created when a change went through."""

    def __init__(self) -> None:
        self.fresh()

    def fresh(self) -> None:
        self.sim = Simulator("small", release="7.9")
        wdev = Device(self.sim.abi, self.sim.open(True))
        self.api = AdminApi(PacketFilter.from_device(wdev, self.sim))

    def call(self, method: str, target: str, body: bytes, ctype: str = "application/json") -> int:
        path, _, query = target.partition("?")
        before = self.sim.fingerprint()
        try:
            route = self.api.route(method, path)
            resp = self.api.handle(Request(method, path, parse_query(query), body, ctype), route)
            status = resp.status
            json.dumps(resp.body)  # every answer serialises
        except ApiError as e:
            status = e.status
            json.dumps(e.body())
        assert status != 500
        if status >= 400:
            assert self.sim.fingerprint() == before, f"{method} {target} -> {status} changed pf"
        elif method != "GET":
            self.fresh()  # keep the next example's starting point known
        return status


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness()


json_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
                | st.text(max_size=24))
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                               max_size=4),
                           max_leaves=10)
addresses = st.one_of(
    st.sampled_from(["192.0.2.1", "192.0.2.0/24", "!10.0.0.0/8", "2001:db8::/32", "::", "0.0.0.0/0", "!::1",
                     "10.0.0.1/8", "1.2.3.4/33", "256.1.1.1", "fe80::1%em0", "<bad>", "any", "", "!", "//"]),
    st.from_regex(r"!?[0-9a-f:.]{0,24}(/[0-9]{0,4})?", fullmatch=True),
    st.text(max_size=16),
)
ports = st.one_of(st.integers(-3, 70000), st.from_regex(r"[<>=!]{0,2} ?[0-9]{0,6}([:<>]{1,2}[0-9]{0,6})?",
                                                        fullmatch=True), json_scalars)
endpoints = st.one_of(addresses, st.fixed_dictionaries({}, optional={"address": addresses, "port": ports,
                                                                      "table": st.text(max_size=34),
                                                                      "negate": json_scalars, "x": json_scalars}))
names = st.one_of(st.sampled_from(["em0", "!em0", "egress", "lo0", "x" * 20, "", "tcp", "udp", "icmp6", "inet",
                                   "inet6", "bogus"]), st.text(max_size=12))
good_addresses = st.sampled_from(["192.0.2.0/24", "10.0.0.0/8", "!192.168.0.0/16", "203.0.113.2", "0.0.0.0/0"])
good_ports = st.one_of(st.integers(0, 65535), st.sampled_from(["1024:65535", ">=1024", "!=22", "1<>100", "5><6"]))
mostly_valid_filters = st.fixed_dictionaries({}, optional={
    "af": st.sampled_from(["inet", "inet6", "ipx"]),
    "proto": st.sampled_from(["tcp", "udp", "icmp", 6, 300]),
    "from": st.one_of(good_addresses,
                      st.fixed_dictionaries({"address": good_addresses}, optional={"port": good_ports})),
    "to": st.one_of(good_addresses, st.fixed_dictionaries({}, optional={"address": good_addresses,
                                                                        "port": good_ports})),
    "interface": st.sampled_from(["em0", "em1", "egress", "!em0"]),
    "label": st.sampled_from(["web-in", "ssh-in", "x", ""]),
    "rdomain": st.integers(-1, 3),
    "rule": st.integers(-1, 40),
})
kill_filters = st.one_of(
    mostly_valid_filters,
    st.dictionaries(st.sampled_from([*KILL_KEYS, "bogus"]),
                    st.one_of(names, endpoints, ports, json_values,
                              st.sampled_from([True, False, 0, 7, "1a2b3c", 2**64])), max_size=5),
)


@SETTINGS
@given(body=st.one_of(kill_filters, json_values))
def test_state_kill_filters(harness: Harness, body: Any) -> None:
    harness.call("DELETE", "/api/v1/states", json.dumps(body).encode())


address_bodies = st.one_of(
    st.lists(addresses, max_size=6),
    st.fixed_dictionaries({"addresses": st.lists(addresses, max_size=6)}),
    st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    json_values,
)


@SETTINGS
@given(method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
       table=st.sampled_from(["bruteforce", "martians", "office/guests/guests", "nope", "a/b/c/d", "%ff", "%00x",
                              "..%2F..", "_pf/x", "x" * 40]),
       body=address_bodies)
def test_table_address_bodies(harness: Harness, method: str, table: str, body: Any) -> None:
    harness.call(method, f"/api/v1/tables/{table}/addresses", json.dumps(body).encode())


rule_objects = st.fixed_dictionaries(
    {"action": st.sampled_from(["pass", "block", "match", "anchor", "nat", 1, None])},
    optional={
        **{k: st.one_of(names, json_scalars) for k in ("direction", "interface", "af", "proto", "return", "label",
                                                        "tag", "tagged", "anchor", "flags")},
        "from": endpoints, "to": endpoints, "quick": json_scalars, "log": json_scalars,
        "icmp_type": st.integers(-1, 300), "icmp_code": st.integers(-1, 300),
        "state": st.one_of(st.sampled_from(["keep", "modulate", "synproxy", "none", "bogus"]),
                           st.dictionaries(st.sampled_from([*STATE_KEYS, "bogus"]),
                                           st.one_of(st.integers(-1, 2**33), st.text(max_size=12), json_scalars,
                                                     st.dictionaries(st.sampled_from(["tcp.established",
                                                                                      "adaptive.start", "x"]),
                                                                     st.integers(-1, 2**32)))
                                           , max_size=4)),
        "junk": json_values,
    },
)
rule_bodies = st.one_of(
    st.lists(rule_objects, max_size=4),
    st.fixed_dictionaries({"rules": st.lists(rule_objects, max_size=4)},
                          optional={"tables": st.dictionaries(st.text(max_size=33), st.one_of(
                              st.fixed_dictionaries({}, optional={"addresses": st.lists(addresses, max_size=3),
                                                                  "persist": json_scalars, "const": json_scalars}),
                              json_values), max_size=2)}),
    json_values,
)


@SETTINGS
@given(anchor=st.sampled_from(["deploy", "office", "", "_x", "a/b", "relayd/web"]), body=rule_bodies,
       dry=st.booleans())
def test_json_rules(harness: Harness, anchor: str, body: Any, dry: bool) -> None:
    path = f"/api/v1/anchors/{anchor}/rules" if anchor else "/api/v1/anchors/rules"
    harness.call("PUT", path + ("?dry_run=1" if dry else ""), json.dumps(body).encode())


pfconf_words = st.sampled_from(["pass", "block", "in", "out", "quick", "on", "em0", "inet", "inet6", "proto", "tcp",
                                "from", "to", "any", "port", "22", "{", "}", "<t>", "table", "persist", "keep",
                                "state", "(", ")", "max", "100", ",", "anchor", '"a"', "\n", "label", '"x"', "!",
                                "192.0.2.0/24", "include", '"/etc/passwd"', "set", "skip", "queue", "nat-to",
                                "$m", "m=", "flags", "S/SA", "all", "=", "rdr-to", "10.0.0.1"])


pfconf_lines = st.builds(
    lambda *parts: " ".join(p for p in parts if p),
    st.sampled_from(["pass", "block", "match", "block return", "pass log", "anchor \"sub\""]),
    st.sampled_from(["", "in", "out"]), st.sampled_from(["", "quick"]), st.sampled_from(["", "on em0", "on ! em1"]),
    st.sampled_from(["", "inet", "inet6"]), st.sampled_from(["", "proto tcp", "proto udp", "proto icmp"]),
    st.sampled_from(["all", "from any to any", "from <t> to 192.0.2.1", "from 10.0.0.0/8 port 53 to any",
                     "to 2001:db8::1 port { 80 443 }", "from ! 192.0.2.0/24 to any port > 1024"]),
    st.sampled_from(["", "keep state", "no state", "flags S/SA", "modulate state (max 10)", "label \"w\"",
                     "tag T", "synproxy state", "keep state (max-src-conn 5, overload <t> flush)"]),
)
pfconf_tables = st.sampled_from(["", "table <t> persist\n", "table <t> { 192.0.2.1, !192.0.2.2 }\n",
                                 "table <t> const { 10.0.0.0/8 }\n", "table <u> file \"/etc/hosts\"\n"])


@SETTINGS
@given(words=st.lists(pfconf_words, max_size=25), junk=st.binary(max_size=8))
def test_pfconf_bodies(harness: Harness, words: list[str], junk: bytes) -> None:
    harness.call("PUT", "/api/v1/anchors/deploy/rules", " ".join(words).encode() + junk, "text/plain")


@SETTINGS
@given(tables=pfconf_tables, lines=st.lists(pfconf_lines, max_size=5))
def test_pfconf_rulesets(harness: Harness, tables: str, lines: list[str]) -> None:
    text = tables + "".join(line + "\n" for line in lines)
    harness.call("PUT", "/api/v1/anchors/deploy/rules", text.encode(), "text/plain")


@SETTINGS
@given(prefix=st.sampled_from(["", "status", "pf/", "anchors/", "states", "tables/", "anchors/office/",
                               "tables/bruteforce/"]),
       path=st.text(max_size=30), suffix=st.sampled_from(["", "/rules", "/addresses", "?dry_run=1", "?dry_run=x"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), body=st.binary(max_size=40))
def test_arbitrary_paths_and_bodies(harness: Harness, prefix: str, path: str, suffix: str, method: str,
                                    body: bytes) -> None:
    harness.call(method, "/api/v1/" + prefix + path + suffix, body)
