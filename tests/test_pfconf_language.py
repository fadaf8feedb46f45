"""The pf.conf language beyond the regress corpus, through the library's loads: OS fingerprints
loaded with the main ruleset (and put back when the load fails), 7.9 limiters (refused before
7.9, named by an anchor's rules), anchor paths pf would refuse, and hostile input."""

from __future__ import annotations

import errno

import pytest

from pf_exporter.pf import PacketFilter, PfLoadError
from pf_exporter.ruleset import pfctl_output
from pf_exporter.ruleset.osfp import Fingerprints
from pf_exporter.simulator import Simulator, simulated_device

CUSTOM_OS = "65535:64:1:64:M*,N,W1,N,N,T,S,E:TestOS:1.0::TestOS 1.0\n"


def _pf(release: str = "7.9", scenario: str = "empty") -> tuple[Simulator, PacketFilter]:
    sim = Simulator(scenario, release=release, arch="amd64")
    return sim, PacketFilter.from_device(simulated_device(sim, writable=True))


# --- OS fingerprints ---------------------------------------------------------------------------
def test_fingerprint_names_resolve_as_pfctl_does() -> None:
    fps = Fingerprints.standard()
    openbsd = fps.lookup("OpenBSD")
    assert openbsd >> 20 and openbsd & 0xFFFFF == 0  # a class: version and subtype "any"
    assert fps.lookup("openbsd") == openbsd  # names compare without case
    assert fps.name(fps.lookup("Windows 2000 SP2")) == "Windows 2000 SP2"
    assert fps.name(fps.lookup("OpenBSD 3.0-4.8 no-df")) == "OpenBSD 3.0-4.8 no-df"
    assert fps.lookup("unknown") == 0xFFFFFFFF and fps.name(0xFFFFFFFF) == "unknown"
    assert fps.lookup("NoSuchOS") == 0xFFFFFFFE and fps.name(0xFFFFFFFE) == "nomatch"
    assert fps.lookup("OpenBSD 9.9") == 0xFFFFFFFE


def test_a_main_load_with_os_loads_pf_os_and_only_when_needed() -> None:
    _sim, pf = _pf()
    pf.load("pass in proto tcp from any os OpenBSD\n")
    assert len(pf.fingerprints()) == 246
    pf.load_fingerprints(CUSTOM_OS)
    pf.load("pass all\n")  # no `os`: the kernel's list is left alone
    assert [f.os_class for f in pf.fingerprints()] == ["TestOS"]


def test_set_fingerprints_takes_its_file_from_files_and_reads_no_disk() -> None:
    _sim, pf = _pf()
    res = pf.load('set fingerprints "my.os"\npass in proto tcp from any os "TestOS 1.0"\n', files={"my.os": CUSTOM_OS})
    assert res.changed and [f.os_class for f in pf.fingerprints()] == ["TestOS"]
    assert 'os "TestOS 1.0"' in pf.ruleset_text()
    with pytest.raises(PfLoadError, match="error loading fingerprints /etc/pf.os"):
        pf.load('set fingerprints "/etc/pf.os"\npass\n')  # no files=: nothing is read
    with pytest.raises(PfLoadError, match="error loading fingerprints bad.os"):
        pf.load('set fingerprints "bad.os"\npass\n', files={"bad.os": "1:2:3\n"})
    assert [f.os_class for f in pf.fingerprints()] == ["TestOS"]


def test_a_failed_load_puts_the_old_fingerprints_back() -> None:
    sim, pf = _pf()
    pf.load_fingerprints(CUSTOM_OS)
    before = pf.fingerprints()
    rules = pf.ruleset_text()
    sim.inject("DIOCADDRULE", errno.ENOMEM)
    with pytest.raises(PfLoadError):
        pf.load("pass in proto tcp from any os OpenBSD\n")
    assert pf.fingerprints() == before and pf.ruleset_text() == rules


def test_an_anchor_rule_resolves_os_in_the_kernels_list() -> None:
    _sim, pf = _pf()
    pf.load_fingerprints(CUSTOM_OS)
    res = pf.load('pass in proto tcp from any os "TestOS"\n', "deploy")
    assert res.warnings == ()
    assert 'os "TestOS"' in pf.ruleset_text("deploy")
    res = pf.load('pass in proto tcp from any os "OpenBSD"\n', "deploy")  # not in this kernel's list
    assert res.warnings == ("warning: unknown 'OpenBSD' OS fingerprint",)
    assert 'os "nomatch"' in pf.ruleset_text("deploy")
    assert [f.os_class for f in pf.fingerprints()] == ["TestOS"]  # an anchor load never loads fingerprints


