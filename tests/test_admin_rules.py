"""The JSON rule schema: validation with field paths, and its pf.conf rendering (no pf involved)."""

from __future__ import annotations

import pytest

from pf_exporter.admin.errors import ValidationError
from pf_exporter.admin.jsondecode import normalise
from pf_exporter.admin.jsonrules import parse_rule, parse_ruleset_body, render_rule, render_ruleset


def rule(**kw: object) -> dict[str, object]:
    return {"action": "pass", **kw}


@pytest.mark.parametrize(
    ("json_rule", "text"),
    [
        ({"action": "pass"}, "pass all"),
        ({"action": "block", "return": "return-rst", "direction": "in", "quick": True, "interface": "egress",
          "proto": "tcp", "from": "<bruteforce>", "to": {"port": 22}},
         "block return-rst in quick on egress proto tcp from <bruteforce> to any port 22"),
        ({"action": "pass", "direction": "out", "log": True, "interface": "!em0", "proto": "udp",
          "from": {"address": "192.0.2.0/24", "port": "1024:65535"}, "to": "!198.51.100.0/24"},
         "pass out log on ! em0 inet proto udp from 192.0.2.0/24 port 1024:65535 to ! 198.51.100.0/24"),
        ({"action": "pass", "proto": "tcp", "to": {"address": "2001:db8::10", "port": 443}, "flags": "S/SA",
          "state": {"type": "modulate", "max": 1000, "max_src_conn_rate": "100/10", "overload": "<abusers>",
                    "flush": "global", "timeouts": {"tcp.established": 600}}, "label": "web", "tag": "WEB"},
         "pass inet6 proto tcp from any to 2001:db8::10 port 443 flags S/SA modulate state (max 1000, "
         "source-track rule, max-src-conn-rate 100/10, overload <abusers> flush global, tcp.established 600) "
         'label "web" tag "WEB"'),
        ({"action": "pass", "state": "none"}, "pass all no state"),
        ({"action": "match", "direction": "in", "tagged": "WEB", "tag": "SEEN"},
         'match in all tag "SEEN" tagged "WEB"'),
        ({"action": "anchor", "anchor": "web", "direction": "in", "interface": "em0"}, 'anchor "web" in on em0 all'),
        ({"action": "pass", "proto": "icmp", "icmp_type": 8, "icmp_code": 0}, "pass proto icmp all icmp-type 8 code 0"),
        ({"action": "pass", "from": {"table": "trusted", "negate": True}},
         "pass from ! <trusted> to any"),
    ],
)
def test_rendering(json_rule: dict[str, object], text: str) -> None:
    assert render_rule(parse_rule(json_rule, "rules[0]")) == text


def test_ruleset_rendering_maps_lines_to_members() -> None:
    spec = parse_ruleset_body({
        "rules": [{"action": "block", "from": "<bad>"}, {"action": "pass", "proto": "tcp"}],
        "tables": {"bad": {"persist": True, "addresses": ["192.0.2.0/24", "!192.0.2.1"]}, "keep": {"persist": True},
                   "empty": {"addresses": []}},
    })
    out = render_ruleset(spec)
    assert out.text.splitlines() == [
        "table <bad> persist { 192.0.2.0/24, !192.0.2.1 }",
        "table <keep> persist",
        "table <empty> { }",
        "block from <bad> to any",
        "pass proto tcp all",
    ]
    assert out.sources == {1: "tables.bad", 2: "tables.keep", 3: "tables.empty", 4: "rules[0]", 5: "rules[1]"}


def test_a_bare_list_is_a_rule_list() -> None:
    assert len(parse_ruleset_body([{"action": "pass"}, {"action": "block"}]).rules) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "rules"),
        ({"rules": {}}, "rules"),
        ({"rules": [], "extra": 1}, "extra"),
        ([{"direction": "in"}], "rules[0].action"),
        ([{"action": "allow"}], "rules[0].action"),
        ([rule(), rule(proto="tcp", to={"port": 70000})], "rules[1].to.port"),
        ([rule(to={"port": 22})], "rules[0].to.port"),
        ([rule(flags="S/SA")], "rules[0].flags"),
        ([rule(proto="tcp", flags="SA/S")], "rules[0].flags"),
        ([rule(proto="tcp", flags="X/SA")], "rules[0].flags"),
        ([rule(af="inet6", **{"from": "192.0.2.1"})], "rules[0].from"),
        ([rule(**{"from": "192.0.2.1/24"})], "rules[0].from"),
        ([rule(**{"from": {"address": "192.0.2.1", "table": "x"}})], "rules[0].from.table"),
        ([rule(**{"from": {"addr": "192.0.2.1"}})], "rules[0].from.addr"),
        ([rule(interface="em0; block all")], "rules[0].interface"),
        ([rule(label='x" rdr-to 10.0.0.1')], "rules[0].label"),
        ([rule(label="$nr")], "rules[0].label"),
        ([rule(quick="yes")], "rules[0].quick"),
        ([{"action": "block", "state": "keep"}], "rules[0].state"),
        ([rule(state={"type": "keep", "max": 0})], "rules[0].state.max"),
        ([rule(state={"overload": "x"})], "rules[0].state.overload"),
        ([rule(state={"max_src_conn_rate": "10"})], "rules[0].state.max_src_conn_rate"),
        ([rule(state={"timeouts": {"tcp.bogus": 3}})], "rules[0].state.timeouts.tcp.bogus"),
        ([rule(state="synproxy")], "rules[0].state"),
        ([{"action": "anchor"}], "rules[0].anchor"),
        ([{"action": "anchor", "anchor": "_inline"}], "rules[0].anchor"),
        ([{"action": "anchor", "anchor": "x", "label": "y"}], "rules[0].label"),
        ([rule(anchor="x")], "rules[0].anchor"),
        ([rule(**{"return": "drop"})], "rules[0].return"),
        ([rule(icmp_type=3)], "rules[0].icmp_type"),
        ([rule(proto="icmp6", af="inet", icmp_type=1)], "rules[0].icmp_type"),
        ({"rules": [], "tables": {"bad name": {}}}, "tables.bad name"),
        ({"rules": [], "tables": {"t": {"addresses": ["10.0.0.1/8"]}}}, "tables.t.addresses[0]"),
        ({"rules": [], "tables": {"t": {"persist": 1}}}, "tables.t.persist"),
        ({"rules": [], "tables": []}, "tables"),
        (["pass all"], "rules[0]"),
    ],
)
def test_invalid_rules_name_the_field(body: object, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_ruleset_body(body)
    assert e.value.field == field
    assert e.value.status == 400


def test_address_family_is_inferred_and_normalised() -> None:
    spec = parse_rule({"action": "pass", "to": "192.0.2.1", "proto": 6}, "r")
    assert spec.af == "inet"
    assert normalise(spec) == {"action": "pass", "af": "inet", "proto": "tcp", "to": "192.0.2.1"}


def test_source_limits_imply_source_tracking_as_pfctl_does() -> None:
    spec = parse_rule({"action": "pass", "proto": "tcp", "state": {"max_src_conn": 10}}, "r")
    assert spec.state is not None and spec.state.source_track == "rule"
