"""Run OpenBSD's pfctl regression cases (``src/regress/sbin/pfctl``) against this
compiler, the way its Makefile runs them against pfctl.

``python -m pf_exporter.ruleset.corpus DIR`` prints a Markdown table of pass counts per
feature class (the ``primary_class`` column of ``DIR/CASES.tsv``)."""

from __future__ import annotations

import csv
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .checksum import ruleset_checksum
from .errors import RulesetError
from .pfctl import pfctl_output, run_pfctl
from .show import format_show_rules

# Cases whose expected output this compiler cannot produce, and why.  The corpus test
# marks them as expected failures (strict, so a case that starts passing is noticed).
NOT_REPRODUCIBLE: dict[str, str] = {
    "pfr": "pfctl -T commands on a kernel table, ending with the kernel's table pool statistics "
           "(ktable/pfrke allocation counts); the corpus lacks the driver script",
    "pfi": "compares pfctl's interface expansion with the kernel's dynamic (if) addresses; needs pfi.exec",
    "pfsetup": "stale expected output from a target that is not run by default (needs lo1000010 set up)",
}

# pfail cases that pfctl now accepts (README: pfail14)
ACCEPTED_FAILURES = frozenset({"pfail14"})


@dataclass(frozen=True)
class CaseResult:
    case: str
    family: str
    primary_class: str
    passed: bool
    reason: str = ""  # why it failed, or why it cannot be reproduced


