"""The admin API's routes beyond rules and table addresses: runtime options, counters, source
nodes, state listing and kill by key, and whole-table operations (create, delete, flags, flush,
test, zero, expire).  Plain handlers over the library, mixed into :class:`.api.AdminApi`.

==========================================  ======  =====================================
``/options``                                GET     every runtime option; PUT changes some
``/osfp``                                   GET     OS fingerprints; PUT loads pf.os (text/plain, or
                                                    ``{"default": true}``); DELETE flushes
``/carp``                                   GET     carp interfaces, vhid states, group demotion, settings
``/carp/demote``                            POST    ``{"group": "carp", "by": 1}``: planned failover
``/counters/zero``                          POST    zero pf's counters (``{"interface": ...}``: one's)
``/anchors/{path}/rules/zero``              POST    zero the rule counters of an anchor
``/sources``                                GET     source-tracking nodes; DELETE kills some or all
``/states``                                 GET     states (query filters, ``limit``); DELETE kills
``/limiters/sources/{id or name}``          GET     a 7.9 source limiter's addresses; DELETE forgets one
``/tables``                                 GET     every table (``?anchor=``), with flags and counts
``/tables/{anchor...}/{table}``             POST    create; DELETE delete; PATCH flags
``/tables/{anchor...}/{table}/flush``       POST    remove every address
``/tables/{anchor...}/{table}/test``        POST    which addresses the table matches
``/tables/{anchor...}/{table}/zero``        POST    zero the table's (or some addresses') counters
``/tables/{anchor...}/{table}/expire``      POST    delete addresses not cleared for N seconds
==========================================  ======  =====================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..pf import PacketFilter, PfInvalidArgument, PfLimitError, PfNotFound, PfPermissionError, PfUnsupported
from ..pf.types import as_json
from . import jsonrules as rulejson
from .errors import ApiError, ValidationError
from .messages import Response, limit_error
from .validate import check_interface, parse_address_list, type_name

Handler = Callable[[Any, dict[str, Any]], Any]
OPTION_KEYS = ("limits", "timeouts", "optimization", "debug", "hostid", "loginterface", "reassemble", "no_df",
               "syncookies", "syncookies_start", "syncookies_end", "skip")
TABLE_SUFFIXES = ("flush", "test", "zero", "expire")
MAX_FINGERPRINTS = 4096  # each is a kernel allocation; OpenBSD's pf.os has 246
MAX_STATES_LISTED = 10_000  # a listed state is about 1 KiB of JSON
STATE_QUERY = ("family", "protocol", "interface", "source", "destination", "port", "label", "rule", "anchor")


def _object(body: Any, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationError(None, f"the body must be a JSON object for {what}, not {type_name(body)}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationError(unknown[0], f"unknown member {unknown[0][:40]!r}; {what} takes {', '.join(allowed)}")
    return body


def _bool(body: dict[str, Any], key: str) -> bool | None:
    v = body.get(key)
    if v is not None and not isinstance(v, bool):
        raise ValidationError(key, f"{key} must be true or false")
    return v


class OpsRoutes:
    """Routes and handlers mixed into AdminApi (``pf``, ``_json``, ``_table_params``, ``_table_op``,
    ``_addresses_body`` and ``_flag`` are AdminApi's)."""

    pf: PacketFilter

    # AdminApi's helpers
    def _json(self, req: Any, *, required: bool = True) -> Any:
        raise NotImplementedError

    def _anchor(self, params: dict[str, Any], *, for_write: bool) -> str:
        raise NotImplementedError

    def _table_params(self, params: dict[str, Any], *, for_write: bool = True) -> tuple[str, str]:
        raise NotImplementedError

    def _table_op(self, op: Callable[[], Any], anchor: str, name: str) -> Any:
        raise NotImplementedError

    def _addresses_body(self, req: Any, params: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def more_routes(self, segments: list[str]) -> tuple[dict[str, tuple[str, Handler, bool]], dict[str, Any]] | None:
        """(method -> (action, handler, mutating), params) for the paths of this module, else None."""
        if segments == ["options"]:
            return {"GET": ("options.get", self.get_options, False),
                    "PUT": ("options.set", self.put_options, True)}, {}
        if segments == ["osfp"]:
            return {"GET": ("osfp.list", self.get_osfp, False), "PUT": ("osfp.load", self.put_osfp, True),
                    "DELETE": ("osfp.flush", self.delete_osfp, True)}, {}
        if segments == ["carp"]:
            return {"GET": ("carp.get", self.get_carp, False)}, {}
        if segments == ["carp", "demote"]:
            return {"POST": ("carp.demote", self.post_carp_demote, True)}, {}
        if segments == ["counters", "zero"]:
            return {"POST": ("counters.zero", self.zero_counters, True)}, {}
        if len(segments) >= 3 and segments[0] == "anchors" and segments[-2:] == ["rules", "zero"]:
            return {"POST": ("rules.zero", self.zero_rules, True)}, {"anchor": "/".join(segments[1:-2])}
        if segments == ["sources"]:
            return {"GET": ("sources.list", self.get_sources, False),
                    "DELETE": ("sources.kill", self.delete_sources, True)}, {}
        if len(segments) == 3 and segments[:2] == ["limiters", "sources"]:
            return {"GET": ("sources.entries", self.get_source_entries, False),
                    "DELETE": ("sources.clear", self.delete_source_entry, True)}, {"limiter": segments[2]}
        if segments == ["tables"]:
            return {"GET": ("tables.list", self.get_tables, False)}, {}
        if len(segments) >= 3 and segments[0] == "tables" and segments[-1] in TABLE_SUFFIXES:
            op = segments[-1]
            handler = {"flush": self.flush_table, "test": self.test_table, "zero": self.zero_table,
                       "expire": self.expire_table}[op]
            return {"POST": (f"table.{op}", handler, op != "test")}, {"anchor": "/".join(segments[1:-2]),
                                                                       "table": segments[-2]}
        if len(segments) >= 2 and segments[0] == "tables" and segments[-1] != "addresses":
            return {"POST": ("table.create", self.create_table, True),
                    "DELETE": ("table.kill", self.kill_table, True),
                    "PATCH": ("table.flags", self.patch_table, True)}, {"anchor": "/".join(segments[1:-1]),
                                                                        "table": segments[-1]}
        return None

    # --- options and counters ------------------------------------------------------------------

    def get_options(self, req: Any, params: dict[str, Any]) -> Any:
        return Response(200, as_json(self.pf.options()))

    def put_options(self, req: Any, params: dict[str, Any]) -> Any:
        body = _object(self._json(req), OPTION_KEYS, "PUT /options")
        if not body:
            raise ValidationError(None, f"name at least one option: {', '.join(OPTION_KEYS)}")
        for key in ("limits", "timeouts"):
            if key in body and not isinstance(body[key], dict):
                raise ValidationError(key, f"{key} is an object of names to numbers, e.g. {{\"states\": 200000}}")
        if "skip" in body:
            skip = body["skip"]
            if not isinstance(skip, dict | list):
                raise ValidationError("skip", "skip is a list of interfaces, or an object of interface: true/false")
            # only interfaces and groups pf knows: each new name would make the kernel allocate one
            known = {i.name for i in self.pf.interfaces()}
            unknown = [n for n in skip if not isinstance(n, str) or n not in known]
            if unknown:
                raise ValidationError("skip", f"skip names an interface pf does not know ({str(unknown[0])[:20]!r}); "
                                      "skip only interfaces and groups that exist")
        params["options"] = {k: body[k] for k in body}
        try:
            options = self.pf.set_options(**body)
        except PfInvalidArgument as e:
            raise ValidationError(e.request if e.request in OPTION_KEYS else None, e.detail) from None
        except PfLimitError as e:
            raise limit_error(e) from None
        return Response(200, as_json(options))

    def zero_counters(self, req: Any, params: dict[str, Any]) -> Any:
        body = _object(self._json(req, required=False), ("interface",), "POST /counters/zero")
        interface = None
        if body.get("interface") is not None:
            interface, neg = check_interface(body["interface"], "interface")
            if neg:
                raise ValidationError("interface", "interface: negation makes no sense here")
            params["interface"] = interface
        self.pf.clear_counters(interface)
        return Response(200, {"zeroed": "interface" if interface else "pf", "interface": interface})

    def zero_rules(self, req: Any, params: dict[str, Any]) -> Any:
        anchor = self._anchor(params, for_write=False)
        n = self.pf.clear_rule_counters(anchor)
        params["rules"] = n
        return Response(200, {"anchor": anchor, "rules": n})

    def get_carp(self, req: Any, params: dict[str, Any]) -> Any:
        ifs = self.pf.carp_interfaces()
        groups: list[str] = []
        for c in ifs:
            groups += [g for g in self.pf.interface_groups(c.name) if g not in groups and g != "all"]
        body: dict[str, Any] = {"interfaces": as_json(ifs), "demotion": {g: self.pf.group_demotion(g) for g in groups},
                                "pfsync": as_json(self.pf.pfsync_interfaces())}
        if ifs:
            body["settings"] = as_json(self.pf.carp_settings())
        return Response(200, body)

    def post_carp_demote(self, req: Any, params: dict[str, Any]) -> Any:
        body = _object(self._json(req), ("group", "by"), "POST /carp/demote")
        group = body.get("group", "carp")
        by = body.get("by", 1)
        if not isinstance(group, str):
            raise ValidationError("group", "group is an interface group name, e.g. \"carp\"")
        if isinstance(by, bool) or not isinstance(by, int):
            raise ValidationError("by", "by is a whole number, -255 to 255 (negative undoes a demotion)")
        params.update({"group": group, "by": by})
        try:
            before = self.pf.group_demotion(group)
            after = self.pf.carp_demote(group, by)
        except PfInvalidArgument as e:
            raise ValidationError("by" if e.request == "by" else "group", e.detail) from None
        except PfNotFound:
            raise ApiError(404, f"no interface group {group[:20]!r}") from None
        except PfPermissionError:
            raise ApiError(503, "carp demotion (SIOCSIFGATTR) needs root, and the exporter has dropped its "
                           "privileges (--run-as): demote with `ifconfig -g carp carpdemote N` as root, or run "
                           "the exporter without --run-as to allow it here") from None
        params.update({"before": before, "after": after})
        return Response(200, {"group": group, "before": before, "demotion": after})

    def get_osfp(self, req: Any, params: dict[str, Any]) -> Any:
        fps = self.pf.fingerprints()
        return Response(200, {"count": len(fps), "fingerprints": as_json(fps)})

    def put_osfp(self, req: Any, params: dict[str, Any]) -> Any:
        text: str | None
        if req.content_type.split(";", 1)[0].strip().lower() == "text/plain":
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValidationError(None, f"the body is not UTF-8 (byte {e.start})") from None
        else:
            body = _object(self._json(req), ("default",), "PUT /osfp")
            if body.get("default") is not True:
                raise ValidationError("default", "send a pf.os file as text/plain, or {\"default\": true} for "
                                      "OpenBSD's own")
            text = None
        if text is not None:
            lines = sum(1 for line in text.splitlines() if line.split("#", 1)[0].strip())
            if lines > MAX_FINGERPRINTS:
                raise ValidationError(None, f"{lines} fingerprints; at most {MAX_FINGERPRINTS} per load "
                                      "(OpenBSD's pf.os has 246)")
        try:
            loaded = self.pf.load_fingerprints(text)
        except PfInvalidArgument as e:
            raise ValidationError(None, e.detail) from None
        params["added"] = loaded.added
        return Response(200, {"added": loaded.added, "warnings": list(loaded.warnings)})

    def delete_osfp(self, req: Any, params: dict[str, Any]) -> Any:
        self.pf.flush_fingerprints()
        return Response(200, {"flushed": True})

    # --- source nodes and states ----------------------------------------------------------------

    def get_sources(self, req: Any, params: dict[str, Any]) -> Any:
        nodes = self.pf.source_nodes()
        return Response(200, {"count": len(nodes), "sources": as_json(nodes)})

    def delete_sources(self, req: Any, params: dict[str, Any]) -> Any:
        body = _object(self._json(req), ("source", "destination", "all"), "DELETE /sources")
        if _bool(body, "all"):
            if set(body) - {"all"}:
                raise ValidationError("all", "\"all\": true removes every source node; it takes no other member")
            self.pf.flush_source_nodes()
            params["all"] = True
            return Response(200, {"all": True})
        ends = {}
        for key in ("source", "destination"):
            if body.get(key) is not None:
                ends[key] = parse_address_list([body[key]], key)[0]
                params[key] = str(ends[key])
        if not ends:
            raise ValidationError("source", "name a source (or destination) address, or send {\"all\": true}")
        killed = self.pf.kill_source_nodes(**{k: f"{'!' if v.negated else ''}{v.network}" for k, v in ends.items()})
        params["killed"] = killed
        return Response(200, {"killed": killed})

    def get_states(self, req: Any, params: dict[str, Any]) -> Any:
        unknown = sorted(set(req.query) - {*STATE_QUERY, "limit"})
        if unknown:
            raise ValidationError(unknown[0], f"unknown query parameter {unknown[0][:40]!r}; filters are "
                                  f"{', '.join(STATE_QUERY)} and limit")
        limit = 1000
        if "limit" in req.query:
            text = req.query["limit"][-1]
            if not text.isdigit() or not 1 <= int(text) <= MAX_STATES_LISTED:
                raise ValidationError("limit", f"limit is 1..{MAX_STATES_LISTED}")
            limit = int(text)
        cond: dict[str, Any] = {k: v[-1] for k, v in req.query.items() if k in STATE_QUERY}
        for key in ("rule", "protocol", "port"):
            if key in cond and cond[key].isdigit():
                cond[key] = int(cond[key])
        try:
            states = list(self.pf.states(limit=limit + 1, **cond))
        except PfInvalidArgument as e:
            raise ValidationError(e.request, e.detail) from None
        return Response(200, {"count": min(len(states), limit), "truncated": len(states) > limit,
                              "states": as_json(states[:limit])})

    def kill_key(self, body: dict[str, Any], params: dict[str, Any]) -> Any:
        body = _object(body, ("key", "interface", "rdomain"), "a kill by key")
        key = body.get("key")
        if not isinstance(key, str) or len(key) > 200:
            raise ValidationError("key", "key is a state key such as \"tcp 192.0.2.1:1234 -> 198.51.100.2:22\"")
        interface = ""
        if body.get("interface") is not None:
            interface, _neg = check_interface(body["interface"], "interface")
        rdomain = body.get("rdomain", 0)
        try:
            killed = self.pf.kill_state_key(key, interface=interface, rdomain=rdomain)
        except PfInvalidArgument as e:
            raise ValidationError(e.request, e.detail) from None
        params.update({"key": key, "killed": killed})
        return Response(200, {"killed": killed, "all": False})

    def _limiter(self, params: dict[str, Any]) -> int | str:
        raw = str(params["limiter"])
        return int(raw) if raw.isdigit() else raw

    def get_source_entries(self, req: Any, params: dict[str, Any]) -> Any:
        try:
            entries = self.pf.source_limiter_entries(self._limiter(params))
        except PfInvalidArgument as e:
            raise ApiError(404, e.detail) from None
        except PfUnsupported as e:
            raise ApiError(404, e.detail) from None
        return Response(200, {"count": len(entries), "sources": as_json(entries)})

    def delete_source_entry(self, req: Any, params: dict[str, Any]) -> Any:
        body = _object(self._json(req), ("address", "rdomain", "kill_states"), "forgetting a source")
        if not isinstance(body.get("address"), str):
            raise ValidationError("address", "address is the source address to forget, e.g. \"192.0.2.1\"")
        addr = parse_address_list([body["address"]], "address")[0]
        rdomain = body.get("rdomain", 0)
        if isinstance(rdomain, bool) or not isinstance(rdomain, int) or not 0 <= rdomain <= 255:
            raise ValidationError("rdomain", "rdomain is 0..255")
        kill = bool(_bool(body, "kill_states"))
        params.update({"address": str(addr.network), "kill_states": kill})
        try:
            self.pf.clear_source_entry(self._limiter(params), str(addr.network.network_address), rdomain=rdomain,
                                       kill_states=kill)
        except (PfInvalidArgument, PfUnsupported) as e:
            raise ApiError(404, e.detail) from None
        except PfNotFound:
            raise ApiError(404, f"source limiter {params['limiter']!r} does not track {addr.network}") from None
        return Response(200, {"cleared": str(addr.network), "kill_states": kill})

    # --- whole tables ----------------------------------------------------------------------------

    def get_tables(self, req: Any, params: dict[str, Any]) -> Any:
        from .validate import check_anchor_path

        anchor = None
        if "anchor" in req.query:
            text = req.query["anchor"][-1]
            anchor = check_anchor_path(text, "anchor", for_write=False) if text else ""
        tables = self.pf.tables(anchor)
        return Response(200, {"count": len(tables), "tables": as_json(tables)})

    def create_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params)
        body = _object(self._json(req, required=False), ("persist", "const", "counters"), "creating a table")
        flags = {k: _bool(body, k) for k in ("persist", "const", "counters")}
        persist = True if flags["persist"] is None else flags["persist"]
        created = self.pf.create_table(name, anchor, persist=persist, const=bool(flags["const"]),
                                       counters=bool(flags["counters"]))
        params.update({"created": created, **{k: v for k, v in flags.items() if v is not None}})
        return Response(201 if created else 200, {"anchor": anchor, "table": name, "created": created})

    def kill_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params)
        n = self.pf.delete_table(name, anchor)
        if not n:
            raise ApiError(404, f"no table <{name}>" + (f" in anchor {anchor!r}" if anchor else ""))
        return Response(200, {"anchor": anchor, "table": name, "deleted": n})

    def patch_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params)
        body = _object(self._json(req), ("persist", "const", "counters"), "PATCH of a table's flags")
        flags = {k: _bool(body, k) for k in ("persist", "const", "counters")}
        try:
            changed, deleted = self._table_op(lambda: self.pf.set_table_flags(
                name, anchor, persist=flags["persist"], const=flags["const"], counters=flags["counters"]), anchor, name)
        except PfInvalidArgument as e:
            raise ValidationError(None, e.detail) from None
        params.update({k: v for k, v in flags.items() if v is not None})
        return Response(200, {"anchor": anchor, "table": name, "changed": changed, "deleted": deleted})

    def flush_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params)
        n = self._table_op(lambda: self.pf.flush_table(name, anchor), anchor, name)
        params["deleted"] = n
        return Response(200, {"anchor": anchor, "table": name, "deleted": n})

    def test_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params, for_write=False)
        addrs = self._addresses_body(req, params)
        if not addrs:
            raise ValidationError("addresses", "give at least one address to test")
        t = self._table_op(lambda: self.pf.test_addresses(name, [_text(a) for a in addrs], anchor), anchor, name)
        return Response(200, {"anchor": anchor, "table": name, "matched": t.matched, "tested": len(t.results),
                              "results": [{"address": str(r.address), "result": r.result,
                                           "entry": None if r.entry is None else str(r.entry)} for r in t.results]})

    def zero_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params)
        if req.body.strip():
            addrs = self._addresses_body(req, params)
            n = self._table_op(lambda: self.pf.zero_addresses(name, [_text(a) for a in addrs], anchor), anchor, name)
            return Response(200, {"anchor": anchor, "table": name, "addresses_zeroed": n})
        n = self._table_op(lambda: self.pf.zero_tables(name, anchor), anchor, name)
        return Response(200, {"anchor": anchor, "table": name, "tables_zeroed": n})

    def expire_table(self, req: Any, params: dict[str, Any]) -> Any:
        anchor, name = self._table_params(params)
        body = _object(self._json(req), ("seconds",), "expire")
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 2**31 - 1:
            raise ValidationError("seconds", "seconds is a whole number of seconds, 0 to 2147483647")
        c = self._table_op(lambda: self.pf.expire_addresses(name, seconds, anchor, feedback=True), anchor, name)
        gone = [str(r.address) for r in c.results if r.result == "deleted"]
        params.update({"seconds": seconds, "deleted": c.deleted})
        if len(gone) > rulejson.MAX_TABLE_ADDRESSES:
            gone = gone[:rulejson.MAX_TABLE_ADDRESSES]
        return Response(200, {"anchor": anchor, "table": name, "deleted": c.deleted, "addresses": gone})


def _text(a: Any) -> str:
    return ("!" if a.negated else "") + str(a.network)
