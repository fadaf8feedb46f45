"""OpenBSD's pfctl regression corpus, run against pf_exporter.ruleset.

Every case in tests/data/pfctl-regress/CASES.tsv runs the way the regress Makefile runs
pfctl: ``pfN.in`` must print ``pfN.ok`` byte for byte and ``pfN.ok`` must print itself
again; ``pfailN.in`` must fail with exactly pfctl's messages; ``pfopt``/``pfcmd`` cases
get their command-line options; ``pf112``/``pf113`` are loaded into anchor ``regress`` and
shown with ``-a 'regress/*' -sr``.  Cases this compiler cannot reproduce are strict
expected failures carrying the reason, so a case that starts to pass is noticed.
"""

from __future__ import annotations

import os

import pytest

from pf_exporter.ruleset.corpus import NOT_REPRODUCIBLE, load_cases, report, run_case, run_corpus

CORPUS = os.path.join(os.path.dirname(__file__), "data", "pfctl-regress")

# Reproducible in principle, not (yet) reproduced: case -> reason.
KNOWN_FAILURES: dict[str, str] = {}


def _params() -> list[object]:
    params = []
    for row in load_cases(CORPUS):
        case, family = row["case"], row["family"]
        reason = NOT_REPRODUCIBLE.get(family) or KNOWN_FAILURES.get(case)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(row, id=f"{row['primary_class']}-{case}", marks=marks))
    return params


@pytest.mark.parametrize("row", _params())
def test_case(row: dict[str, str]) -> None:
    result = run_case(CORPUS, row)
    assert result.passed, result.reason


def test_every_filter_and_table_case_passes() -> None:
    subset = [r for r in load_cases(CORPUS) if r["filter_table_subset"] == "yes"]
    assert len(subset) == 39
    failing = [(r["case"], res.reason) for r in subset if not (res := run_case(CORPUS, r)).passed]
    assert failing == []


def test_report_counts_every_case_once() -> None:
    results = run_corpus(CORPUS)
    table = report(results)
    assert table.splitlines()[0] == "| class | passing | cases | not passing (reason) |"
    assert f"| **all** | **{sum(r.passed for r in results)}** | **{len(results)}** | |" in table
    assert len(results) == 122
