"""README.md's metric and flag tables are generated from the code, so they cannot drift.

Regenerate them with::

    python -c 'from pf_exporter.exporter import metrics_markdown; print(metrics_markdown(), end="")'
    python -c 'from pf_exporter.cli import flags_markdown; print(flags_markdown(), end="")'

and paste each between its markers (``<!-- metrics-table:begin -->`` ... ``<!-- metrics-table:end -->``,
``<!-- flags-table:begin -->`` ... ``<!-- flags-table:end -->``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pf_exporter.cli import flags_markdown
from pf_exporter.exporter import metrics_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def section(name: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    if m is None:
        pytest.skip(f"README.md has no {name} markers yet")
    return m.group(1)


def test_readme_metric_table_is_the_generated_one() -> None:
    assert section("metrics-table") == metrics_markdown(), "regenerate the README table: see this file's docstring"


def test_readme_flag_table_is_the_generated_one() -> None:
    assert section("flags-table") == flags_markdown(), "regenerate the README table: see this file's docstring"
