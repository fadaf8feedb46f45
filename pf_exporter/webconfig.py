"""The exporter-toolkit web config (``--web.config.file``, ``--admin.web.config.file``): TLS and
basic auth for the project's listeners, parsed strictly (an unknown key is an error naming it),
and the bcrypt check of ``Authorization: Basic``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class WebConfigError(ValueError):
    """The --web.config.file is unreadable or invalid; the message names the key and the fix."""


# --- web config (exporter-toolkit format) ------------------------------------------------------------

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# exporter-toolkit knows these too, but Python's ssl cannot ask for a certificate without
# verifying it.
_CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert")
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
# Every key of exporter-toolkit's tls_server_config (web/tls_config.go).
_TLS_KEYS = ("cert_file", "key_file", "cert", "key", "client_ca_file", "client_ca", "client_auth_type",
             "min_version", "max_version", "client_allowed_sans", "cipher_suites", "prefer_server_cipher_suites",
             "curve_preferences")
# Go's names of the TLS 1.0-1.2 cipher suites (crypto/tls) and OpenSSL's for the same suite.
CIPHER_SUITES = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",  # Go's older names
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# TLS 1.3's suites: Go does not let them be configured (and exporter-toolkit ignores them), nor does Python.
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
# Go's curve names and OpenSSL's.
CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}
_HTTP_KEYS = ("http2", "headers")
# The response headers exporter-toolkit lets a web config set.
_ALLOWED_HEADERS = ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
                    "Content-Security-Policy")


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str
    key_file: str
    client_ca_file: str = ""
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = ""
    client_allowed_sans: tuple[str, ...] = ()
    cert: str = ""  # PEM given inline (exporter-toolkit's cert/key/client_ca) instead of a file
    key: str = field(default="", repr=False)
    client_ca: str = ""
    ciphers: str = ""  # OpenSSL cipher list from cipher_suites ("" = the defaults)
    prefer_server_ciphers: bool = True  # exporter-toolkit's default
    curve: str = ""  # the one OpenSSL curve name, when curve_preferences names exactly one


@dataclass(frozen=True)
class WebConfig:
    tls: TlsConfig | None = None
    basic_auth_users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # What the file asks for that Python's ssl or http.server cannot do: logged, not refused.
    warnings: tuple[str, ...] = field(default=(), compare=False)


# How much a client_auth_type asks of clients, weakest first.
_CLIENT_AUTH_STRENGTH = {"NoClientCert": 0, "VerifyClientCertIfGiven": 1, "RequireAndVerifyClientCert": 2}


def downgrades(old: WebConfig, new: WebConfig) -> list[str]:
    """What *new* would take away from the protection *old* gives (empty: nothing).  A reload may
    add TLS, client certificates or users, never remove them: an empty or truncated file must not
    silently open the listener."""
    out = []
    if old.tls is not None and new.tls is None:
        out.append("it turns TLS off")
    if old.tls is not None and new.tls is not None:
        if _CLIENT_AUTH_STRENGTH.get(new.tls.client_auth_type, 0) < _CLIENT_AUTH_STRENGTH.get(
                old.tls.client_auth_type, 0):
            out.append(f"it weakens client_auth_type from {old.tls.client_auth_type} to {new.tls.client_auth_type}")
        if old.tls.client_allowed_sans and not new.tls.client_allowed_sans:
            out.append("it removes client_allowed_sans")
    if old.basic_auth_users and not new.basic_auth_users:
        out.append("it turns basic auth off (no basic_auth_users)")
    return out


def _check_keys(section: str, data: Any, known: Sequence[str], unsupported: Sequence[str] = ()) -> dict[str, Any]:
    where = f"{section}: " if section else "top level: "
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WebConfigError(f"{where}expected a mapping of keys, got {type(data).__name__}")
    for key in data:
        if key in unsupported:
            raise WebConfigError(
                f"{where}{key} is an exporter-toolkit option pf_exporter does not support; remove it"
            )
        if key not in known:
            raise WebConfigError(f"{where}unknown key {key!r}; valid keys are {', '.join(known)}")
    return data


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise WebConfigError(f"{where}: expected a string, got {value!r}")
    return value


def parse_web_config(text: str, base: Path = Path(".")) -> WebConfig:
    """Validate a web-config document; relative file names are relative to *base*."""
    import yaml  # only with --web.config.file: not every exporter needs a YAML parser in memory

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise WebConfigError(f"not valid YAML: {e}".replace("\n", " ")) from None
    top = _check_keys("", data, _TOP_KEYS)

    warnings: list[str] = []
    tls_raw = _check_keys("tls_server_config", top.get("tls_server_config"), _TLS_KEYS)
    tls = _parse_tls(tls_raw, base, warnings) if tls_raw else None

    http_raw = _check_keys("http_server_config", top.get("http_server_config"), _HTTP_KEYS)
    headers: dict[str, str] = {}
    if "http2" in http_raw and not isinstance(http_raw["http2"], bool):
        raise WebConfigError("http_server_config.http2: expected true or false")
    if http_raw.get("http2") is True:
        warnings.append("http_server_config.http2: true has no effect: pf_exporter serves HTTP/1.1 only "
                        "(clients, Prometheus included, use it)")
    for name, v in (_check_keys("http_server_config.headers", http_raw.get("headers"), _ALLOWED_HEADERS)).items():
        headers[name] = _string(f"http_server_config.headers.{name}", v)

    users: dict[str, bytes] = {}
    users_raw = top.get("basic_auth_users") or {}
    if not isinstance(users_raw, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user name to bcrypt hash")
    for user, hashed in users_raw.items():
        users[str(user)] = check_bcrypt_hash(f"basic_auth_users.{user}",
                                             _string(f"basic_auth_users.{user}", hashed)).encode()
    return WebConfig(tls, users, headers, tuple(warnings))


def _parse_tls(raw: dict[str, Any], base: Path, warnings: list[str]) -> TlsConfig:  # noqa: C901 - one check per tls_server_config key, each naming the key on error
    """tls_server_config: every exporter-toolkit key; what Python's ssl cannot do is a warning."""
    def path(key: str) -> str:
        v = raw.get(key)
        if v in (None, ""):
            return ""
        p = Path(_string(f"tls_server_config.{key}", v))
        return str(p if p.is_absolute() else base / p)

    def inline(key: str) -> str:
        v = raw.get(key)
        return "" if v in (None, "") else _string(f"tls_server_config.{key}", v)

    cert, key, cert_pem, key_pem = path("cert_file"), path("key_file"), inline("cert"), inline("key")
    for file_key, text_key, a, b in (("cert_file", "cert", cert, cert_pem), ("key_file", "key", key, key_pem)):
        if a and b:
            raise WebConfigError(f"tls_server_config: give {file_key} or {text_key}, not both")
    if not (cert or cert_pem) or not (key or key_pem):
        raise WebConfigError("tls_server_config: a certificate (cert_file or cert) and a key (key_file or key) "
                             "are both required for TLS")
    auth = _string("tls_server_config.client_auth_type", raw.get("client_auth_type") or "NoClientCert")
    if auth in _CLIENT_AUTH_UNSUPPORTED:
        raise WebConfigError(
            f"tls_server_config.client_auth_type {auth} is not supported (Python cannot request a client "
            "certificate without verifying it); use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    if auth not in _CLIENT_AUTH:
        raise WebConfigError(f"tls_server_config.client_auth_type {auth!r} is unknown; use one of "
                             f"{', '.join(_CLIENT_AUTH)}")
    ca, ca_pem = path("client_ca_file"), inline("client_ca")
    if ca and ca_pem:
        raise WebConfigError("tls_server_config: give client_ca_file or client_ca, not both")
    if auth != "NoClientCert" and not (ca or ca_pem):
        raise WebConfigError(f"tls_server_config: client_auth_type {auth} needs client_ca_file (or client_ca)")
    versions = {}
    for k, default in (("min_version", "TLS12"), ("max_version", "")):
        v = _string(f"tls_server_config.{k}", raw.get(k) or default) if raw.get(k) or default else ""
        if v and v not in _TLS_VERSIONS:
            raise WebConfigError(f"tls_server_config.{k} {v!r} is unknown; use one of {', '.join(_TLS_VERSIONS)}")
        versions[k] = v
    sans_raw = raw.get("client_allowed_sans") or []
    if not isinstance(sans_raw, list):
        raise WebConfigError("tls_server_config.client_allowed_sans: expected a list of names")
    sans = tuple(_string("tls_server_config.client_allowed_sans", x) for x in sans_raw)
    if sans and auth != "RequireAndVerifyClientCert":
        raise WebConfigError("tls_server_config.client_allowed_sans needs client_auth_type RequireAndVerifyClientCert")
    prefer = raw.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise WebConfigError("tls_server_config.prefer_server_cipher_suites: expected true or false")
    return TlsConfig(cert, key, ca, auth, versions["min_version"], versions["max_version"], sans,
                     cert_pem, key_pem, ca_pem, _ciphers(raw.get("cipher_suites"), warnings), prefer,
                     _curve(raw.get("curve_preferences"), warnings))


def _names(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebConfigError(f"tls_server_config.{key}: expected a list of names")
    return [_string(f"tls_server_config.{key}", v) for v in value]


def _ciphers(value: Any, warnings: list[str]) -> str:
    """cipher_suites (Go's names) -> an OpenSSL cipher list for TLS 1.2 and older."""
    names = _names("cipher_suites", value)
    unknown = [n for n in names if n not in CIPHER_SUITES and n not in TLS13_SUITES]
    if unknown:
        raise WebConfigError(f"tls_server_config.cipher_suites: unknown {', '.join(unknown)}; use Go's names, "
                             f"e.g. {', '.join(list(CIPHER_SUITES)[-6:-2])}")
    if any(n in TLS13_SUITES for n in names):
        warnings.append("tls_server_config.cipher_suites: TLS 1.3 suites cannot be chosen (as in Go, where "
                        "exporter-toolkit ignores them): TLS 1.3 uses all of them")
    return ":".join(dict.fromkeys(CIPHER_SUITES[n] for n in names if n in CIPHER_SUITES))


def _curve(value: Any, warnings: list[str]) -> str:
    """curve_preferences: Python's ssl can set one curve (SSLContext.set_ecdh_curve), not a list."""
    names = _names("curve_preferences", value)
    unknown = [n for n in names if n not in CURVES]
    if unknown:
        raise WebConfigError(f"tls_server_config.curve_preferences: unknown {', '.join(unknown)}; use "
                             f"{', '.join(CURVES)}")
    if len(names) == 1:
        return CURVES[names[0]]
    if names:
        warnings.append("tls_server_config.curve_preferences: Python's ssl can restrict key exchange to one curve, "
                        "not order several; OpenSSL's defaults (X25519, P-256, P-384, P-521) stay in use")
    return ""


def load_web_config(path: str) -> WebConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise WebConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        config = parse_web_config(text, p.parent)
    except WebConfigError as e:
        raise WebConfigError(f"{path}: {e}") from None
    if config.tls is not None:
        build_ssl_context(config.tls, path)  # fail at start-up, not at the first connection
    for warning in config.warnings:
        logging.getLogger("pf_exporter.web").warning(warning, extra={"file": path})
    return config


def build_ssl_context(tls: TlsConfig, where: str = "web config") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert_name = tls.cert_file or "(cert)"
    key_name = tls.key_file or "(key)"
    try:
        if tls.cert or tls.key:
            _load_inline_chain(ctx, tls)
        else:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as e:
        raise WebConfigError(
            f"{where}: cannot load TLS certificate {cert_name} with key {key_name}: {e}; "
            "check tls_server_config.cert_file/cert and key_file/key"
        ) from None
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file or tls.client_ca:
        try:
            if tls.client_ca:
                ctx.load_verify_locations(cadata=tls.client_ca)
            else:
                ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError, ValueError) as e:
            raise WebConfigError(f"{where}: cannot load client_ca_file/client_ca {tls.client_ca_file}: {e}") from None
    if tls.ciphers:
        try:
            ctx.set_ciphers(tls.ciphers)
        except ssl.SSLError:
            raise WebConfigError(f"{where}: none of tls_server_config.cipher_suites is available in this OpenSSL "
                                 f"({tls.ciphers})") from None
    if tls.prefer_server_ciphers:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve:
        ctx.set_ecdh_curve(tls.curve)
    return ctx


def _load_inline_chain(ctx: ssl.SSLContext, tls: TlsConfig) -> None:
    """cert/key given inline: Python's ssl loads a chain only from files, so they are written to a
    private temporary directory (0700, files 0600), loaded and removed at once."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pf_exporter-tls-") as d:
        cert_path, key_path = Path(d) / "cert.pem", Path(d) / "key.pem"
        for path, text in ((cert_path, tls.cert), (key_path, tls.key)):
            if text:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
        ctx.load_cert_chain(str(cert_path) if tls.cert else tls.cert_file,
                            str(key_path) if tls.key else tls.key_file)


# --- basic auth --------------------------------------------------------------------------------------

# bcrypt costs a web config may use.  Each wrong password costs one bcrypt at the users' highest
# cost: 14 is about a second of CPU on a 2 GHz core (12, what bcrypt.gensalt() gives, a quarter of
# that); 31 would be days, and would hang the start-up that checks the hashes.
BCRYPT_MIN_COST, BCRYPT_MAX_COST = 4, 14
# $2a$/$2b$/$2y$, two-digit cost, 22 salt characters (the last one carries 2 bits, so only . O e u
# are valid there: bcrypt refuses the others at every check), 31 hash characters.
_BCRYPT = re.compile(r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{31}")
_HASH_HELP = ("create one with `python3 -c 'import bcrypt,getpass; print(bcrypt.hashpw(getpass.getpass().encode(), "
              "bcrypt.gensalt()).decode())'` or `htpasswd -nBC 10 \"\" | tr -d ':\\n'`")


def check_bcrypt_hash(where: str, text: str) -> str:
    """A basic-auth user's hash, checked the way bcrypt will use it: WebConfigError otherwise (a
    malformed salt would fail every login with an error, a huge cost would hang every check)."""
    m = _BCRYPT.fullmatch(text)
    if m is None:
        if text.startswith(("$2a$", "$2b$", "$2y$")) and len(text) == 60:
            raise WebConfigError(f"{where}: not a valid bcrypt hash (bad cost or salt characters); {_HASH_HELP}")
        raise WebConfigError(f"{where}: not a bcrypt hash; {_HASH_HELP}")
    cost = int(m.group(1))
    if not BCRYPT_MIN_COST <= cost <= BCRYPT_MAX_COST:
        raise WebConfigError(f"{where}: bcrypt cost {cost} is outside {BCRYPT_MIN_COST}..{BCRYPT_MAX_COST} (each "
                             f"check of cost {cost} takes 2^{cost} rounds; 10 to 12 is usual); {_HASH_HELP}")
    return text


# bcrypt reads at most this many bytes of a password; bcrypt 5 refuses longer ones.
BCRYPT_MAX_PASSWORD = 72


def basic_credentials(header: str | None) -> str | None:
    """The base64 credentials of an ``Authorization: Basic ...`` header (the scheme is
    case-insensitive, RFC 7235), or None for another scheme or no header."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "basic" or not rest.strip():
        return None
    return rest.strip()


