"""compile_ruleset(): pf.conf text to the release's structs, loaded through the
simulator's DIOCXBEGIN/DIOCADDRULE/DIOCXCOMMIT transaction and read back with
DIOCGETRULES/DIOCGETRULE, prints as the input's canonical form."""

from __future__ import annotations

import ctypes
import os

import pytest
from test_ruleset_loaded import load

from pf_exporter.abi import select_abi
from pf_exporter.pf._compile import CompiledRuleset, compile_ruleset
from pf_exporter.pf._structs import decode_queue, decode_rule, decode_table_address
from pf_exporter.ruleset import RulesetError, format_rule
from pf_exporter.ruleset.corpus import corpus_reader, load_cases
from pf_exporter.simulator import Simulator, simulated_device

CORPUS = os.path.join(os.path.dirname(__file__), "data", "pfctl-regress")
ABI = select_abi("7.8", "amd64")


def _pf_cases() -> list[str]:
    return [r["case"] for r in load_cases(CORPUS) if r["family"] == "pf"]


def _text(case: str) -> str:
    with open(os.path.join(CORPUS, f"{case}.in"), encoding="utf-8") as f:
        return f.read()


def _compile(text: str, anchor: str = "", abi=ABI) -> CompiledRuleset:  # type: ignore[no-untyped-def]
    return compile_ruleset(text, abi, anchor, read_file=corpus_reader(CORPUS))


def _source_lines(compiled: CompiledRuleset) -> list[tuple[str, str]]:
    return [(cr.path, format_rule(cr.source, cr.anchor_call)) for cr in compiled.rules]


@pytest.mark.parametrize("case", _pf_cases())
@pytest.mark.parametrize("release,arch", [("7.8", "amd64"), ("7.9", "i386")])
def test_structs_decode_to_the_same_rule(case: str, release: str, arch: str) -> None:
    abi = select_abi(release, arch)
    try:
        compiled = _compile(_text(case), abi=abi)
    except RulesetError as e:
        assert "load anchor" in e.message
        return
    for cr in compiled.rules:
        assert format_rule(decode_rule(cr.rule), cr.anchor_call) == format_rule(cr.source, cr.anchor_call)


