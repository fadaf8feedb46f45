"""Helpers shared by tests that need an external program or the dashboards' Python modules."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"


def tool_or_skip(name: str, install: str) -> str:
    """Path of program *name*; skip when it is absent, but fail under CI=true (CI must run the test)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is missing: `{install}` (CI must run this test)")
    pytest.skip(f"{name} not installed ({install})")


def promtool_or_skip() -> str:
    return tool_or_skip("promtool", "apt-get install -y prometheus")


def load_dashboard_module(name: str) -> ModuleType:
    """dashboards/<name>.py, imported once and shared by every test module."""
    key = f"pf_mixin_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, DASHBOARDS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
