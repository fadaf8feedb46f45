"""The admin API's routes: a request (method, path, query, body) in, a JSON response out.

HTTP transport, authentication and the audit log live in :mod:`.server`; this module is
plain functions over the pf library (:class:`pf_exporter.pf.PacketFilter`, a writable handle)
so every route can be tested without sockets.

Routes (all under ``/api/v1``):

==========================================  ======  =====================================
``/status``                                 GET     running, states, limits, checksum, release
``/pf/enable``, ``/pf/disable``             POST    idempotent: ``"changed": false`` when already so
``/anchors``                                GET     the anchor tree
``/anchors/{path}/rules``                   GET     rules (and tables) of an anchor as JSON and pf.conf text
``/anchors/{path}/rules``                   PUT     replace rules and tables atomically (``?dry_run=1``)
``/states``                                 DELETE  kill states matching a filter (JSON body; or ``{"key": ...}``)
``/tables/{anchor...}/{table}/addresses``   GET     list; POST add; DELETE delete; PUT replace
==========================================  ======  =====================================

``{path}`` is empty for the main ruleset: ``/api/v1/anchors/rules``.  More routes (options,
counters, source nodes, whole tables) are in :mod:`.ops`; what each needs of a token's scopes is
:func:`need_for` (see :mod:`.scopes`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..abi import constants as C
from ..pf import (
    AddressMatch,
    PacketFilter,
    PfAbiMismatch,
    PfBusy,
    PfError,
    PfInvalid,
    PfInvalidArgument,
    PfLimitError,
    PfLoadError,
    PfNotFound,
    PfNotPresent,
    PfPermissionError,
    PfSecurelevelError,
    PortMatch,
)
from . import jsonrules as rulejson
from .compile import Compiled, CompileError, Compiler
from .errors import ApiError, ValidationError
from .jsondecode import decode_rule
from .messages import Request, Response, limit_error
from .ops import OpsRoutes
from .scopes import Need
from .validate import (
    KillFilter,
    PortSpec,
    check_anchor_path,
    check_table_name,
    parse_address_list,
    parse_kill_filter,
    type_name,
)

log = logging.getLogger("pf_exporter.admin")

PREFIX = "/api/v1"
MAX_BODY = 1 << 20


@dataclass
class Route:
    """A matched request: the action name (for the audit log), its handler and parameters."""

    action: str
    handler: Callable[[Request, dict[str, Any]], Response]
    params: dict[str, Any]
    mutating: bool
    locks_itself: bool = False  # takes mutation_lock only for its pf part (PUT .../rules compiles first)
    need: Need = field(default_factory=lambda: Need("all"))  # the scope it needs (see .scopes)


@dataclass
class AdminOptions:
    allow_main_ruleset: bool = False
    mutation_wait: float = 30.0  # seconds a change waits for the one before it


_NEEDS = {"pf.enable": "enable", "pf.disable": "enable", "rules.replace": "rules", "rules.zero": "rules",
          "states.kill": "states", "sources.kill": "states", "sources.clear": "states", "options.set": "options",
          "counters.zero": "options", "osfp.load": "options", "osfp.flush": "options", "carp.demote": "carp",
          "table.create": "tables", "table.kill": "tables", "table.flags": "tables"}


def need_for(action: str, method: str, params: dict[str, Any]) -> Need:
    """The scope a route needs: read for every GET; a one-table address operation may also be done
    with that table's ``tables:<anchor/name>`` scope."""
    path = None
    if "table" in params:
        path = f"{params['anchor']}/{params['table']}" if params.get("anchor") else str(params["table"])
    if method == "GET":
        return Need("read", path)
    scope = _NEEDS.get(action, "tables" if action.startswith("table.") else "all")
    return Need(scope, path if scope == "tables" and action not in _NEEDS else None)


