"""OpenBSD's pfctl regress table-command cases (``pfrN.in`` -> ``pfrN.ok``) run through
``pf_exporter-ctl`` on the simulator.

The driver is ours, written after the README's description of OpenBSD's ``pfr`` runner: each
``pass|fail CMD ARGS`` line runs ``pfctl -a regress -t regress -T CMD ARGS``; for add, delete and
replace first also with ``-n``, ``-nf-`` (the addresses on stdin), ``-nqv`` and ``-nqvv``, their
output sorted; ``list`` is ``-s Tables`` and ``-s Tables -v``; ``load`` and ``rule`` are ``-f -``
with ARGS as the pf.conf text (pfr12 shows a load replaces the anchor's rules too).  A case
starts with the table created (``# create``) and ends with ``-F Tables`` and ``-F rules`` (``# kill``); the kernel pool
statistics the expected output ends with are not compared (the simulator has no pools).
``pass`` means exit 0 and ``fail`` not 0, except for ``show``, which pfr12 expects to "pass" on a
table that does not exist (its message is compared)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pf_exporter.ctl import main
from pf_exporter.pf import PacketFilter

DATA = Path(__file__).parent / "data" / "pfctl-regress"
CASES = sorted((p.stem for p in DATA.glob("pfr*.in")), key=lambda n: int(n[3:]))
HOSTS = {"localhost": ["127.0.0.1", "::1"]}  # the regress machine's /etc/hosts
EDITS = ("add", "delete", "replace")
XFAIL: dict[str, str] = {}


class Driver:
    def __init__(self) -> None:
        self.pf = PacketFilter.simulated("empty", release="7.9")
        self.out: list[str] = []
        self.failures: list[str] = []

    def ctl(self, args: list[str], stdin: str = "", anchor: bool = True) -> tuple[int, str]:
        buf = io.StringIO()
        rc = main([*(["-a", "regress"] if anchor else []), *args], pf=self.pf, stdin=io.StringIO(stdin),
                  stdout=buf, stderr=buf, resolver=lambda h: HOSTS.get(h, []))
        return rc, buf.getvalue()

    def emit(self, header: str, text: str, sort: bool = False) -> None:
        self.out.append(header + "\n")
        lines = text.splitlines(keepends=True)
        self.out.extend(sorted(lines) if sort else lines)

    def check(self, status: str, rc: int, what: str) -> None:
        if (rc == 0) != (status == "pass"):
            self.failures.append(f"{what}: exit {rc}, expected {status}")

    def line(self, status: str, cmd: str, rest: str) -> None:
        args = rest.split()
        table = ["-t", "regress", "-T"]
        if cmd in EDITS and status == "pass":
            for flags, stdin in (("-n", ""), ("-nf-", rest), ("-nqv", ""), ("-nqvv", "")):
                argv = [*table, cmd, *flags.split(), *([] if stdin else args)]
                if flags == "-nf-":
                    argv = [*table, cmd, "-n", "-f", "-"]
                rc, text = self.ctl(argv, stdin)
                self.check(status, rc, f"{cmd} {flags}")
                self.emit(f"# {status} {cmd} {flags}" + ("" if flags == "-nf-" else f" {rest}"), text, sort=True)
        if cmd == "list":
            for verbose in ([], ["-v"]):
                rc, text = self.ctl(["-s", "Tables", *verbose])
                self.check(status, rc, "list")
                self.emit(f"# {status} list " + " ".join(verbose), text)
            return
        if cmd in ("load", "rule"):
            rc, text = self.ctl(["-f", "-"], rest + "\n")
        else:
            rc, text = self.ctl([*table, cmd, *args])
        if cmd != "show":
            self.check(status, rc, cmd)
        self.emit(f"# {status} {cmd} {rest}", text, sort=cmd in EDITS)

    def run(self, script: str) -> str:
        self.emit("# create", self.ctl(["-t", "regress", "-T", "add"])[1] and "")
        for raw in script.splitlines():
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            status, _, rest = text.partition(" ")
            cmd, _, args = rest.partition(" ")
            self.line(status, cmd, args.strip())
        rc1, t1 = self.ctl(["-F", "Tables"])
        rc2, t2 = self.ctl(["-F", "rules"])
        self.emit("# kill", t1 + t2)
        return "".join(self.out)


def expected(case: str) -> str:
    lines = (DATA / f"{case}.ok").read_text().splitlines(keepends=True)
    return "".join(x for x in lines if x.split(":")[0] not in ("ktable", "pfrke_plain", "pfrke_route", "pfrke_cost"))


@pytest.mark.parametrize("case", CASES)
def test_pfr_case(case: str) -> None:
    if case in XFAIL:
        pytest.xfail(XFAIL[case])
    d = Driver()
    got = d.run((DATA / f"{case}.in").read_text())
    assert got == expected(case)
    assert d.failures == []