# --- 7.9 limiters -------------------------------------------------------------------------------
LIMITERS = ("state limiter www id 4 limit 100 rate 10/1\n"
            "source limiter clients entries 50 limit 5 inet mask 24\n"
            "pass in proto tcp to port 80 state limiter www source limiter clients (no-match)\n")


def test_limiters_load_with_the_main_ruleset_and_read_back() -> None:
    _sim, pf = _pf()
    pf.load(LIMITERS)
    assert [(x.id, x.name, x.limit, x.rate_limit, x.rate_seconds) for x in pf.state_limiters()] == [
        (4, "www", 100, 10, 1)]
    assert [(x.id, x.name, x.entries, x.limit, x.inet_prefix) for x in pf.source_limiters()] == [
        (1, "clients", 50, 5, 24)]
    assert pf.ruleset_text().endswith("state limiter www source limiter clients (no-match)\n")
    assert pf.rules()[0].text.endswith("state limiter www source limiter clients (no-match)")
    pf.load("pass all\n")  # as pfctl -f: a ruleset without them removes them
    assert pf.state_limiters() == [] and pf.source_limiters() == []


def test_an_anchors_rules_name_the_main_rulesets_limiters() -> None:
    _sim, pf = _pf()
    pf.load(LIMITERS)
    pf.load("pass in proto tcp to port 443 state limiter www\n", "web")
    assert pf.ruleset_text("web") == "pass in proto tcp from any to any port = 443 flags S/SA state limiter www\n"
    with pytest.raises(PfLoadError, match="state limiter nosuch is not defined"):
        pf.load("pass state limiter nosuch\n", "web")
    with pytest.raises(PfLoadError, match="only be defined in the main ruleset"):
        pf.load("state limiter x limit 1\n", "web")


@pytest.mark.parametrize("release", ["7.6", "7.8"])
def test_limiters_are_refused_before_7_9_naming_the_release(release: str) -> None:
    sim, pf = _pf(release)
    fp = sim.fingerprint()
    with pytest.raises(PfLoadError, match=f"need OpenBSD 7.9 or later; this pf is OpenBSD {release}") as e:
        pf.load("pass\n" + LIMITERS)
    assert e.value.problems[0].line == 2
    assert sim.fingerprint() == fp


def test_limiter_definitions_are_bounded() -> None:
    text = "".join(f"state limiter l{i} limit 1\n" for i in range(256))
    _out, err, status = pfctl_output(text)
    assert status == 1 and "stdin:256: too many state limiters (at most 255)" in err


def test_a_limiter_description_that_would_not_print_back_is_refused() -> None:
    _out, err, status = pfctl_output('state limiter x limit 1 description "a\\"b"\n')
    assert status == 1 and "description may not contain quotes" in err


def test_limiter_words_stay_usable_as_macro_names() -> None:
    out, err, status = pfctl_output('source = "lo0"\nlimiter = "22"\npass in on $source proto tcp to port $limiter\n')
    assert status == 0, err
    assert out.splitlines()[-1] == "pass in on lo0 proto tcp from any to any port = 22 flags S/SA"


# --- anchor paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ('anchor "../up" all\n', "goes above the main ruleset"),
    ('anchor "a//b" all\n', "empty path component"),
    ('anchor "' + "x" * 64 + '" all\n', "longer than pf's 63 bytes"),
    ('anchor "p" {\n anchor "../../up" all\n}\n', "goes above the main ruleset"),
])
def test_anchor_calls_pf_would_refuse_are_refused_first(text: str, message: str) -> None:
    sim, pf = _pf()
    fp = sim.fingerprint()
    with pytest.raises(PfLoadError, match=message):
        pf.load(text)
    assert sim.fingerprint() == fp


def test_load_anchor_with_an_absolute_name_inside_an_anchor_is_refused() -> None:
    sim, pf = _pf()
    fp = sim.fingerprint()
    with pytest.raises(PfLoadError, match='load anchor "deploy//x"'):
        pf.load('load anchor "/x" from "x.conf"\n', "deploy", files={"x.conf": "pass\n"})
    assert sim.fingerprint() == fp


def test_anchor_paths_create_the_rulesets_the_kernel_creates() -> None:
    _sim, pf = _pf()
    pf.load('anchor "a/b/c" all\nanchor "/x/y" all\nanchor "p" {\n anchor "../r" all\n}\n'
            'load anchor "/top" from "t"\nanchor "top"\n', files={"t": "block all\n"})
    assert pf.anchors() == ["a", "a/b", "a/b/c", "p", "r", "top", "x", "x/y"]
    assert pf.ruleset_text("p") == 'anchor "../r" all\n'
    assert pf.ruleset_text("top") == "block drop all\n"