class AdminApi(OpsRoutes):
    """Route table and handlers.  One mutating request at a time (``mutation_lock``)."""

    def __init__(self, pf: PacketFilter, compiler: Compiler | None = None, options: AdminOptions | None = None) -> None:
        self.pf = pf
        self.compiler = compiler or Compiler(pf)
        self.options = options or AdminOptions()
        self.mutation_lock = threading.Lock()

    # --- routing -------------------------------------------------------------------

    def route(self, method: str, raw_path: str) -> Route:
        """Match *raw_path*; 404 for unknown paths, 405 (with ``Allow``) for a wrong method."""
        if raw_path != PREFIX and not raw_path.startswith(PREFIX + "/"):
            raise ApiError(404, f"no such endpoint; the admin API lives under {PREFIX}/")
        rest = raw_path[len(PREFIX):]
        try:
            segments = [urllib.parse.unquote(s, errors="strict") for s in rest.split("/")[1:]] if rest else []
        except UnicodeDecodeError:
            raise ApiError(404, "no such endpoint (the path is not valid percent-encoded UTF-8)") from None
        for s in segments:
            if "\0" in s or "/" in s:
                raise ApiError(404, "no such endpoint (path segments must not contain NUL or an encoded '/')")
        table: dict[str, tuple[str, Callable[[Request, dict[str, Any]], Response], bool]] = {}
        params: dict[str, Any] = {}
        if segments == ["status"]:
            table = {"GET": ("status", self.get_status, False)}
        elif segments in (["pf", "enable"], ["pf", "disable"]):
            running = segments[1] == "enable"
            params = {"running": running}
            table = {"POST": (f"pf.{segments[1]}", self.set_running, True)}
        elif segments == ["anchors"]:
            table = {"GET": ("anchors.list", self.get_anchors, False)}
        elif len(segments) >= 2 and segments[0] == "anchors" and segments[-1] == "rules":
            params = {"anchor": "/".join(segments[1:-1])}
            table = {
                "GET": ("rules.get", self.get_rules, False),
                "PUT": ("rules.replace", self.put_rules, True),
            }
        elif segments == ["states"]:
            table = {"GET": ("states.list", self.get_states, False),
                     "DELETE": ("states.kill", self.delete_states, True)}
        elif (more := self.more_routes(segments)) is not None:
            table, params = more
        elif len(segments) >= 3 and segments[0] == "tables" and segments[-1] == "addresses":
            params = {"anchor": "/".join(segments[1:-2]), "table": segments[-2]}
            table = {
                "GET": ("table.list", self.get_addresses, False),
                "POST": ("table.add", self.post_addresses, True),
                "DELETE": ("table.delete", self.delete_addresses, True),
                "PUT": ("table.replace", self.put_addresses, True),
            }
        else:
            raise ApiError(404, f"no such endpoint; see the README's Admin API section for the routes under {PREFIX}")
        if method not in table:
            allow = ", ".join(table)
            raise ApiError(405, f"{method} is not allowed here; allowed: {allow}", headers={"Allow": allow})
        action, handler, mutating = table[method]
        return Route(action, handler, params, mutating, locks_itself=action == "rules.replace",
                     need=need_for(action, method, params))

    @staticmethod
    def check_content_type(route: Route, content_type: str | None, has_body: bool) -> None:
        """415 unless a change names its body's type: ``application/json`` (or ``text/plain``
        for pf.conf on ``PUT .../rules``).  Checked on the headers, before the body is read.

        Browsers send cross-site POSTs without a preflight only as form or text/plain
        content, so with basic auth or mutual TLS (credentials the browser adds itself)
        this keeps a web page from changing pf (CSRF)."""
        if not route.mutating:
            return
        allowed = (("application/json", "text/plain") if route.action in ("rules.replace", "osfp.load")
                   else ("application/json",))
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media in allowed or (not media and not has_body):
            return
        shown = f"Content-Type {media!r}" if media else "a body without Content-Type"
        raise ApiError(415, f"{shown} is not accepted here; send Content-Type: {' or '.join(allowed)} "
                       "(curl: -H 'Content-Type: application/json', or --json)")

    def handle(self, req: Request, route: Route) -> Response:
        """Run *route*, serialising changes; pf errors become API errors."""
        try:
            if not route.mutating or route.locks_itself:
                return route.handler(req, route.params)
            with self._change():
                return route.handler(req, route.params)
        except PfError as e:
            raise pf_error(e, route.action) from None

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        """Hold the mutation lock (one change at a time), or 503 after waiting too long."""
        if not self.mutation_lock.acquire(timeout=self.options.mutation_wait):
            raise ApiError(503, "another change is still in progress; retry", headers={"Retry-After": "1"})
        try:
            yield
        finally:
            self.mutation_lock.release()

    # --- helpers -------------------------------------------------------------------

    @staticmethod
    def _json(req: Request, *, required: bool = True) -> Any:
        if not req.body.strip():
            if required:
                raise ValidationError(None, "this request needs a JSON body")
            return None
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValidationError(None, f"the body is not UTF-8 (byte {e.start})") from None
        return parse_json_body(text)

    @staticmethod
    def _flag(req: Request, name: str) -> bool:
        values = req.query.get(name)
        if not values:
            return False
        v = values[-1].lower()
        if v in ("1", "true", "yes", ""):
            return True
        if v in ("0", "false", "no"):
            return False
        raise ValidationError(name, f"query parameter {name} must be 1 or 0")

    @staticmethod
    def _anchor(params: dict[str, Any], *, for_write: bool) -> str:
        return check_anchor_path(params["anchor"], "anchor", for_write=for_write) if params["anchor"] else ""

    # --- handlers ------------------------------------------------------------------

    def get_status(self, req: Request, params: dict[str, Any]) -> Response:
        st = self.pf.status()
        limits = dict(self.pf.limits())
        body = {
            "running": st.running,
            "enabled_seconds": st.enabled_seconds,
            "states": st.states,
            "state_limit": limits.get("states"),
            "src_nodes": st.src_nodes,
            "limits": limits,
            "ruleset_checksum": st.checksum,
            "hostid": f"{st.hostid:08x}",
            "release": self.pf.release,
            "arch": self.pf.arch,
            "admin": {"allow_main_ruleset": self.options.allow_main_ruleset},
        }
        return Response(200, body)

    def set_running(self, req: Request, params: dict[str, Any]) -> Response:
        changed = self.pf.enable() if params["running"] else self.pf.disable()
        return Response(200, {"running": params["running"], "changed": changed})

    def get_anchors(self, req: Request, params: dict[str, Any]) -> Response:
        paths = self.pf.anchors()
        children: dict[str, list[str]] = {}
        for path in paths:
            children.setdefault(path.rpartition("/")[0], []).append(path)

        def node(path: str) -> dict[str, Any]:
            kids = sorted(children.get(path, []), key=lambda p: p.rpartition("/")[2])
            return {"path": path, "name": path.rsplit("/", 1)[-1], "rules": self.pf.rule_count(path),
                    "children": [node(k) for k in kids]}

        tree = node("")
        ordered: list[str] = []

        def walk(n: dict[str, Any]) -> None:
            for c in n["children"]:
                ordered.append(c["path"])
                walk(c)

        walk(tree)
        return Response(200, {"tree": tree, "anchors": ordered})

    def get_rules(self, req: Request, params: dict[str, Any]) -> Response:
        anchor = self._anchor(params, for_write=False)
        try:
            raw = self.pf.rule_specs(anchor)
        except (PfInvalid, PfNotFound):
            raise ApiError(404, f"no anchor {anchor!r}; GET {PREFIX}/anchors lists them") from None
        rules = [decode_rule(r, call) for r, call in raw]
        tables: dict[str, Any] = {}
        for table in self.pf.tables(anchor):
            t: dict[str, Any] = {key: True for key in ("persist", "const", "counters") if key in table.flags}
            t["addresses"] = [str(a) for a in self.pf.table_addresses(table.name, anchor, counters=False)]
            tables[table.name] = t
        body: dict[str, Any] = {"anchor": anchor, "rules": rules, "tables": tables,
                                "text": pfconf_text(raw, tables)}
        return Response(200, body)

    def put_rules(self, req: Request, params: dict[str, Any]) -> Response:
        anchor = self._anchor(params, for_write=True)
        dry_run = self._flag(req, "dry_run")
        if anchor == "" and not self.options.allow_main_ruleset:
            raise ApiError(
                403,
                "replacing the main ruleset is disabled, so a faulty automation cannot lock you out; load rules "
                "into an anchor (e.g. PUT /api/v1/anchors/deploy/rules) or start the exporter with "
                "--admin.allow-main-ruleset",
            )
        ctype = req.content_type.split(";", 1)[0].strip().lower()
        try:
            if ctype == "text/plain":
                try:
                    text = req.body.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValidationError(None, f"the body is not UTF-8 (byte {e.start})") from None
                compiled = self.compiler.compile_text(text, anchor)
                source = "pf.conf"
            else:
                spec = rulejson.parse_ruleset_body(self._json(req))
                compiled = self.compiler.compile_spec(spec, anchor)
                source = "json"
        except CompileError as e:
            raise ValidationError(e.field, e.message, line=e.line, column=e.column) from None
        params.update({"rules": compiled.rule_count, "tables": compiled.table_count, "dry_run": dry_run,
                       "format": source, "body_sha256": hashlib.sha256(req.body).hexdigest()})
        if len(compiled.anchors) > 1:
            params["anchors"] = compiled.anchors
        body: dict[str, Any] = {"anchor": anchor, "rules": compiled.rule_count, "tables": compiled.table_count,
                                "anchors": compiled.anchors, "dry_run": dry_run, "changed": False}
        if compiled.warnings:
            body["warnings"] = compiled.warnings
        if dry_run:
            return Response(200, body)
        # compiled above without the lock: a big body does not hold up other changes
        with self._change():
            if source == "json" and anchor == "" and "limiters" in self.pf.features:
                n = len(self.pf.state_limiters()) + len(self.pf.source_limiters())
                if n:  # the JSON rule schema has no limiters: the load would drop them
                    raise ApiError(409, f"the main ruleset has {n} state/source limiter(s), which a JSON ruleset "
                                   "cannot define and this load would remove; send the ruleset as pf.conf text "
                                   "(Content-Type: text/plain) with its `state limiter`/`source limiter` lines")
            try:
                self.pf.load(compiled.plan)
            except PfLoadError as e:
                raise load_error(e, compiled) from None
            except PfLimitError as e:
                raise limit_error(e) from None
        body["changed"] = True
        return Response(200, body)

    def delete_states(self, req: Request, params: dict[str, Any]) -> Response:
        body = self._json(req, required=False)
        if isinstance(body, dict) and "key" in body:
            return self.kill_key(body, params)
        flt = parse_kill_filter(body)
        params.update(flt.params())
        try:
            killed = self.pf.kill_states(all=flt.all, **kill_conditions(flt))
        except PfInvalidArgument as e:
            raise ValidationError(_KILL_FIELDS.get(e.request), e.detail) from None
        params["killed"] = killed
        return Response(200, {"killed": killed, "all": flt.all})

    def _table_params(self, params: dict[str, Any], *, for_write: bool = True) -> tuple[str, str]:
        # writes refuse reserved anchors (a component starting with '_': pf's own _pf, and the
        # _1, _2 ... pfctl gives inline anchors), as PUT .../rules does; reads may look at them
        anchor = self._anchor(params, for_write=for_write)
        name = check_table_name(params["table"], "table")
        return anchor, name

    def _addresses_body(self, req: Request, params: dict[str, Any]) -> list[Any]:
        body = self._json(req)
        raw: Any
        if isinstance(body, list):
            raw = body
        elif isinstance(body, dict):
            unknown = sorted(set(body) - {"addresses"})
            if unknown:
                raise ValidationError(unknown[0], f"unknown member {unknown[0]!r}; send {{\"addresses\": [...]}}")
            raw = body.get("addresses")
            if raw is None:
                raise ValidationError("addresses", "addresses is missing: send {\"addresses\": [\"192.0.2.1\", ...]}")
        else:
            raise ValidationError(None, f"the body must be {{\"addresses\": [...]}}, not {type_name(body)}")
        if len(raw) > rulejson.MAX_TABLE_ADDRESSES:
            raise ValidationError("addresses", f"at most {rulejson.MAX_TABLE_ADDRESSES} addresses per request")
        addrs = parse_address_list(raw, "addresses")
        params["addresses"] = [str(a) for a in addrs]
        params["count"] = len(addrs)
        return addrs

    def _table_op(self, op: Callable[[], Any], anchor: str, name: str) -> Any:
        try:
            return op()
        except PfNotFound:
            where = f" in anchor {anchor!r}" if anchor else ""
            raise ApiError(404, f"no active table <{name}>{where}; tables are created by the rules that use them "
                           f"or by the tables of PUT {PREFIX}/anchors/{{path}}/rules") from None
        except PfSecurelevelError:
            # table address changes are allowed at any securelevel (pfioctl), so
            # EPERM here is pfr_*_addrs refusing a const table
            raise ApiError(403, f"table <{name}> is const; it can only change with its ruleset") from None

    def get_addresses(self, req: Request, params: dict[str, Any]) -> Response:
        anchor, name = self._table_params(params, for_write=False)
        addrs = self._table_op(lambda: self.pf.table_addresses(name, anchor, counters=False), anchor, name)
        return Response(200, {"anchor": anchor, "table": name, "count": len(addrs),
                              "addresses": [str(a) for a in addrs]})

    def post_addresses(self, req: Request, params: dict[str, Any]) -> Response:
        anchor, name = self._table_params(params)
        addrs = self._addresses_body(req, params)
        res = self._table_op(lambda: self.pf.add_addresses(name, _matches(addrs), anchor), anchor, name)
        params["added"] = res.added
        return Response(200, {"anchor": anchor, "table": name, "added": res.added, "deleted": 0, "changed": 0})

    def delete_addresses(self, req: Request, params: dict[str, Any]) -> Response:
        anchor, name = self._table_params(params)
        addrs = self._addresses_body(req, params)
        res = self._table_op(lambda: self.pf.delete_addresses(name, _matches(addrs), anchor), anchor, name)
        params["deleted"] = res.deleted
        return Response(200, {"anchor": anchor, "table": name, "added": 0, "deleted": res.deleted, "changed": 0})

    def put_addresses(self, req: Request, params: dict[str, Any]) -> Response:
        anchor, name = self._table_params(params)
        addrs = self._addresses_body(req, params)
        res = self._table_op(lambda: self.pf.replace_addresses(name, _matches(addrs), anchor), anchor, name)
        params.update({"added": res.added, "deleted": res.deleted, "changed": res.changed})
        return Response(200, {"anchor": anchor, "table": name, "added": res.added, "deleted": res.deleted,
                              "changed": res.changed})