def _read_back(device, abi, path: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    pr = abi.new("pfioc_rule")
    pr.anchor = path.encode()
    device.ioctl("DIOCGETRULES", pr)
    ticket, count = pr.ticket, pr.nr
    out = []
    for nr in range(count):
        pr = abi.new("pfioc_rule", ticket=ticket, nr=nr)
        pr.anchor = path.encode()
        device.ioctl("DIOCGETRULE", pr)
        call = pr.anchor_call.decode()
        out.append((path, format_rule(decode_rule(pr.rule), call)))
    device.ioctl("DIOCXEND", ctypes.c_uint32(ticket))
    return out


LOADABLE = ["pf1", "pf2", "pf3", "pf4", "pf5", "pf10", "pf13", "pf14", "pf16", "pf17", "pf23", "pf26", "pf27",
            "pf29", "pf31", "pf32", "pf34", "pf35", "pf39", "pf40", "pf47", "pf49", "pf54", "pf56", "pf60", "pf61",
            "pf66", "pf68", "pf69", "pf70", "pf71", "pf72", "pf73", "pf74", "pf75", "pf78", "pf79", "pf80", "pf82",
            "pf84", "pf87", "pf88", "pf89", "pf90", "pf91", "pf93", "pf94", "pf98", "pf99", "pf101", "pf104",
            "pf114"]


@pytest.mark.parametrize("case", LOADABLE)
def test_simulator_round_trip(case: str) -> None:
    """compile -> DIOCXBEGIN/DIOCRINADEFINE/DIOCADDRULE/DIOCXCOMMIT -> DIOCGETRULE -> print."""
    sim = Simulator("empty", release="7.8", arch="amd64")
    device = simulated_device(sim, writable=True)
    compiled = _compile(_text(case), anchor="regress", abi=sim.abi)
    load(device, compiled)
    got: list[tuple[str, str]] = []
    for path in compiled.ruleset_paths:
        got += _read_back(device, sim.abi, path)
    assert sorted(got) == sorted(_source_lines(compiled))


def test_compile_error_has_line_column_and_message() -> None:
    text = "pass in all\n\npass in proto tcp from any to any port 99999\n"
    with pytest.raises(RulesetError) as info:
        _compile(text)
    assert (info.value.line, info.value.message) == (3, "illegal port value 99999")
    assert info.value.column > 1


def test_syntax_error_points_at_the_offending_token() -> None:
    with pytest.raises(RulesetError) as info:
        _compile("pass in\npass out proto tcp flags S\n")
    assert (info.value.line, info.value.message) == (2, "syntax error")


def test_load_anchor_without_its_file_is_refused_with_its_line() -> None:
    text = 'anchor "a"\nload anchor "a" from "/etc/pf.a"\n'
    with pytest.raises(RulesetError) as info:
        compile_ruleset(text, ABI)  # no reader: files are never read
    assert info.value.line == 2
    assert info.value.message.startswith('unsupported: load anchor "a"')
    with pytest.raises(RulesetError) as info:
        _compile(text)  # a reader that does not have the file: pfctl's message
    assert "pfctl: pushfile: /etc/pf.a" in str(info.value)


def test_files_are_not_read_unless_allowed() -> None:
    with pytest.raises(RulesetError) as info:
        compile_ruleset('table <t> file "/etc/passwd"\n', ABI)
    assert info.value.line == 1
    assert "reading files is disabled" in info.value.message


def test_set_options_inside_an_anchor_are_ignored_with_a_warning() -> None:
    compiled = _compile("pass\nset limit states 100\n", anchor="a")  # as pfctl: only the main ruleset's count
    assert [(w.line, w.message.startswith("set options in an anchor are ignored")) for w in compiled.warnings] == [
        (2, True)]
    assert compiled.options.limits == {}


def test_inline_anchors_become_rulesets_of_the_transaction() -> None:
    compiled = _compile('anchor "web" {\n pass in proto tcp to port 80\n}\npass\n', anchor="a")
    assert compiled.ruleset_paths == ["a", "a/web"]
    assert [(r.path, r.anchor_call) for r in compiled.rules] == [("a", "web"), ("a", ""), ("a/web", "")]


def test_rule_struct_fields_are_the_kernels() -> None:
    compiled = _compile("pass in on lo0 inet proto tcp from 10.0.0.0/8 port 1024:2048 to any port 22 "
                        "divert-to 127.0.0.1 port 8025\n")
    raw = compiled.rules[0].rule
    assert bytes(raw.ifname).rstrip(b"\0") == b"lo0"
    assert raw.src.port[0] == 0x0004 and raw.src.port[1] == 0x0008  # 1024, 2048 in network order
    assert raw.dst.port[0] == 0x1600  # 22
    assert bytes(raw.src.addr.v.a.addr.pfa.addr8)[:4] == bytes([10, 0, 0, 0])
    assert bytes(raw.src.addr.v.a.mask.pfa.addr8)[:4] == bytes([255, 0, 0, 0])
    assert raw.divert.port == 0x591F  # 8025
    assert raw.flags == 0x02 and raw.flagset == 0x12 and raw.keep_state == 1


def test_tables_and_automatic_tables_carry_their_addresses() -> None:
    compiled = _compile("table <t> const { 10.0.0.1 !10.0.0.0/8 }\n"
                        "match out on lo0 from any to any nat-to { 192.0.2.1 192.0.2.2 }\n")
    tables = {bytes(t.table.pfrt_name).rstrip(b"\0").decode(): t for t in compiled.tables}
    automatic = [name for name in tables if name != "t"]
    assert len(automatic) == 1 and automatic[0].startswith("__automatic_") and automatic[0].endswith("_0")
    assert compiled.rules[0].source.nat.addr.tblname == automatic[0]
    t = [decode_table_address(a) for a in tables["t"].addresses]
    assert [(a.prefixlen, a.neg) for a in t] == [(32, False), (8, True)]
    assert tables["t"].table.pfrt_flags == 2  # PFR_TFLAG_CONST


def test_queues_are_encoded_parents_first() -> None:
    compiled = _compile("queue rootq on lo0 bandwidth 10M\nqueue std parent rootq bandwidth 5M default qlimit 50\n")
    queues = [decode_queue(q) for q in compiled.queues]
    assert [(q.qname, q.parent, q.ifname) for q in queues] == [("rootq", "", "lo0"), ("std", "rootq", "lo0")]
    assert queues[1].linkshare[2] == (5000000, 0) and queues[1].qlimit == 50


@pytest.mark.parametrize("anchor", ["_1", "a/_b", "a//b", "a/*"])
def test_reserved_or_malformed_anchor_paths_are_refused(anchor: str) -> None:
    with pytest.raises(RulesetError) as info:
        compile_ruleset("pass\n", ABI, anchor)
    assert "anchor" in info.value.message


# --- bounds on expansion (the admin API compiles text from the network) ---------------------------

PORTS = "{ " + ",".join(str(p) for p in range(1, 201)) + " }"


def test_a_rule_expanding_past_the_rule_limit_is_an_error_on_its_line() -> None:
    text = f'p = "{PORTS}"\npass in proto tcp from port $p to port $p\n'  # 40,000 combinations from 800 bytes
    with pytest.raises(RulesetError) as e:
        compile_ruleset(text, ABI, "deploy")
    assert e.value.line == 2 and "limit of 20000 rules" in e.value.message
    # the limit counts every rule of the text, checked before expanding
    text = 'p = "{ 1, 2, 3 }"\n' + "pass in proto tcp from port $p to port $p\n" * 3
    with pytest.raises(RulesetError) as e:
        compile_ruleset(text, ABI, "deploy", max_rules=20)
    assert e.value.line == 4
    assert len(compile_ruleset(text, ABI, "deploy", max_rules=27).rules) == 27


def test_table_addresses_past_the_limit_are_an_error_naming_the_table() -> None:
    text = "table <a> { 192.0.2.1 192.0.2.2 }\ntable <b> persist { 198.51.100.0/24 10.0.0.1 10.0.0.2 }\n"
    with pytest.raises(RulesetError) as e:
        compile_ruleset(text, ABI, "deploy", max_table_addresses=4)
    assert e.value.line == 2 and "table <b>" in e.value.message and "limit of 4 addresses" in e.value.message
    assert sum(len(t.addresses) for t in compile_ruleset(text, ABI, "deploy", max_table_addresses=5).tables) == 5


def test_macros_of_macros_cannot_grow_without_bound() -> None:
    lines = ['m0 = "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4"']
    lines += [f'm{i} = $m{i - 1} " " $m{i - 1}' for i in range(1, 30)]  # 2^29 copies if nothing stopped it
    with pytest.raises(RulesetError) as e:
        compile_ruleset("\n".join(lines) + "\n", ABI, "deploy", max_macro_expansion=100_000)
    assert "macros expand to more than 100000 characters" in e.value.message and e.value.line == 12


def test_bounds_can_be_lifted() -> None:
    text = f'p = "{PORTS}"\npass in proto tcp from port $p to port 22\n'
    assert len(compile_ruleset(text, ABI, "deploy", max_rules=None).rules) == 200
