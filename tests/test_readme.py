"""The README keeps its promises: short, its two commands true (the first is run here as a new user
would, the second is what CI runs), its links and the architecture page complete."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def commands() -> list[str]:
    """The indented one-line commands right under the README's introduction, in order."""
    intro = README.split("\n## ", 1)[0]
    return [line.strip() for line in intro.splitlines() if line.startswith("    ") and line.strip()]


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) < 250


def test_the_readme_has_the_two_commands_and_ci_runs_the_second_exactly() -> None:
    run, test = commands()
    assert run.endswith("pf_exporter --simulate") and "pip install ." in run
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == test


def test_every_local_link_of_the_readme_and_the_docs_exists() -> None:
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for path in sorted((ROOT / "pf_exporter").rglob("*.py")):
        rel = path.relative_to(ROOT / "pf_exporter")
        name = f"{rel.parent.name}/" if path.name == "__init__.py" else path.name
        if path.name == "__init__.py" and rel.parent == Path("."):
            continue
        if name not in page and path.stem not in page:
            missing.append(str(rel))
    assert missing == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_first_command_works_in_a_fresh_copy(tmp_path: Path) -> None:
    """As a new user: a fresh checkout, a fresh venv, `pip install .`, then the exporter on the simulator."""
    if not shutil.which("git") or not (ROOT / ".git").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("git is needed to copy the checkout")
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    copy = tmp_path / "pf_exporter"
    for f in files:
        if (ROOT / f).is_file():
            (copy / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, copy / f)
    run = commands()[0]
    install, _, start = run.rpartition(" && ")
    assert start == ".venv/bin/pf_exporter --simulate"
    done = subprocess.run(install.replace("python3 ", f"{sys.executable} ", 1), shell=True, cwd=copy,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    proc = subprocess.Popen([str(copy / ".venv/bin/pf_exporter"), "--simulate",
                             "--web.listen-address", f"127.0.0.1:{port}"], cwd=copy,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    body = resp.read().decode()
            except OSError:
                time.sleep(0.2)
        samples = [line for line in body.splitlines() if line.startswith("pf_")]
        assert len(samples) > 500 and any(line.startswith("pf_running 1") for line in samples)
    finally:
        proc.terminate()
        proc.wait(20)