def pfconf_text(raw: list[tuple[Any, str]], tables: dict[str, Any]) -> str:
    """The anchor as pf.conf text, the way ``pfctl -a ANCHOR -sr`` prints rules."""
    from ..ruleset.printer import format_rule

    lines = []
    for name, t in tables.items():
        spec = rulejson.TableSpec(name, t.get("persist", False), t.get("const", False), t.get("counters", False),
                                  None)
        lines.append(rulejson.render_table(spec) + (" { " + ", ".join(t["addresses"]) + " }" if t["addresses"]
                                                     else " { }"))
    lines += [format_rule(r, call) for r, call in raw]
    return "".join(line + "\n" for line in lines)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# Deeper than any body the API takes (a rule's "from": {"address": [...]} is 4 levels down).
MAX_JSON_DEPTH = 32
_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json_body(text: str) -> Any:
    """A request's JSON body: nesting at most MAX_JSON_DEPTH deep (checked before parsing, so no
    RecursionError can happen), no NaN/Infinity, no member given twice, no lone surrogate
    (``"\\ud800"`` decodes to a str that cannot be encoded, logged or compiled).  Each problem is a
    ValidationError naming it."""
    depth = 0
    for m in _JSON_STRUCTURE.finditer(text):
        token = m.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                column = m.start() - text.rfind("\n", 0, m.start())
                raise ValidationError(None, f"the body is nested more than {MAX_JSON_DEPTH} levels deep",
                                      line=line, column=column)
        elif token in ("]", "}"):
            depth -= 1
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_members)
    except json.JSONDecodeError as e:
        raise ValidationError(None, f"the body is not valid JSON: {e.msg}", line=e.lineno, column=e.colno) from None
    except ValidationError:
        raise
    except (ValueError, RecursionError) as e:
        raise ValidationError(None, f"the body is not valid JSON: {e}") from None
    _check_text(value, "")
    return value


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValidationError(key if not _SURROGATE.search(key) else None,
                                  f"member {key!r} is given twice; give each member once")
        out[key] = value
    return out


