"""Shared harness of the admin tests (no tests here): a running admin API on a simulated pf, and an HTTP
client for it."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pf_exporter.admin import AdminConfig, AdminServer, build_admin_server
from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator

TOKEN = "test-token-0123456789abcdef-deploy"
OPS_TOKEN = "test-token-0123456789abcdef-ops"


@dataclass
class Admin:
    sim: Simulator
    server: AdminServer
    device: Device
    audit_path: Path
    token: str = TOKEN
    opened: list[Device] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
             ctype: str | None = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """One request; returns (status, parsed JSON body, lower-cased headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw
        if data is None and body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", ctype or ("text/plain" if isinstance(body, str) else "application/json"))
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, json.loads(payload) if payload else None, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    @property
    def pf(self) -> PacketFilter:
        """A read-only library handle on the same simulated pf, to check what a request did."""
        return PacketFilter.from_device(self.opened[1], self.sim)

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def close(self) -> None:
        self.server.shutdown()
        for d in self.opened:
            d.close()


def token_file(directory: Path) -> Path:
    p = directory / "admin-tokens"
    p.write_text(f"deploy:{TOKEN}\nops:{OPS_TOKEN}\n")
    p.chmod(0o600)
    return p


def start_admin(directory: Path, sim: Simulator | None = None, *, allow_main: bool = False,
                request_timeout: float = 10.0, listen: str = "127.0.0.1:0", **sim_kw: Any) -> Admin:
    sim = sim or Simulator(sim_kw.pop("scenario", "small"), release=sim_kw.pop("release", "7.9"), **sim_kw)
    wdev = Device(sim.abi, sim.open(True))
    rdev = Device(sim.abi, sim.open(False))
    audit = directory / "audit.log"
    config = AdminConfig(listen_address=listen, token_file=str(token_file(directory)),
                         allow_main_ruleset=allow_main, audit_log=str(audit), request_timeout=request_timeout)
    server = build_admin_server(config, PacketFilter.from_device(wdev, sim))
    server.start()
    return Admin(sim, server, wdev, audit, opened=[wdev, rdev])


def raw_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionError:
                break
            if not chunk:
                break
            out += chunk
        return out
