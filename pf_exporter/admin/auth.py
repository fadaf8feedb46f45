"""Who is calling: bearer tokens from a private file, and/or a verified TLS client certificate.

Token file (``--admin.token-file``): one ``name:token`` per line, ``#`` comments allowed,
optionally followed by the token's scopes (blank- or comma-separated, see :mod:`.scopes`):
``blocker:3f9c... tables:bruteforce``; a token without scopes may do everything.
The name appears in the audit log; the token never does.  The file must be a regular
file, owned by the exporter's user or root, with no permission bits for group or others
(``chmod 600``).  Tokens are compared in constant time (SHA-256 digests through
``hmac.compare_digest``, every token checked on every request).  The file is re-read
when it changes (its inode, size, mtime, ctime, mode or owner), so tokens can be rotated
without a restart; if the new version is invalid every request is refused until it is fixed
(fail closed).  A file the exporter's user cannot read any more (a root-owned file after the
privilege drop, touched or replaced) cannot have been checked: the tokens read before stay in
use, and the log says so until a restart or a readable file.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import stat
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..webconfig import FailureLimiter, Throttled
from .errors import ApiError
from .scopes import parse_scopes

MIN_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 4096
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
REALM = 'Bearer realm="pf_exporter admin"'


class TokenFileError(ValueError):
    """The token file is unusable; the message says why and how to fix it (never a token)."""


class TokenFileUnreadable(TokenFileError):
    """The exporter's user may not read the token file (EACCES/EPERM): its contents are unknown."""


@dataclass(frozen=True)
class Identity:
    """The authenticated caller as the audit log names it, e.g. ``token:deploy`` or ``cn:ops-laptop``;
    *scopes* limit what it may do (None: everything)."""

    name: str
    scopes: frozenset[str] | None = None

    def __str__(self) -> str:
        return self.name


ANONYMOUS = Identity("-")