def basic_auth_password_too_long(header: str | None) -> bool:
    """Whether an ``Authorization: Basic`` header carries a password bcrypt cannot check."""
    credentials = basic_credentials(header)
    if credentials is None:
        return False
    try:
        decoded = base64.b64decode(credentials, validate=True)
    except binascii.Error:
        return False
    return len(decoded.partition(b":")[2]) > BCRYPT_MAX_PASSWORD


class Throttled(Exception):
    """Too many failed logins from one address (or from everyone) lately: refused without checking."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class FailureLimiter:
    """Bounds failed logins: each client address has a bucket of ``burst`` failures refilled at
    ``rate`` per second, and all addresses together one of ``total_burst`` refilled at
    ``total_rate``.  A login attempted with an empty bucket is refused (:class:`Throttled`)
    before any bcrypt, so wrong passwords cannot buy the server's CPU; a success is never limited.
    At most ``max_peers`` addresses are remembered (the least recently failing go first)."""

    def __init__(self, burst: float = 5, rate: float = 1.0, *, total_burst: float = 40, total_rate: float = 20.0,
                 max_peers: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate = burst, rate
        self.total_burst, self.total_rate = total_burst, total_rate
        self.max_peers = max_peers
        self.clock = clock
        self._lock = threading.Lock()
        self._peers: OrderedDict[str, tuple[float, float]] = OrderedDict()  # peer -> (tokens, when)
        self._total = (total_burst, clock())
        self.refused = 0

    @staticmethod
    def _level(state: tuple[float, float], burst: float, rate: float, now: float) -> float:
        tokens, when = state
        return min(burst, tokens + (now - when) * rate)

    def check(self, peer: str | None) -> None:
        """Raise :class:`Throttled` if *peer* (or everyone) has no failure left to spend."""
        now = self.clock()
        with self._lock:
            total = self._level(self._total, self.total_burst, self.total_rate, now)
            mine = self._level(self._peers[peer], self.burst, self.rate, now) \
                if peer is not None and peer in self._peers else self.burst
            if total < 1 or mine < 1:
                self.refused += 1
                wait = max((1 - total) / self.total_rate if total < 1 else 0, (1 - mine) / self.rate if mine < 1 else 0)
                raise Throttled(max(1.0, wait))

    def failed(self, peer: str | None) -> None:
        now = self.clock()
        with self._lock:
            self._total = (self._level(self._total, self.total_burst, self.total_rate, now) - 1, now)
            if peer is None:
                return
            state = self._peers.pop(peer, (self.burst, now))
            self._peers[peer] = (self._level(state, self.burst, self.rate, now) - 1, now)
            while len(self._peers) > self.max_peers:
                self._peers.popitem(last=False)


class BasicAuth:
    """Checks ``Authorization: Basic`` against bcrypt hashes.

    bcrypt is slow on purpose (~0.1 s); a successful check is remembered (keyed by a
    SHA-256 of user, password and hash) so a scraper is not charged it on every scrape.
    Unknown users still cost one bcrypt, so timing does not reveal which users exist.
    """

    def __init__(self, users: dict[str, bytes], limiter: FailureLimiter | None = None) -> None:
        self.users = users
        self.limiter = limiter if limiter is not None else FailureLimiter()
        # A hash with the users' own cost, checked for unknown users.
        rounds = max((int(h[4:6]) for h in users.values() if h[4:6].isdigit()), default=10)
        rounds = min(max(rounds, BCRYPT_MIN_COST), BCRYPT_MAX_COST)
        import bcrypt  # here, not at the top: an exporter without basic auth never loads it (0.5 MB)

        self._bcrypt = bcrypt
        self._dummy = bcrypt.hashpw(b"pf_exporter", bcrypt.gensalt(rounds=rounds))
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, header: str | None, peer: str | None = None) -> bool:
        """Whether the header carries a configured user's password.  A credential that succeeded
        before is accepted at once; any other costs a bcrypt, unless *peer* (the client address)
        or everyone has failed too often lately: then :class:`Throttled` is raised without one."""
        credentials = basic_credentials(header)
        if credentials is None:
            return False
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        token = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            if hashed is not None and token in self._ok:
                return True
        self.limiter.check(peer)
        if len(password.encode()) > BCRYPT_MAX_PASSWORD:
            # bcrypt (5 and later) raises ValueError for these; a wrong password, still charged one
            # bcrypt so the answer takes as long as any other refusal.
            self._bcrypt.checkpw(b"", self._dummy)
            self.limiter.failed(peer)
            return False
        good = self._bcrypt.checkpw(password.encode(), hashed if hashed is not None else self._dummy)
        if good and hashed is not None:
            with self._lock:
                if len(self._ok) > 1024:
                    self._ok.clear()
                self._ok.add(token)
            return True
        self.limiter.failed(peer)
        return False