def _check_text(value: Any, where: str) -> None:
    """Every string and member name must be text (no lone UTF-16 surrogate)."""
    if isinstance(value, str):
        if found := _SURROGATE.search(value):
            raise ValidationError(where or None, f"{where or 'the body'}: a lone UTF-16 surrogate "
                                  f"(\\u{ord(found.group()):04x}) is not text")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise ValidationError(None, f"{where or 'the body'}: a member name holds a lone UTF-16 surrogate "
                                      "(it is not text)")
            _check_text(item, f"{where}.{key}" if where else key)


def pf_error(e: PfError, action: str = "") -> ApiError:
    """A pf failure as an API error with an explanation (and never a secret); *action* names the
    operation refused."""
    if isinstance(e, PfNotPresent) or e.errno == errno.EBADF:
        return ApiError(503, f"pf is not available ({e}); is /dev/pf still open? restart the exporter")
    if isinstance(e, PfSecurelevelError):
        what = f"{action} ({e.request})" if action else "changes"
        return ApiError(503, f"pf refuses {what}: the kernel securelevel is above 1 (kern.securelevel); lower it "
                        "at boot (/etc/rc.securelevel) to manage pf remotely; table address edits still work")
    if isinstance(e, PfPermissionError):
        return ApiError(503, f"pf refused the request ({e}); the admin API needs /dev/pf opened read-write as root")
    if isinstance(e, PfAbiMismatch):
        return ApiError(503, f"pf does not understand the request ({e}); check --pf.release")
    if isinstance(e, PfBusy):
        return ApiError(409, "pf is busy: the ruleset was changed by someone else meanwhile (EBUSY); nothing was "
                        "changed, retry")
    if e.errno == errno.ENOMEM:
        return ApiError(503, "pf is out of memory or at a limit (tables, table-entries, states); raise the "
                        "limit with `set limit` in pf.conf")
    if isinstance(e, PfInvalid):
        return ApiError(400, f"pf rejected the request as invalid ({e.request})")
    return ApiError(500, f"pf failed: {e}")


