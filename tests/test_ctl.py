"""pf_exporter-ctl: pfctl's options, output formats (pfctl.c, pfctl_parser.c print_status,
pf_print_state.c), a --json form for every show, and changes through the library."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from pf_exporter.ctl import main
from pf_exporter.pf import PacketFilter

SHOWS = ("info", "memory", "timeouts", "labels", "rules", "states", "Sources", "Tables", "queue", "Interfaces",
         "Limiters", "osfp", "Anchors", "all")


@pytest.fixture
def pf():  # type: ignore[no-untyped-def]
    with PacketFilter.simulated("small", release="7.8") as handle:
        yield handle


def ctl(pf: PacketFilter, *args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), pf=pf, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def test_show_info_is_pfctls_layout(pf) -> None:
    rc, out, _ = ctl(pf, "-s", "info", "-v")
    lines = out.splitlines()
    st = pf.status()
    days, rest = divmod(st.enabled_seconds, 86400)
    status = f"Status: Enabled for {days} days {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    assert rc == 0 and lines[0] == f"{status:<44s}{'Debug: err':>15s}"
    assert lines[1] == "" and lines[2] == f"Hostid:   0x{st.hostid:08x}" and lines[3] == f"Checksum: 0x{st.checksum}"
    assert f"{'State Table':<27s} {'Total':>14s} {'Rate':>16s}" in lines
    assert f"  {'current entries':<25s} {st.states:14d} {'':14s}" in lines
    match = next(x for x in lines if x.startswith("  match "))
    assert match.endswith("/s") and len(match.split()) == 3
    assert "Limit Counters" in lines and "Source Tracking Table" in lines
    assert "Limit Counters" not in ctl(pf, "-si")[1]  # -v only


def test_show_memory_timeouts_labels(pf) -> None:
    out = ctl(pf, "-s", "memory")[1].splitlines()
    assert out[0] == f"{'states':<13s} hard limit {pf.limits()['states']:8d}"
    assert [x.split()[0] for x in out] == ["states", "src-nodes", "frags", "tables", "table-entries",
                                           "pktdelay-pkts", "anchors"]
    out = ctl(pf, "-st")[1].splitlines()
    assert out[0] == f"{'tcp.first':<20s} {pf.timeouts()['tcp.first']:10d}s"
    assert out[6].startswith("tcp.tsdiff") and any(x.startswith("adaptive.start") and x.endswith(" states")
                                                    for x in out)
    labels = ctl(pf, "-sl")[1].splitlines()
    assert labels and all(len(x.split()) == 9 for x in labels)
    r = next(r for r in pf.rules() if r.label == "ssh-in")
    assert f"ssh-in {r.evaluations} {r.packets_in + r.packets_out}" in "\n".join(labels)


def test_show_tables_and_addresses_verbose(pf) -> None:
    plain = ctl(pf, "-sT")[1].splitlines()
    assert "bruteforce" in plain and "private" in plain
    v = ctl(pf, "-sT", "-v")[1].splitlines()
    assert "-pa-r-C\tbruteforce" in v and "-pa-r--\tguests\toffice/guests" in v
    vv = ctl(pf, "-sT", "-vv")[1]
    assert "\tAddresses:   6\n" in vv and "\tIn/Block:    [ Packets: " in vv
    shown = ctl(pf, "-t", "bruteforce", "-T", "show", "-v")[1]
    assert "   198.51.100.23\n\tCleared:" in shown and "\tIn/Pass:     [ Packets:" in shown


def test_every_show_has_json(pf) -> None:
    ctl(pf, "--fingerprints=default")
    for what in SHOWS:
        rc, out, err = ctl(pf, "-s", what, "--json")
        assert rc == 0, (what, err)
        assert out.strip(), what
        if what != "all":
            json.loads(out)


def test_rules_json_loads_back(pf) -> None:
    rc, out, _ = ctl(pf, "-a", "office", "-s", "rules", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["anchor"] == "office" and len(doc["rules"]) == pf.rule_count("office")
    before = pf.ruleset_text("office")
    assert ctl(pf, "-a", "copy", "-f", "-", stdin=out)[0] == 0
    assert pf.ruleset_text("copy") == before
    assert ctl(pf, "-a", "copy", "-f", "-", stdin='{"rules": 3}')[0] == 1


def test_changes(pf) -> None:
    s = next(x for x in pf.states() if x.protocol == 6)
    rc, _, err = ctl(pf, "-k", "key", "-k", f"tcp {s.source} -> {s.destination}")
    assert rc == 0 and err == "killed 1 states.\n"
    rc, _, err = ctl(pf, "-k", "0.0.0.0/0")
    assert rc == 0 and err.startswith("killed ") and not any(x.family == "inet" for x in pf.states())
    node = pf.source_nodes()
    assert node == [] or ctl(pf, "-K", str(node[0].address))[2].startswith("killed 1 src nodes")
    assert ctl(pf, "-F", "Sources")[2] == "source tracking entries cleared.\n" and pf.source_nodes() == []
    assert ctl(pf, "-F", "info")[2] == "pf: statistics cleared.\n" and pf.status().counters["match"] == 0
    assert ctl(pf, "-z")[0] == 0 and all(r.evaluations == 0 for r in pf.rules())
    assert ctl(pf, "-d")[2] == "pf disabled.\n" and not pf.status().running
    assert ctl(pf, "-d")[2] == "pf not enabled.\n"
    assert ctl(pf, "-e", "-x", "info")[2] == "pf enabled.\ndebug level set to 'info'.\n"
    assert ctl(pf, "-q", "-a", "office/guests", "-F", "Tables") == (0, "", "")
    assert ctl(pf, "-F", "osfp")[2] == "pf: OS fingerprints cleared.\n"
    assert ctl(pf, "-a", "office", "-F", "rules")[2] == "rules cleared\n" and pf.rule_count("office") == 0


def test_errors_exit_1_and_change_nothing(pf) -> None:
    fp = pf.simulator.fingerprint()
    for args in (("-s", "nonsense"), ("-t", "x"), ("-T", "show"), ("-F", "bogus"), ("-k", "a", "-k", "b", "-k", "c"),
                 ("-t", "spamd", "-T", "add", "not-an-address!"), ("-t", "nosuch", "-T", "show"),
                 ("-t", "spamd", "-T", "expire", "soon"), ("-f", "/nonexistent/pf.conf"), ("--bogus",),
                 ("-f", "-"), ("-k", "key", "-k", "tcp 1.2.3.4 => 5.6.7.8")):
        rc, _out, err = ctl(pf, *args, stdin="pass in on em0 from any to port\n")
        assert rc == 1 and err.strip(), args
    assert pf.simulator.fingerprint() == fp


def test_the_command_runs_as_a_program() -> None:
    out = subprocess.run([sys.executable, "-m", "pf_exporter.ctl", "--simulate", "-s", "memory"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("states        hard limit")


def test_limiters_on_79() -> None:
    with PacketFilter.simulated("small", release="7.9") as pf:
        out = ctl(pf, "-s", "Limiters", "-v")[1]
        assert 'source limiter "clients" id 1' in out
        first = pf.source_limiter_entries(1)[0].network.network_address
        rc, _, err = ctl(pf, f"--clear-source=clients/{first}")
        assert rc == 0 and err == f"source {first} of limiter clients cleared.\n"
        assert str(first) not in ctl(pf, "-sL", "-v")[1]
        assert json.loads(ctl(pf, "-sL", "--json")[1])["source_limiters"][0]["name"] == "clients"


def test_f_follows_load_anchor_from_disk(pf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "web.conf").write_text("pass in proto tcp to port 443\n")
    main_conf = tmp_path / "pf.conf"
    main_conf.write_text(f'anchor "web"\nload anchor "web" from "{tmp_path / "web.conf"}"\npass all\n')
    rc, _out, err = ctl(pf, "-f", str(main_conf))
    assert rc == 0, err
    assert "port = 443" in pf.ruleset_text("web")
