"""Admin API input validation: addresses, names, ports, state-kill filters (no pf involved)."""

from __future__ import annotations

import pytest

from pf_exporter.abi import constants as C
from pf_exporter.admin.errors import ValidationError
from pf_exporter.admin.validate import (
    PortSpec,
    check_anchor_path,
    check_interface,
    check_table_name,
    check_text,
    parse_address,
    parse_kill_filter,
    parse_port,
)


@pytest.mark.parametrize(
    ("text", "family", "prefix", "negated", "shown"),
    [
        ("192.0.2.1", "inet", 32, False, "192.0.2.1"),
        ("192.0.2.0/24", "inet", 24, False, "192.0.2.0/24"),
        ("!10.0.0.0/8", "inet", 8, True, "!10.0.0.0/8"),
        ("0.0.0.0/0", "inet", 0, False, "0.0.0.0/0"),
        (" 198.51.100.7 ", "inet", 32, False, "198.51.100.7"),
        ("2001:db8::/32", "inet6", 32, False, "2001:db8::/32"),
        ("!2001:db8::1", "inet6", 128, True, "!2001:db8::1"),
        ("::/0", "inet6", 0, False, "::/0"),
    ],
)
def test_addresses_accepted(text: str, family: str, prefix: int, negated: bool, shown: str) -> None:
    a = parse_address(text, "addresses[0]")
    assert (a.family, a.prefix, a.negated, str(a)) == (family, prefix, negated, shown)
    assert len(a.packed) == 16


