"""pf.conf parsing beyond the corpus: macros, includes, error recovery, the host
description, unsupported constructs and the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from pf_exporter.ruleset import Host, RulesetError, pfctl_output, run_pfctl
from pf_exporter.ruleset.__main__ import main


def nv(text: str, **kwargs: object) -> str:
    out, err, status = pfctl_output(text, **kwargs)  # type: ignore[arg-type]
    assert status == 0, err
    return out


def errors(text: str, **kwargs: object) -> str:
    out, err, status = pfctl_output(text, **kwargs)  # type: ignore[arg-type]
    assert status == 1
    return err


# -- macros --------------------------------------------------------------------------------
def test_command_line_macro_wins_over_the_file() -> None:
    assert nv('ext = "lo0"\npass in on $ext\n', macros={"ext": "enc0"}) == (
        'ext = "lo0"\npass in on enc0 all flags S/SA\n')


def test_macro_defined_from_macros_and_lists() -> None:
    text = 'ports = "22 80"\nweb = $ports https\nsvc = "{" $web "}"\npass in proto tcp to port $svc\n'
    out = nv(text)
    assert out.splitlines()[1:3] == ['web = "22 80 https"', 'svc = "{ 22 80 https }"']
    assert [line.split("port = ")[1] for line in out.splitlines()[3:]] == ["22 flags S/SA", "80 flags S/SA",
                                                                          "443 flags S/SA"]


def test_undefined_macro_is_reported_and_pfctl_recovers_past_the_next_line() -> None:
    # yacc's error recovery discards tokens up to a newline after the one findeol() ate
    assert errors("pass in from $nope\npass in from 1.2.3.4/40\npass\n") == (
        "stdin:1: macro 'nope' not defined\nstdin:1: syntax error\n")


def test_quoted_strings_are_not_expanded() -> None:
    assert nv('x = "1"\npass label "$x"\n').splitlines()[1] == 'pass all flags S/SA label "$x"'


# -- errors ------------------------------------------------------------------------------------
def test_every_error_is_reported_with_its_line() -> None:
    text = "pass in proto udp flags S/SA\n\nblock return-rst proto udp\npass in proto tcp port 70000\n"
    assert errors(text) == (
        "stdin:1: flags only apply to tcp\n"
        "stdin:3: return-rst can only be applied to TCP rules\n"
        "stdin:3: skipping rule due to errors\n"
        "stdin:3: rule expands to no valid combination\n"
        "stdin:4: syntax error\n")


def test_error_in_a_continued_line_is_reported_on_the_last_line() -> None:
    assert errors("pass in proto icmp \\\n  to port 80\n").startswith("stdin:2: port only applies to tcp/udp")


def test_syntax_errors_right_after_an_error_are_not_reported_again() -> None:
    # yacc reports a syntax error only after three tokens were shifted since the last one
    assert errors("pass in flags S\nfoo bar\npass out flags S\n") == (
        "stdin:1: syntax error\nstdin:3: syntax error\n")


def test_trailing_garbage_is_a_syntax_error_before_the_rule_is_checked() -> None:
    assert errors("pass in proto icmp to port 80 foo\n") == "stdin:1: syntax error\n"


def test_ruleset_error_locates_the_first_error() -> None:
    with pytest.raises(RulesetError) as info:
        run_pfctl("pass\n  block return-rst proto udp\n")
    e = info.value
    assert (e.line, e.message, e.file) == (2, "return-rst can only be applied to TCP rules", "stdin")
    assert [d.text for d in e.diagnostics][-1] == "stdin:2: rule expands to no valid combination"


# -- include and load anchor ---------------------------------------------------------------------
def test_include_reports_errors_with_the_included_files_name_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inc = tmp_path / "inc.conf"
    inc.write_text("pass\n\nblock from 300.1.1.1\n")
    text = f'pass in\ninclude "{inc}"\nblock\n'
    assert errors(text) == (f"no IP address found for 300.1.1.1\n{inc}:3: could not parse host specification\n")
    assert errors('include "/nonexistent/x"\n') == (
        "pfctl: pushfile: /nonexistent/x: No such file or directory\n"
        "stdin:1: failed to include file /nonexistent/x\n")


def test_load_anchor_prints_the_anchor_after_the_main_ruleset(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sub = tmp_path / "sub.conf"
    sub.write_text('pass in proto tcp to port 22 label "$nr"\n')
    out, err, status = pfctl_output(f'anchor "s"\nload anchor "s" from "{sub}"\nblock\n')
    assert status == 0
    assert out == ('anchor "s" all\nblock drop all\n'
                   'pass in proto tcp from any to any port = 22 flags S/SA label "0"\n')
    assert err == f"\nLoading anchor s from {sub}\n"


def test_table_file_is_read_and_only_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "bad.txt"
    f.write_text("10.0.0.1 # a comment\n!10.1.0.0/16\n")
    result = run_pfctl(f'table <t> persist file "{f}"\n')
    assert result.output == f'table <t> persist file "{f}"\n'
    assert [(a.prefixlen, a.neg) for a in result.tables[0].addresses] == [(32, False), (16, True)]


# -- the host -------------------------------------------------------------------------------------
def test_interface_names_expand_to_the_described_hosts_addresses() -> None:
    host = Host.from_dict({"interfaces": [
        {"name": "em0", "flags": ["broadcast"], "groups": ["egress"],
         "addresses": ["192.0.2.10/24 broadcast 192.0.2.255", "2001:db8::10/64"]},
        {"name": "lo0", "flags": ["loopback"], "addresses": ["127.0.0.1/8"]},
    ]})
    out = nv("pass in from em0:network\npass in from egress:broadcast\npass out from self\n", host=host)
    assert out.splitlines() == [
        "pass in inet from 192.0.2.0/24 to any flags S/SA",
        "pass in inet6 from 2001:db8::/64 to any flags S/SA",
        "pass in inet from 192.0.2.255 to any flags S/SA",
        "pass out inet from 192.0.2.10 to any flags S/SA",
        "pass out inet6 from 2001:db8::10 to any flags S/SA",
        "pass out inet from 127.0.0.1 to any flags S/SA",
    ]


def test_host_names_resolve_only_from_the_description() -> None:
    host = Host.from_dict({"hostnames": {"www": ["192.0.2.80"]}})
    assert nv("pass to www\n", host=host) == "pass inet from any to 192.0.2.80 flags S/SA\n"
    assert errors("pass to www\n", host=host, numeric=True) == (
        "no IP address found for www\nstdin:1: could not parse host specification\n")


def test_services_protocols_users_are_built_in() -> None:
    out = nv("pass in proto tcp to port { https, imaps } user www group staff\npass proto carp\n")
    assert out.splitlines() == [
        "pass in proto tcp from any to any port = 443 user = 67 group = 20 flags S/SA",
        "pass in proto tcp from any to any port = 993 user = 67 group = 20 flags S/SA",
        "pass proto carp all",
    ]


# -- output order ------------------------------------------------------------------------------------
def test_parse_time_lines_come_before_queues_and_rules() -> None:
    text = ("pass out on lo0 set queue std\nqueue rootq on lo0 bandwidth 1M\nqueue std parent rootq "
            "bandwidth 1M default\nx = \"1\"\nset limit states 10\ntable <t> { 1.2.3.4 }\n")
    # a queue must be defined before a rule uses it
    assert errors(text) == "stdin:1: queue std is not defined\n"
    text = text.split("\n", 1)[1] + "pass out on lo0 set queue std\n"
    assert nv(text).splitlines() == [
        'x = "1"', "set limit states 10", "table <t> { 1.2.3.4 }", "queue rootq on lo0 bandwidth 1M",
        "queue std parent rootq bandwidth 1M default", "pass out on lo0 all flags S/SA set (queue std)"]


def test_label_macros_and_rule_numbers() -> None:
    out = nv('pass in on lo0 proto tcp from 10.0.0.1 to port 22 label "$if:$proto:$srcaddr:$dstport:$nr"\n'
             'anchor "a"\npass tag "t$nr"\n')
    assert out.splitlines() == [
        'pass in on lo0 inet proto tcp from 10.0.0.1 to any port = 22 flags S/SA label "lo0:tcp:10.0.0.1:22:0"',
        'anchor "a" all', "pass all flags S/SA tag t2"]


# -- command line -----------------------------------------------------------------------------------
def test_cli_reads_stdin_and_exits_1_on_errors(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.StringIO("pass in on $if\n"))
    assert main(["-D", "if=lo0", "-"]) == 0
    assert capsys.readouterr().out == "pass in on lo0 all flags S/SA\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("pass in from 1.2.3\n"))
    assert main(["-"]) == 1
    assert capsys.readouterr().err == "no IP address found for 1.2.3\nstdin:1: could not parse host specification\n"


def test_cli_takes_a_host_description(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "host.json"
    spec.write_text(json.dumps({"interfaces": [{"name": "vio0", "addresses": ["198.51.100.2/24"]}]}))
    conf = tmp_path / "pf.conf"
    conf.write_text("block in on vio0 from ! vio0:network\n")
    assert main(["--host", str(spec), str(conf)]) == 0
    assert capsys.readouterr().out == "block drop in on vio0 inet from ! 198.51.100.0/24 to any\n"


def test_cli_as_a_module() -> None:
    proc = subprocess.run([sys.executable, "-m", "pf_exporter.ruleset", "-a", "regress", "-"], input="pass\n",
                          capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stdout) == (0, "pass all flags S/SA\n")


# -- the basic optimizer (pfctl -o basic) ----------------------------------------------------------
def test_optimizer_folds_six_addresses_into_a_table_and_drops_covered_rules() -> None:
    text = ("pass in proto tcp from { 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 } to port 22\n"
            "pass in proto tcp from 10.0.0.9 to port 22\n"
            "pass in proto tcp from 10.0.0.9 to port 22\n")
    result = run_pfctl(text, optimize=True)
    assert result.output == (
        "table <__automatic_0> const { 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.9 }\n"
        "pass in inet proto tcp from <__automatic_0> to any port = 22 flags S/SA\n")
    assert [t.anchor for t in result.tables] == [""]


def test_optimizer_leaves_labelled_rules_alone() -> None:
    text = "".join(f'pass in from 10.0.0.{i} label "l{i}"\n' for i in range(8))
    assert run_pfctl(text, optimize=True).output == run_pfctl(text).output
