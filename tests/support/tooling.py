"""Helpers shared by tests that need an external program or the dashboards' Python modules."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


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


def make_pki(d: Path, client_cn: str = "client", client_san: str = "DNS:prometheus.example",
             ca_cn: str = "test-ca") -> Path:
    """In *d*: a CA (ca.pem), a server certificate for 127.0.0.1/localhost (server.pem/.key) and a
    client certificate (client.pem/.key) with *client_cn* and *client_san*, made with openssl(1)."""
    openssl = tool_or_skip("openssl", "apt-get install -y openssl")

    def ossl(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={ca_cn}")
    for name, cn, san in (("server", "server", "IP:127.0.0.1,DNS:localhost"), ("client", client_cn, client_san)):
        ossl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return d


def wait_until(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll a condition until it holds or *timeout* passes; its last value (no timing assertion: the
    bound only keeps a broken build from hanging)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())