def load_error(e: PfLoadError, compiled: Compiled) -> ApiError:
    """A refused, rolled-back ruleset load: name the rule or table pf refused, with its position."""
    if e.stage == "conflict":
        return ApiError(409, e.detail)
    if e.cause is None:
        return ValidationError(None, e.detail, line=e.line, column=e.column)
    base = pf_error(e.cause)
    if e.stage not in ("table", "rule") or base.status != 400:
        if e.stage == "commit" and base.status == 409:
            base.message = ("pf is busy: someone else began changing this anchor during the load (EBUSY at "
                            "commit); the load was rolled back and nothing changed, retry")
        else:
            base.message = f"{base.message}; the load was rolled back, nothing changed"
        return base
    source = compiled.source_of(e.line) or e.stage
    from_json = e.line in compiled.sources
    return ValidationError(
        source,
        f"pf rejected {source} ({e.cause.request}: {e.cause.strerror}); the load was rolled back, nothing changed",
        line=None if from_json else e.line,
        column=None if from_json else e.column,
    )


_PORT_OPS = {C.PF_OP_EQ: "=", C.PF_OP_NE: "!=", C.PF_OP_LT: "<", C.PF_OP_LE: "<=", C.PF_OP_GT: ">",
             C.PF_OP_GE: ">=", C.PF_OP_IRG: "><", C.PF_OP_XRG: "<>", C.PF_OP_RRG: ":"}
