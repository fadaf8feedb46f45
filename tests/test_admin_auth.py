"""Admin API authentication (token file, client certificates) and the audit log format."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from pf_exporter.admin.audit import AuditLog
from pf_exporter.admin.auth import (
    Authenticator,
    TokenFileError,
    TokenStore,
    bearer_token,
    certificate_identity,
    parse_token_file,
)
from pf_exporter.admin.errors import ApiError

DEPLOY = "d3pl0y-5e1f9a27c4b86d03e7a1"
OPS = "0p5-7e3a9c1f5b2d8e4a6c0b9d1f3e"


def token_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    p = tmp_path / "tokens"
    p.write_text(text)
    p.chmod(mode)
    return p


def test_named_tokens_match_in_constant_time_by_digest(tmp_path: Path) -> None:
    p = token_file(tmp_path, f"# admin tokens\ndeploy:{DEPLOY}\n\nops : {OPS}\n")
    store = TokenStore(str(p))
    assert store.names == ["deploy", "ops"]
    assert store.match(DEPLOY) == "deploy"
    assert store.match(OPS) == "ops"
    assert store.match(DEPLOY[:-1]) is None
    assert store.match("") is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644, 0o660])
def test_token_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    p = token_file(tmp_path, f"deploy:{DEPLOY}\n", mode)
    with pytest.raises(TokenFileError) as e:
        TokenStore(str(p))
    assert f"chmod 600 {p}" in str(e.value)
    assert DEPLOY not in str(e.value)


def test_token_file_symlink_and_missing_are_refused(tmp_path: Path) -> None:
    real = token_file(tmp_path, f"deploy:{DEPLOY}\n")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(TokenFileError, match="symlink"):
        TokenStore(str(link))
    with pytest.raises(TokenFileError, match="does not exist"):
        TokenStore(str(tmp_path / "nope"))


@pytest.mark.timeout(20)
def test_token_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "tokens"
    os.mkfifo(fifo, 0o600)  # opening it for reading would wait for a writer forever
    with pytest.raises(TokenFileError, match="not a regular file"):
        TokenStore(str(fifo))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no tokens"),
        ("justatoken0123456789\n", "expected name:token"),
        ("deploy:short\n", "shorter than 16"),
        (f"bad name:{DEPLOY}\n", "token name"),
        (f"a:{DEPLOY}\na:{OPS}\n", "used twice"),
        (f"a:{DEPLOY}\nb:{DEPLOY}\n", "also used by another name"),
        (f"a:{DEPLOY} with space\n", "printable ASCII without spaces"),
    ],
)
def test_bad_token_files_never_echo_tokens(text: str, fragment: str) -> None:
    with pytest.raises(TokenFileError) as e:
        parse_token_file(text, "/etc/pf_exporter/tokens")
    assert fragment in str(e.value)
    assert DEPLOY not in str(e.value) and OPS not in str(e.value)


def test_token_file_is_reread_when_it_changes_and_fails_closed(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    p = token_file(tmp_path, f"deploy:{DEPLOY}\n")
    store = TokenStore(str(p))
    assert store.match(DEPLOY) == "deploy"
    p.write_text(f"ops:{OPS}\n")
    os.utime(p, ns=(1, 1))
    assert store.match(DEPLOY) is None
    assert store.match(OPS) == "ops"
    p.chmod(0o644)  # broken: every request is refused until fixed
    with caplog.at_level(logging.ERROR):
        assert store.match(OPS) is None
    assert "refusing every request" in caplog.text
    p.chmod(0o600)
    assert store.match(OPS) == "ops"


def test_a_token_file_that_cannot_be_read_any_more_keeps_the_tokens_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    p = token_file(tmp_path, f"deploy:{DEPLOY}\n")
    store = TokenStore(str(p))
    real_open = os.open

    def denied(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("pf_exporter.admin.auth.os.open", denied)
    os.utime(p, ns=(5, 5))  # touched: changed, and unreadable as the exporter's user
    with caplog.at_level(logging.ERROR):
        assert store.match(DEPLOY) == "deploy"
        assert store.match(DEPLOY) == "deploy"
    assert caplog.text.count("cannot be read as the exporter's user; keeping the 1 tokens read before") == 1
    assert not store.refresh()  # a SIGHUP reports it was not applied
    monkeypatch.setattr("pf_exporter.admin.auth.os.open", real_open)
    p.write_text(f"ops:{OPS}\n")
    assert store.refresh()
    assert store.match(OPS) == "ops" and store.match(DEPLOY) is None


def test_a_rewrite_at_the_same_size_and_mtime_is_still_noticed(tmp_path: Path) -> None:
    p = token_file(tmp_path, f"deploy:{DEPLOY}\n")
    store = TokenStore(str(p))
    assert store.match(DEPLOY) == "deploy"
    st = p.stat()
    revoked = "r3v0k3d-8c2e4f6a1b3d5e7f90".ljust(len(DEPLOY), "z")
    p.write_text(f"deploy:{revoked}\n")  # same size
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime set back: only ctime tells
    assert store.match(DEPLOY) is None and store.match(revoked) == "deploy"


@pytest.mark.parametrize("token", ["a" * 16, "ab" * 8, "abcabcabcabcabca", "abcdeabcdeabcdeab", "0123456789abcdef",
                                   "fedcba9876543210", "abcdefghijklmnopqr", "QWERTYUIOPASDFGH", "1234567890123456"])
def test_trivially_weak_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenFileError, match="trivially guessable.*openssl rand -hex 32") as e:
        parse_token_file(f"deploy:{token}\n", "/etc/pf_exporter/tokens")
    assert token not in str(e.value)


def test_random_tokens_are_never_called_weak() -> None:
    import secrets

    from pf_exporter.admin.auth import MIN_TOKEN_LENGTH, trivially_weak

    assert not any(trivially_weak(secrets.token_hex(MIN_TOKEN_LENGTH // 2)) for _ in range(20000))
    assert not any(trivially_weak(secrets.token_urlsafe(16)) for _ in range(2000))


def test_bearer_header_parsing() -> None:
    assert bearer_token(f"Bearer {DEPLOY}") == DEPLOY
    assert bearer_token(f"bearer   {DEPLOY} ") == DEPLOY
    assert bearer_token(f"Basic {DEPLOY}") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_authenticator_requires_every_configured_method(tmp_path: Path) -> None:
    store = TokenStore(str(token_file(tmp_path, f"deploy:{DEPLOY}\n")))
    cert = {"subject": ((("organizationName", "Example"),), (("commonName", "ci-runner"),))}
    both = Authenticator(store, client_certs=True)
    assert str(both.authenticate(f"Bearer {DEPLOY}", cert)) == "cn:ci-runner+token:deploy"
    with pytest.raises(ApiError) as e:
        both.authenticate(f"Bearer {DEPLOY}", None)
    assert e.value.status == 401
    with pytest.raises(ApiError) as e:
        both.authenticate("Bearer wrong-token-wrong-token", cert)
    assert e.value.status == 401 and "invalid token" in e.value.message
    tokens_only = Authenticator(store, client_certs=False)
    with pytest.raises(ApiError) as e:
        tokens_only.authenticate(None, None)
    assert e.value.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(ValueError, match="without authentication"):
        Authenticator(None, client_certs=False)


@pytest.mark.parametrize(("cn", "shown"), [
    ("x+token:root", "cn:x%2Btoken%3Aroot"),
    ("ops laptop (Alice)", "cn:ops laptop (Alice)"),
    ("evil\nline\"quote\\", "cn:evil%0Aline%22quote%5C"),
    ("zoë", "cn:zo%C3%AB"),
    ("a%2Bb", "cn:a%252Bb"),  # the escape character is escaped too: no two CNs show alike
])
def test_a_certificate_cn_cannot_pass_for_another_kind_of_identity(cn: str, shown: str) -> None:
    auth = Authenticator(None, client_certs=True)
    identity = str(auth.authenticate(None, {"subject": ((("commonName", cn),),)}))
    assert identity == shown
    assert "+" not in identity and identity.count(":") == 1


def test_an_identity_is_bounded_without_cutting_an_escape() -> None:
    auth = Authenticator(None, client_certs=True)
    identity = str(auth.authenticate(None, {"subject": ((("commonName", "+" * 100),),)}))
    assert identity == "cn:" + "%2B" * 42


def test_certificate_identity() -> None:
    assert certificate_identity(None) is None
    assert certificate_identity({"subject": ((("commonName", "a"),),)}) == "a"
    assert certificate_identity({"subject": ((("organizationName", "x"),),)}) is None


def test_audit_line_is_one_json_line_without_secrets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(logging.getLogger("test.audit"), str(path))
    with caplog.at_level(logging.INFO, logger="test.audit"):
        line = audit.record(identity="token:deploy", remote="127.0.0.1:5000", method="POST",
                            path="/api/v1/tables/bad\nactor/addresses", action="table.add",
                            params={"table": "bad", "addresses": [f"10.0.0.{i}" for i in range(30)]},
                            status=200, now=1700000000.25)
    audit.close()
    assert "\n" not in line
    entry = json.loads(path.read_text())
    assert entry["time"] == "2023-11-14T22:13:20.250Z"
    assert entry["identity"] == "token:deploy"
    assert entry["remote"] == "127.0.0.1:5000"
    assert entry["action"] == "table.add"
    assert entry["outcome"] == "ok"
    assert entry["params"]["addresses"][-1] == "... 10 more"
    assert len(entry["params"]["addresses"]) == 21
    [record] = [r for r in caplog.records if r.name == "test.audit"]
    assert record.getMessage() == "admin request"
    assert (record.identity, record.action, record.status) == ("token:deploy", "table.add", 200)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_audit_events_are_structured_fields_in_the_log_in_either_format(restore_root_logger) -> None:
    import io

    from pf_exporter.logsetup import setup_logging

    for fmt in ("logfmt", "json"):
        out = io.StringIO()
        setup_logging("info", fmt, stream=out)
        AuditLog(logging.getLogger("pf_exporter.admin.audit")).record(
            identity="token:fail2ban", remote="127.0.0.1:53078", method="POST",
            path="/api/v1/tables/bruteforce/addresses", action="table.add",
            params={"table": "bruteforce", "addresses": ["198.51.100.7"], "count": 1}, status=400,
            message='bad "address"')
        [line] = out.getvalue().splitlines()  # one event, one line
        if fmt == "logfmt":
            assert 'msg="admin request" identity=token:fail2ban remote=127.0.0.1:53078 method=POST' in line
            assert "params.table=bruteforce params.addresses=198.51.100.7 params.count=1 status=400" in line
            assert 'error="bad \\"address\\""' in line and "{" not in line
        else:
            event = json.loads(line)
            assert event["msg"] == "admin request" and event["params"]["addresses"] == ["198.51.100.7"]
            assert event["outcome"] == "rejected" and event["error"] == 'bad "address"'


@pytest.mark.parametrize(("status", "outcome"), [(200, "ok"), (400, "rejected"), (401, "denied"), (403, "denied"),
                                                 (429, "denied"), (409, "failed"), (413, "rejected"), (503, "failed")])
def test_audit_outcomes(status: int, outcome: str) -> None:
    line = AuditLog(logging.getLogger("test.audit2")).record(
        identity="-", remote="unix", method="GET", path="/", action="x", params=None, status=status)
    assert json.loads(line)["outcome"] == outcome


@pytest.mark.timeout(20)
def test_audit_log_must_be_a_private_regular_file(tmp_path: Path) -> None:
    real = tmp_path / "audit.log"
    real.write_text("")
    link = tmp_path / "link.log"
    link.symlink_to(real)
    with pytest.raises(OSError, match="symbolic link"):
        AuditLog(logging.getLogger("test.audit3"), str(link))
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(OSError, match="not a regular file"):
        AuditLog(logging.getLogger("test.audit3"), str(fifo))
    for mode in (0o620, 0o602, 0o666):
        real.chmod(mode)
        with pytest.raises(OSError, match="chmod go-w"):
            AuditLog(logging.getLogger("test.audit3"), str(real))
    real.chmod(0o644)  # others may read it (the operator's choice), not write it
    AuditLog(logging.getLogger("test.audit3"), str(real)).close()
    created = tmp_path / "new.log"
    AuditLog(logging.getLogger("test.audit3"), str(created)).close()
    assert created.stat().st_mode & 0o777 == 0o600