def load_cases(directory: str) -> list[dict[str, str]]:
    with open(os.path.join(directory, "CASES.tsv"), encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus_reader(directory: str) -> Callable[[str], str]:
    """Read files the cases name (includes, load anchor, table files) relative to *directory*,
    as the Makefile's working directory makes pfctl do."""

    def read(path: str) -> str:
        full = path if os.path.isabs(path) else os.path.join(directory, path)
        if os.path.isdir(full):
            raise IsADirectoryError(21, "Is a directory", path)
        with open(full, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()

    return read


def _read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name), encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def run_case(directory: str, row: dict[str, str]) -> CaseResult:  # noqa: C901 - one branch per kind of regress case (pf, pfail, pfopt, pfcmd, ...)
    case, family, cls = row["case"], row["family"], row["primary_class"]
    read = corpus_reader(directory)

    def result(ok: bool, why: str = "") -> CaseResult:
        return CaseResult(case, family, cls, ok, "" if ok else why)

    if family in NOT_REPRODUCIBLE:
        return result(False, NOT_REPRODUCIBLE[family])
    text = _read(directory, f"{case}.in")
    if family == "pf":
        expected = _read(directory, f"{case}.ok")
        out, err, status = pfctl_output(text, "stdin", read_file=read)
        if status or out != expected:
            return result(False, _first_difference(out, expected, err))
        again, err, status = pfctl_output(expected, "stdin", read_file=read)
        if status or again != expected:
            return result(False, "feeding the .ok back: " + _first_difference(again, expected, err))
        return result(True)
    if family == "pfail":
        expected = _read(directory, f"{case}.ok")
        out, err, status = pfctl_output(text, "stdin", read_file=read)
        want_status = 0 if case in ACCEPTED_FAILURES else 1
        if bool(status) != bool(want_status) or err + out != expected:
            return result(False, _first_difference(err + out, expected, ""))
        return result(True)
    if family in ("pfopt", "pfcmd", "pfcmdfail"):
        opts = _read(directory, f"{case}.opts").split()
        macros: dict[str, str] = {}
        anchor = ""
        numeric = verbose = False
        i = 0
        while i < len(opts):
            opt = opts[i]
            if opt.startswith("-D"):
                name, _, value = (opt[2:] or opts[i + 1]).partition("=")
                macros[name] = value
                i += 0 if opt[2:] else 1
            elif opt == "-a":
                anchor = opts[i + 1]
                i += 1
            elif opt.startswith("-") and not opt.startswith("-F"):
                numeric = numeric or "N" in opt
                verbose = verbose or "v" in opt
            i += 1
        verbose = verbose or family == "pfopt"  # the pfopt target adds -nv
        expected = _read(directory, f"{case}.ok")
        out, err, status = pfctl_output(text, "stdin", verbose=verbose, read_file=read, macros=macros,
                                        anchor=anchor, numeric=numeric)
        got = err + out if family == "pfcmdfail" else out
        if bool(status) != (family == "pfcmdfail") or got != expected:
            return result(False, _first_difference(got, expected, err))
        return result(True)
    if family == "pfchksum":
        # pfctl -f: load as the main ruleset, then the Checksum: line of pfctl -vsi
        expected = _read(directory, f"{case}.ok")
        try:
            ruleset = run_pfctl(text, "stdin", read_file=read, kernel_table_names=True)
        except RulesetError as e:
            return result(False, str(e))
        shown = f"Checksum: 0x{ruleset_checksum(ruleset.main.rules).hex()}\n"
        return result(shown == expected, _first_difference(shown, expected, ""))
    if family == "pfsimple":
        out, err, status = pfctl_output(text, "stdin", read_file=read)
        return result(status == 0, err.strip())
    if family == "pfloadanchors":
        expected = _read(directory, f"{case}.ok")
        try:  # pfctl -a regress -v -f -: loaded with the default basic optimizer
            ruleset = run_pfctl(text, "stdin", anchor="regress", read_file=read, optimize=True,
                                kernel_table_names=True)
        except RulesetError as e:
            return result(False, str(e))
        shown = re.sub(r"__automatic_[0-9a-f]*_.*>", "__automatic_>", format_show_rules(ruleset, "regress/*"))
        return result(shown == expected, _first_difference(shown, expected, ""))
    return result(False, f"no runner for the {family} family")


def _first_difference(got: str, expected: str, stderr: str) -> str:
    g, e = got.splitlines(), expected.splitlines()
    for i, (a, b) in enumerate(zip(g, e, strict=False)):
        if a != b:
            return f"line {i + 1}: got {a!r}, expected {b!r}"
    if len(g) != len(e):
        first = stderr.strip().splitlines()[0] if stderr.strip() else ""
        return f"got {len(g)} lines, expected {len(e)}" + (f" ({first})" if first else "")
    return stderr.strip().splitlines()[0] if stderr.strip() else "exit status differs"


def run_corpus(directory: str) -> list[CaseResult]:
    return [run_case(directory, row) for row in load_cases(directory)]


def report(results: list[CaseResult]) -> str:
    """A Markdown table: passes per primary class, in the README's class order."""
    order = ["filter", "macro_list", "table", "nat_rdr", "route", "queue", "anchor", "scrub_match",
             "set_options", "divert", "syntax_error", "cmdline_opts", "cmdline", "cmdline_fail", "accept_only",
             "table_cmds", "if2ip", "checksum", "iface_setup"]
    classes = sorted({r.primary_class for r in results}, key=lambda c: (order.index(c) if c in order else 99, c))
    lines = ["| class | passing | cases | not passing (reason) |", "|---|---:|---:|---|"]
    for cls in classes:
        rows = [r for r in results if r.primary_class == cls]
        passed = sum(r.passed for r in rows)
        failing = [r for r in rows if not r.passed]
        reasons = sorted({NOT_REPRODUCIBLE.get(r.family, r.reason) for r in failing})
        note = "; ".join(f"{', '.join(r.case for r in failing if NOT_REPRODUCIBLE.get(r.family, r.reason) == why)}: "
                         f"{why}" for why in reasons)
        lines.append(f"| {cls} | {passed} | {len(rows)} | {note} |")
    total = sum(r.passed for r in results)
    lines.append(f"| **all** | **{total}** | **{len(results)}** | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = args[0] if args else "tests/data/pfctl-regress"
    sys.stdout.write(report(run_corpus(directory)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
