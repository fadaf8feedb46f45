"""The documentation is the code's: the reference pages in docs/ are generated and current, the
README's library example runs, and every py-pf method has its row."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from pf_exporter import docs
from pf_exporter.pf import PacketFilter

ROOT = Path(__file__).resolve().parent.parent
PY_PF_METHODS = ROOT / "tests" / "data" / "py-pf" / "packetfilter-methods.txt"


@pytest.mark.parametrize("page", sorted(docs.PAGES))
def test_the_generated_pages_are_current(page: str) -> None:
    assert (ROOT / "docs" / page).read_text() == docs.PAGES[page](), \
        f"docs/{page} is stale: run python -m pf_exporter.docs"


def test_the_check_mode_passes() -> None:
    assert docs.main(["--check"]) == 0


def test_every_metric_and_flag_is_in_its_page() -> None:
    from pf_exporter.cli import build_parser
    from pf_exporter.collectors import COLLECTORS

    metrics, flags = docs.metrics_page(), docs.flags_page()
    assert all(f"`{s.name}`" in metrics for c in COLLECTORS.values() for s in c.specs)
    assert all(f"`{o}" in flags for a in build_parser()._actions for o in a.option_strings if o not in ("-h", "--help"))


def test_every_public_method_is_in_the_reference() -> None:
    page = docs.library_reference()
    for name in vars(PacketFilter):
        if not name.startswith("_"):
            assert f"{name}(" in page or f"**`{name}`**" in page, name


def test_every_py_pf_method_has_a_row_and_its_equivalent_exists() -> None:
    wanted = [line for line in PY_PF_METHODS.read_text().splitlines() if line and not line.startswith("#")]
    listed = [method.split("(", 1)[0] for method, _, _ in docs.PY_PF]
    assert listed == wanted
    for method, ours, note in docs.PY_PF:
        if ours:
            cls, _, attr = ours.partition(".")
            assert cls == "PacketFilter" and callable(getattr(PacketFilter, attr)), ours
        else:
            assert note, f"{method}: no equivalent and no reason"


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("**Python library.**"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_example_runs_and_does_what_it_says() -> None:
    code = _readme_example()
    assert "import" in code and "from pf_exporter.pf import PacketFilter" in code
    assert all("pf_exporter" not in line or "pf_exporter.pf" in line for line in code.splitlines())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("pf is enabled: ") and " states of 10000" in lines[0]
    assert len(lines) == 5 and all(" packets  @" in line for line in lines[1:4])
    m = re.fullmatch(r"(\S+) blocked, (\d+) of its states killed", lines[4])
    assert m is not None and int(m.group(2)) >= 1


def test_every_test_the_security_model_names_exists() -> None:
    """docs/security.md proves each guarantee with a named test: each must exist (renames break this)."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "security.md").read_text()
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(refs) >= 30
    for path, name in refs:
        source = (root / path).read_text()
        found = re.search(rf"^\s*def {name}\(", source, re.M)
        assert found, f"docs/security.md names {path}::{name}, which does not exist"