_KILL_FIELDS = {"source": "from", "destination": "to", "source_port": "from.port", "destination_port": "to.port",
                "rule": "rule", "anchor": "anchor", "family": "af", "protocol": "proto"}


def _port(p: PortSpec | None) -> PortMatch | None:
    return None if p is None else PortMatch(_PORT_OPS[p.op], p.low, p.high)


def _matches(addrs: Any) -> list[AddressMatch]:
    return [AddressMatch(a.network, a.negated) for a in addrs]


def kill_conditions(flt: KillFilter) -> dict[str, Any]:
    """A validated kill filter as the library's state conditions."""
    src, dst = flt.src.address, flt.dst.address
    return {
        "family": flt.family or None, "protocol": flt.proto or None, "interface": flt.interface or None,
        "source": None if src is None else AddressMatch(src.network, src.negated),
        "destination": None if dst is None else AddressMatch(dst.network, dst.negated),
        "source_port": _port(flt.src.port), "destination_port": _port(flt.dst.port),
        "label": flt.label or None, "rdomain": flt.rdomain or None, "id": flt.state_id,
        "creator_id": flt.creator_id or None, "rule": flt.rule,
        "anchor": flt.anchor if flt.rule is not None else None,
    }


def parse_query(query: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(query, keep_blank_values=True)


__all__ = ["AdminApi", "AdminOptions", "Request", "Response", "Route", "MAX_BODY", "PREFIX", "parse_query"]