def test_address_af_uses_openbsd_numbers() -> None:
    assert parse_address("2001:db8::1", "x").af == C.AF_INET6 == 24
    assert parse_address("192.0.2.1", "x").af == C.AF_INET == 2


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("192.0.2.1/24", "host bits set below the /24 prefix; did you mean 192.0.2.0/24?"),
        ("!10.1.2.3/8", "did you mean !10.0.0.0/8?"),
        ("192.0.2.0/33", "prefix length"),
        ("192.0.2.0/", "prefix length"),
        ("256.0.0.1", "not an IPv4 or IPv6 address"),
        ("010.0.0.1", "not an IPv4 or IPv6 address"),
        ("example.org", "host names and interface names are not accepted"),
        ("em0", "not an IPv4 or IPv6 address"),
        ("fe80::1%em0", "not an IPv4 or IPv6 address"),
        ("", "not an IPv4 or IPv6 address"),
        ("!", "not an IPv4 or IPv6 address"),
        (42, "must be an address string"),
        (None, "must be an address string"),
    ],
)
def test_addresses_rejected_name_the_problem(value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as e:
        parse_address(value, "addresses[3]")
    assert e.value.field == "addresses[3]"
    assert fragment in e.value.message
    assert e.value.status == 400


def test_negation_can_be_forbidden() -> None:
    with pytest.raises(ValidationError, match="negation"):
        parse_address("!192.0.2.1", "f", allow_negation=False)


@pytest.mark.parametrize(
    ("value", "spec", "pfconf"),
    [
        (22, PortSpec(C.PF_OP_EQ, 22), "22"),
        ("443", PortSpec(C.PF_OP_EQ, 443), "443"),
        ("1024:65535", PortSpec(C.PF_OP_RRG, 1024, 65535), "1024:65535"),
        # pf.conf(5): "<>" all but the range (PF_OP_XRG), "><" inside it without its ends (PF_OP_IRG)
        ("1000<>2000", PortSpec(C.PF_OP_XRG, 1000, 2000), "1000 <> 2000"),
        ("1000><2000", PortSpec(C.PF_OP_IRG, 1000, 2000), "1000 >< 2000"),
        (">=1024", PortSpec(C.PF_OP_GE, 1024), ">= 1024"),
        ("<1024", PortSpec(C.PF_OP_LT, 1024), "< 1024"),
        ("!=80", PortSpec(C.PF_OP_NE, 80), "!= 80"),
    ],
)
def test_ports(value: object, spec: PortSpec, pfconf: str) -> None:
    got = parse_port(value, "to.port")
    assert got == spec
    assert got.pfconf() == pfconf
    assert parse_port(got.json(), "to.port") == spec


@pytest.mark.parametrize("value", [65536, -1, "ssh", "2000:1000", "80-90", True, "", "1:2:3"])
def test_bad_ports(value: object) -> None:
    with pytest.raises(ValidationError) as e:
        parse_port(value, "from.port")
    assert e.value.field == "from.port"


@pytest.mark.parametrize("name", ["em0", "egress", "vlan100", "wg0"])
def test_interface_names(name: str) -> None:
    assert check_interface(name, "i") == (name, False)
    assert check_interface("!" + name, "i") == (name, True)


@pytest.mark.parametrize("name", ["", "0em", "em0 ", "a" * 16, "em0;rm", "em\n0"])
def test_bad_interface_names(name: str) -> None:
    with pytest.raises(ValidationError):
        check_interface(name, "interface")


def test_table_names() -> None:
    assert check_table_name("bruteforce", "t") == "bruteforce"
    assert check_table_name("a" * 31, "t") == "a" * 31
    for bad in ("", "a" * 32, "<bad>", "has space", "x/y", 3):
        with pytest.raises(ValidationError):
            check_table_name(bad, "table")


def test_anchor_paths() -> None:
    assert check_anchor_path("", "a", for_write=True) == ""
    assert check_anchor_path("deploy/web", "a", for_write=True) == "deploy/web"
    assert check_anchor_path("/deploy/", "a", for_write=True) == "deploy"
    # pfctl's inline anchors can be read, never written
    assert check_anchor_path("_1", "a", for_write=False) == "_1"
    with pytest.raises(ValidationError, match="reserved"):
        check_anchor_path("_pf", "anchor", for_write=True)
    for bad in ("a//b", "a/../b", "a b", "x" * 64, "a/*"):
        with pytest.raises(ValidationError):
            check_anchor_path(bad, "anchor", for_write=True)


def test_labels_and_tags() -> None:
    assert check_text("web traffic", "label", 64) == "web traffic"
    for bad in ("", "x" * 64, 'say "hi"', "back\\slash", "$if", "new\nline"):
        with pytest.raises(ValidationError):
            check_text(bad, "label", 64)


# --- state-kill filters -------------------------------------------------------------------


def test_empty_filter_is_refused() -> None:
    for body in (None, {}, {"all": False}):
        with pytest.raises(ValidationError, match="empty filter"):
            parse_kill_filter(body)


@pytest.mark.parametrize(
    "body",
    [
        {"from": "any"},
        {"to": {}},
        {"rdomain": 0},
        {"from": {"address": "any"}},
        {"all": False, "to": "any"},
        {"from": "any", "to": {"address": "any"}, "rdomain": 0, "interface": None},
    ],
)
def test_filter_matching_everything_is_refused_like_an_empty_one(body: object) -> None:
    # members that are present but match every state must not turn into "kill them all"
    with pytest.raises(ValidationError, match="empty filter"):
        parse_kill_filter(body)


def test_each_real_criterion_is_enough() -> None:
    for body in ({"af": "inet"}, {"proto": "udp"}, {"from": "192.0.2.1"}, {"to": {"address": "2001:db8::1"}},
                 {"proto": "tcp", "to": {"port": 22}}, {"interface": "em0"}, {"label": "ssh"}, {"rdomain": 1}):
        f = parse_kill_filter(body)
        assert not f.all and f.params()["all"] is False


def test_all_clears_optionally_per_interface() -> None:
    assert parse_kill_filter({"all": True}).all
    f = parse_kill_filter({"all": True, "interface": "em0"})
    assert f.all and f.interface == "em0"
    with pytest.raises(ValidationError, match="cannot be combined"):
        parse_kill_filter({"all": True, "proto": "tcp"})


def test_network_filter_infers_family() -> None:
    f = parse_kill_filter({"from": "192.0.2.0/24", "proto": "tcp", "to": {"address": "198.51.100.1", "port": 22}})
    assert f.family == "inet"
    assert f.proto == C.IPPROTO_TCP
    assert str(f.src.address) == "192.0.2.0/24"
    assert f.dst.port == PortSpec(C.PF_OP_EQ, 22)
    assert f.params() == {"all": False, "family": "inet", "proto": "tcp", "from": "192.0.2.0/24", "to": "198.51.100.1",
                          "to_port": 22}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "192.0.2.1", "to": "2001:db8::1"}, "to"),
        ({"af": "inet6", "from": "192.0.2.1"}, "af"),
        ({"to": {"port": 22}}, "proto"),
        ({"proto": "udp", "colour": "red"}, "colour"),
        ({"id": "zz"}, "id"),
        ({"id": 0}, "id"),
        ({"id": "1a2b", "proto": "tcp"}, "proto"),
        ({"creator_id": "1"}, "creator_id"),
        ({"rule": 3, "anchor": "", "label": "x"}, "label"),
        ({"rule": 3}, "anchor"),
        ({"anchor": "office"}, "anchor"),
        ({"rule": 3, "anchor": "../x"}, "anchor"),
        ({"interface": "!em0"}, "interface"),
        ({"af": "ipx"}, "af"),
        ({"proto": "bogus"}, "proto"),
        ([1, 2], None),
    ],
)
def test_bad_filters_name_the_field(body: object, field: str | None) -> None:
    with pytest.raises(ValidationError) as e:
        parse_kill_filter(body)
    assert e.value.field == field


def test_state_id_filter() -> None:
    f = parse_kill_filter({"id": "5e2b4c0100000001", "creator_id": "0a0b0c0d"})
    assert f.state_id == 0x5E2B4C0100000001
    assert f.creator_id == 0x0A0B0C0D
    assert f.params()["id"] == "5e2b4c0100000001"