# A random token of MIN_TOKEN_LENGTH hex digits has fewer than 5 different characters with a
# probability under 1e-6; a person's "aaaaaaaaaaaaaaaa" or "abcabcabc..." has.
MIN_DISTINCT_CHARACTERS = 5
_RUNS = ("0123456789abcdefghijklmnopqrstuvwxyz", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
         "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "1234567890")


def trivially_weak(token: str) -> bool:
    """Whether a token is one nobody should accept: few distinct characters, a short pattern
    repeated, or a run along the alphabet or the keyboard (either direction)."""
    if len(set(token)) < MIN_DISTINCT_CHARACTERS:
        return True
    n = len(token)
    for period in range(1, n // 2 + 1):
        if all(token[i] == token[i - period] for i in range(period, n)):
            return True
    lowered = token.lower()
    return any(lowered in run * 3 or lowered in run[::-1] * 3 for run in _RUNS)


def parse_token_file(text: str, path: str) -> dict[str, bytes]:
    """``name:token`` lines -> {name: sha256(token)}."""
    return {name: digest for name, (digest, _scopes) in parse_token_entries(text, path).items()}


def parse_token_entries(text: str, path: str) -> dict[str, tuple[bytes, frozenset[str] | None]]:
    """``name:token [scope...]`` lines -> {name: (sha256(token), scopes or None for all)}."""
    tokens: dict[str, tuple[bytes, frozenset[str] | None]] = {}
    seen_digests: set[bytes] = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        token, _, scope_text = rest.strip().partition(" ")
        name, token = name.strip(), token.strip()
        where = f"{path} line {lineno}"
        if not sep:
            raise TokenFileError(f"{where}: expected name:token (e.g. deploy:$(openssl rand -hex 32))")
        if not _NAME.match(name):
            raise TokenFileError(
                f"{where}: token name must be 1-64 letters, digits, '_', '.', '@' or '-'"
            )
        if not _TOKEN.match(token) or len(token) > MAX_TOKEN_LENGTH:
            raise TokenFileError(f"{where}: the token for {name!r} must be printable ASCII without spaces")
        if len(token) < MIN_TOKEN_LENGTH:
            raise TokenFileError(
                f"{where}: the token for {name!r} is shorter than {MIN_TOKEN_LENGTH} characters; "
                "generate one with: openssl rand -hex 32"
            )
        if trivially_weak(token):
            raise TokenFileError(
                f"{where}: the token for {name!r} is trivially guessable (too few different characters, a "
                "repeated pattern or a run along the alphabet or the keyboard); generate one with: openssl rand -hex 32"
            )
        if name in tokens:
            raise TokenFileError(f"{where}: token name {name!r} is used twice; names must be unique")
        digest = hashlib.sha256(token.encode()).digest()
        if digest in seen_digests:
            raise TokenFileError(f"{where}: the token for {name!r} is also used by another name; give each its own")
        seen_digests.add(digest)
        try:
            scopes = parse_scopes(scope_text)
        except ValueError as e:
            raise TokenFileError(f"{where}: {e}") from None
        tokens[name] = (digest, scopes)
    if not tokens:
        raise TokenFileError(f"{path}: no tokens; add lines of the form name:token")
    return tokens


def read_token_file(path: str, owners: Collection[int] = ()
                    ) -> tuple[dict[str, tuple[bytes, frozenset[str] | None]], tuple[int, ...]]:
    """Open *path* safely and parse it; returns the tokens and a change signature.  The file must
    belong to root, to this process's user or to one of *owners* (the ``--run-as`` user, who reads
    it again after the privilege drop)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (start-up hangs);
        # fstat below refuses anything but a regular file
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
            raise TokenFileError(f"token file {path} is not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise TokenFileError(f"token file {path} does not exist; create it with mode 0600") from None
    except PermissionError as e:
        raise TokenFileUnreadable(f"cannot open token file {path}: {e.strerror}") from None
    except OSError as e:
        raise TokenFileError(f"cannot open token file {path}: {e.strerror} (a symlink is not accepted)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TokenFileError(f"token file {path} is not a regular file")
        if st.st_mode & 0o077:
            raise TokenFileError(
                f"token file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run: chmod 600 {path}"
            )
        allowed = {os.geteuid(), 0, *owners}
        if st.st_uid not in allowed:
            who = ", ".join(str(u) for u in sorted(allowed))
            raise TokenFileError(
                f"token file {path} is owned by uid {st.st_uid}; it must belong to root or to the user the "
                f"exporter runs as (uid {who}); chown it"
            )
        if st.st_size > 1 << 20:
            raise TokenFileError(f"token file {path} is larger than 1 MiB")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(1 << 20)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise TokenFileError(f"token file {path} is not UTF-8 text") from None
        return parse_token_entries(text, path), _signature(st)
    finally:
        os.close(fd)


def _signature(st: os.stat_result) -> tuple[int, ...]:
    # ctime too: content rewritten at the same size with its mtime set back still changes it
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, st.st_uid)


class TokenStore:
    """The named tokens of one file, re-read when the file changes."""

    def __init__(self, path: str, logger: logging.Logger | None = None, owners: Collection[int] = ()) -> None:
        self.path = path
        self.owners = tuple(owners)
        self.log = logger or logging.getLogger("pf_exporter.admin")
        self._lock = threading.Lock()
        self._tokens, self._sig = read_token_file(path, self.owners)  # refuse to start on a bad file
        self._broken: str | None = None
        self._unreadable: str | None = None  # the file changed but cannot be read: the old tokens stay

    @property
    def names(self) -> list[str]:
        return sorted(self._tokens)

    def scopes(self, name: str) -> frozenset[str] | None:
        """The scopes of token *name* (None: all)."""
        entry = self._current().get(name)
        return entry[1] if entry is not None else frozenset()

    def _current(self) -> Mapping[str, tuple[bytes, frozenset[str] | None]]:
        try:
            sig = _signature(os.stat(self.path, follow_symlinks=False))
        except OSError:
            sig = None
        with self._lock:
            if sig != self._sig:
                try:
                    self._tokens, self._sig = read_token_file(self.path, self.owners)
                    self._unreadable = None
                    if self._broken:
                        self.log.warning("admin token file %s is valid again", self.path)
                    else:
                        self.log.info("admin token file %s re-read: %d tokens", self.path, len(self._tokens))
                    self._broken = None
                except TokenFileUnreadable as e:
                    # Not read, so not known to be bad: keep what was read before (fail closed would
                    # lock the admin out on a mere touch of a root-owned file), and say so once.
                    if str(e) != self._unreadable:
                        self.log.error("admin token file changed but cannot be read as the exporter's user; "
                                       "keeping the %d tokens read before (restart to apply it, or chown it to "
                                       "the exporter's user so it can be re-read): %s", len(self._tokens), e)
                    self._unreadable = str(e)
                    self._sig = sig or ()
                except TokenFileError as e:
                    self._unreadable = None
                    if str(e) != self._broken:
                        self.log.error("admin token file changed and is now unusable, refusing every request: %s", e)
                    self._broken = str(e)
                    self._tokens, self._sig = {}, sig or ()
            return self._tokens

    def refresh(self) -> bool:
        """Re-read the file now if it changed (SIGHUP; requests do the same on their own); False
        while it is unusable (every request is then refused) or unreadable (the old tokens stay)."""
        with self._lock:
            if self._unreadable is not None:
                self._sig = ()  # a SIGHUP tries again even if the file did not change since
        self._current()
        with self._lock:
            return self._broken is None and self._unreadable is None

    def match(self, presented: str) -> str | None:
        """The name of the token equal to *presented*, or None; constant time in which token matched."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: str | None = None
        for name, (want, _scopes) in self._current().items():
            if hmac.compare_digest(digest, want):
                found = name
        return found


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def certificate_identity(peercert: Mapping[str, object] | None) -> str | None:
    """The client certificate's subject CN (as ``ssl.SSLSocket.getpeercert()`` reports it)."""
    if not peercert:
        return None
    subject = peercert.get("subject") or ()
    for rdn in subject:  # type: ignore[attr-defined]  # ssl's peer cert dict is untyped
        for key, value in rdn:
            if key == "commonName" and value:
                return str(value)
    return None


class Authenticator:
    """Decides the identity of a request, or refuses it with 401.

    With a token file every request needs ``Authorization: Bearer <token>``; with mutual
    TLS the handshake has already verified the client certificate and its CN is used;
    with ``basic_auth_users`` in the admin web config, ``Authorization: Basic``.  When
    several are configured all are required and the identity names each.
    """

    def __init__(self, tokens: TokenStore | None, client_certs: bool, basic: Any = None) -> None:
        if tokens is None and not client_certs and basic is None:
            raise ValueError("admin API without authentication: give --admin.token-file and/or mutual TLS")
        self.tokens = tokens
        self.client_certs = client_certs
        self.basic = basic  # pf_exporter.webconfig.BasicAuth
        self.failures = FailureLimiter()  # wrong tokens (basic auth has its own, in BasicAuth)

    def _throttle(self, peer: str | None) -> None:
        try:
            self.failures.check(peer)
        except Throttled as e:
            raise _too_many(e.retry_after) from None

    def authenticate(self, authorization: str | None, peercert: Mapping[str, object] | None,
                     peer: str | None = None) -> Identity:
        """The identity, or ApiError 401 (429 when *peer*, the client's address, or everyone has
        failed too often lately: nothing is checked then, see FailureLimiter)."""
        parts: list[str] = []
        scopes: frozenset[str] | None = None
        if self.client_certs:
            cn = certificate_identity(peercert)
            if cn is None:
                raise ApiError(401, "a client certificate with a subject CN is required")
            parts.append(f"cn:{_safe(cn)}")
        if self.tokens is not None:
            token = bearer_token(authorization)
            if token is None:
                raise ApiError(
                    401, "missing credentials: send the header 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": REALM},
                )
            name = self.tokens.match(token)
            if name is None:
                self._throttle(peer)
                self.failures.failed(peer)
                raise ApiError(401, "invalid token", headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
            parts.append(f"token:{name}")
            scopes = self.tokens.scopes(name)
        if self.basic is not None:
            try:
                ok = self.basic.check(authorization, peer)
            except Throttled as e:
                raise _too_many(e.retry_after) from None
            except ValueError:  # bcrypt refuses passwords over 72 bytes: a wrong password, not a 500
                ok = False
            if not ok:
                raise ApiError(401, "missing or wrong user name or password",
                               headers={"WWW-Authenticate": 'Basic realm="pf_exporter admin"'})
            parts.append(f"user:{_safe(_basic_user(authorization or ''))}")
        return Identity("+".join(parts), scopes)


def _too_many(retry_after: float) -> ApiError:
    return ApiError(429, f"too many failed logins from this address lately; retry in {retry_after:.0f} s",
                    headers={"Retry-After": f"{retry_after:.0f}"})


def _basic_user(header: str) -> str:
    import base64

    try:
        return base64.b64decode(header.strip().split(" ", 1)[1].strip()).decode().partition(":")[0]
    except Exception:  # already verified by BasicAuth.check; this cannot really fail
        return "?"


# What a CN or basic-auth user name may show as is; everything else is %-encoded (UTF-8), so the
# identity's own separators ("+" between parts, ":" after the kind) cannot appear in a name.
_IDENTITY_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._-@/,=()'")


def _safe(text: str, limit: int = 128) -> str:
    """A certificate CN or user name for the identity: printable, bounded, and unable to look like
    another part of an identity (``x+token:root`` becomes ``x%2Btoken%3Aroot``)."""
    out = []
    size = 0
    for c in text:
        piece = c if c in _IDENTITY_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        if size + len(piece) > limit:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)
