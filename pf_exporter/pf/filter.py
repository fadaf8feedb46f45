""":class:`PacketFilter`: pf as a Python object.  See :mod:`pf_exporter.pf` for an overview."""

from __future__ import annotations

import contextlib
import errno
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from ..abi import constants as C
from ..errors import PfError, PfInvalidArgument, PfLimitError, PfReadOnlyError, PfUnsupported
from . import types as T
from ._args import AddressLike, _address_arg, _addresses, _anchor, _int, _table
from ._codec import KernelRule, name_limiters
from ._kernel import IoctlBackend
from ._net import NetMixin
from ._ops import OpsMixin
from ._opts import OptionsMixin
from ._tables import TablesMixin

PortLike = int | str | tuple[int, int] | T.PortMatch


@dataclass(frozen=True)
class LoadPlan:
    """A ruleset compiled for one load (:meth:`PacketFilter.compile`); give it to :meth:`PacketFilter.load`."""

    anchor: str
    anchors: tuple[str, ...]
    rules: int
    tables: int
    warnings: tuple[str, ...]
    release: str
    arch: str
    compiled: Any = field(repr=False, compare=False)  # the kernel structs (internal)


class PacketFilter(OptionsMixin, TablesMixin, OpsMixin, NetMixin):
    """One handle on pf: the real ``/dev/pf`` (:meth:`open`) or a simulated one (:meth:`simulated`).

    Reads return :mod:`pf_exporter.pf.types` values; changes need a handle opened writable and
    raise :class:`~pf_exporter.errors.PfReadOnlyError` before any request otherwise.  Thread-safe:
    one lock serialises the requests of a handle.  Use it as a context manager, or call
    :meth:`close`."""

    def __init__(self, backend: IoctlBackend) -> None:
        self.backend = backend

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, device: str = "/dev/pf", writable: bool = False, *, release: str | None = None,
             arch: str | None = None) -> PacketFilter:
        """Open the machine's pf: read-only unless *writable* (which needs root).  *release* and *arch*
        default to the running system's (``uname``); give them to speak another release's ABI."""
        from .backend import open_backend

        return cls(open_backend(device, writable, release, arch))

    @classmethod
    def simulated(cls, scenario: str = "small", release: str | None = None, seed: int | None = None, *,
                  writable: bool = True, **options: Any) -> PacketFilter:
        """A new simulated pf behind the same interface, for trying scripts and for tests: the
        *scenario*'s rulesets, tables, interfaces, queues and states (``small``, ``large``,
        ``empty``, ...), as OpenBSD *release* (default: the running system's, else the newest)
        would answer.  Writable by default, since nothing real can break.  *options*:
        ``state_fill``, ``securelevel``, ``clock`` (see :class:`pf_exporter.simulator.Simulator`)."""
        from .backend import simulated_backend

        return cls(simulated_backend(scenario, release, seed, writable, **options))

    @classmethod
    def from_device(cls, device: Any, simulator: Any = None) -> PacketFilter:
        """A handle on a :class:`pf_exporter.device.Device` opened by the caller (tests, benchmarks)."""
        from .backend import device_backend

        return cls(device_backend(device, simulator))

    def reopen(self, writable: bool) -> PacketFilter:
        """Another handle on the same pf with its own descriptor (e.g. a writable one beside a
        read-only one; opening ``/dev/pf`` read-write needs root)."""
        return PacketFilter(self.backend.reopen(writable))

    def close(self, timeout: float | None = None) -> bool:
        """Close the handle once no request holds it (at most *timeout* seconds: False when one
        still runs; its descriptor is then released at exit)."""
        return self.backend.close(timeout)

    def __enter__(self) -> PacketFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "simulated " if self.simulator is not None else ""
        return f"<PacketFilter {kind}OpenBSD {self.release}/{self.arch} {'rw' if self.writable else 'ro'}>"

    # --- identity --------------------------------------------------------------------------------

    @property
    def release(self) -> str:
        """The OpenBSD release whose ABI this handle speaks ("7.9", "current")."""
        return self.backend.release

    @property
    def arch(self) -> str:
        """The architecture whose struct layouts this handle uses ("amd64", "arm64", "i386")."""
        return self.backend.arch

    @property
    def features(self) -> frozenset[str]:
        """What this pf has beyond OpenBSD 7.6's (:mod:`pf_exporter.abi.releases`): e.g. ``"limiters"``
        (7.9+: state and source limiters)."""
        return self.backend.features

    @property
    def writable(self) -> bool:
        """Whether this handle may change pf (opened read-write)."""
        return self.backend.writable

    @property
    def simulator(self) -> Any:
        """The :class:`pf_exporter.simulator.Simulator` behind a simulated handle, else None."""
        return self.backend.simulator

    def simulate_traffic(self, seconds: float) -> None:
        """Simulated handles only: let *seconds* of the scenario's traffic flow (counters move,
        states come and go)."""
        sim = self.backend.simulator
        if sim is None:
            raise PfUnsupported("simulate_traffic", "this handle is on the real pf")
        with self.backend.device.lock, self.backend.sim_lock or _NoLock():
            sim.advance(max(0.0, seconds))

    # --- reads -----------------------------------------------------------------------------------

    def status(self) -> T.Status:
        """pf's status and global counters (``pfctl -si -v``)."""
        return self.backend.status()

    def limits(self) -> Mapping[str, int]:
        """pf's hard limits by pfctl's names (``pfctl -sm``): states, src-nodes, frags, tables,
        table-entries, pktdelay-pkts, anchors."""
        return MappingProxyType(self.backend.limits())

    def timeouts(self) -> Mapping[str, int]:
        """Timeouts in seconds by pfctl's names (``pfctl -st``): tcp.first ... adaptive.end."""
        return MappingProxyType(self.backend.timeouts())

    def syncookie_watermarks(self) -> tuple[int, int]:
        """``set syncookies adaptive (start, end)`` as (high, low) half-open state counts."""
        return self.backend.syncookie_watermarks()

    def interfaces(self) -> list[T.Interface]:
        """Every interface, group and name rules refer to, with counters (``pfctl -sI -vv``)."""
        return self.backend.interfaces()

    def anchors(self) -> list[str]:
        """Every anchor path, recursively, depth first (``pfctl -vsA``); the main ruleset is ""."""
        return self.backend.anchors()

    def rules(self, anchor: str = "") -> list[T.Rule]:
        """The rules of one ruleset with their counters and their text (``pfctl -a anchor -vsr``)."""
        from ..ruleset.printer import format_rule

        pairs = self.backend.full_rules(_anchor(anchor))
        _RuleNames(self).fill([k for _c, k in pairs])
        return [T.Rule(*c, text=format_rule(k.rule, k.anchor_call)) for c, k in pairs]

    def rule_count(self, anchor: str = "") -> int:
        """How many rules a ruleset has, without reading them."""
        return self.backend.rule_count(_anchor(anchor))

    def rule_counters(self, anchor: str = "") -> list[T.RuleCounters]:
        """The rules of one ruleset, counters only (cheaper than :meth:`rules`: no text)."""
        return self.backend.rule_counters(_anchor(anchor))

    def iter_rulesets(self, anchors: Sequence[str] | None = None, *, texts: bool = False) -> Iterator[T.Ruleset]:
        """The whole rule tree's counters, one ruleset at a time (the main ruleset first, then
        *anchors*, by default :meth:`anchors`): for monitoring 10,000s of rules without holding
        them all.  With *texts*, each ruleset also carries its rules as ``pfctl -sr`` prints them.
        An anchor removed meanwhile is left out."""
        return self.backend.iter_rulesets(anchors, texts)

    def label_totals(self, anchors: Sequence[str] | None = None) -> Iterator[T.LabelTotals]:
        """The rule tree's counters summed per label (``pfctl -sl``; "" for unlabelled rules), one
        ruleset at a time: the cheapest whole-tree read, for monitoring."""
        return self.backend.label_totals(anchors)

    def rule_specs(self, anchor: str = "") -> list[tuple[Any, str]]:
        """Each rule of *anchor* as the pf.conf compiler models it (a :class:`pf_exporter.ruleset.RuleDef`)
        with the anchor it calls, for tools that transform rulesets."""
        return [(k.rule, k.anchor_call) for k in self.backend.kernel_rules(_anchor(anchor))]

    def ruleset_text(self, anchor: str = "", *, verbose: int = 0, debug: bool = False) -> str:
        """What ``pfctl -a anchor -sr`` prints (``verbose`` 1/2 for -v/-vv, ``debug`` for -g);
        ``anchor`` may end in ``/*`` or ``*`` as pfctl's -a does."""
        from ._show import show_rules

        names = _RuleNames(self)
        return show_rules(lambda path: names.fill(self._kernel_rules(path)), self.backend.children, anchor,
                          verbose=verbose, debug=debug)

    def _kernel_rules(self, anchor: str) -> list[KernelRule]:
        return self.backend.kernel_rules(anchor)

    def tables(self, anchor: str | None = None, *, inactive: bool = False) -> list[T.Table]:
        """The active tables of *anchor*, or of every anchor (None), with counters (``pfctl -vsT``);
        *inactive* also lists tables only rules refer to, not defined (``pfctl -T list -v`` shows them)."""
        return self.backend.tables(None if anchor is None else _anchor(anchor), inactive)

    def table_addresses(self, table: str, anchor: str = "", *, counters: bool = True,
                        limit: int | None = None) -> list[T.TableAddress]:
        """The addresses of one table, with per-address counters (``pfctl -t table -T show -v``);
        *limit* returns only the first so many (in pf's order)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise PfInvalidArgument("limit", "limit is a number of addresses, 0 or more")
        return self.backend.table_addresses(_anchor(anchor), _table(table), stats=counters, limit=limit)

    def states(self, where: T.StateFilter | None = None, *, limit: int | None = None,
               **conditions: Any) -> Iterator[T.State]:
        """The states (``pfctl -ss``), filtered: ``family``, ``protocol`` (number or name),
        ``interface``, ``address`` (either end), ``source``, ``destination`` (``"10.0.0.0/8"``,
        ``"!192.0.2.1"``), ``port``, ``source_port``, ``destination_port`` (``22``, ``"1024:65535"``,
        ``">= 1024"``), ``rule`` with its ``anchor``, ``label``, ``id``, ``creator_id``; at most
        *limit* of them.  Decoded one at a time as the iterator is consumed."""
        f = state_filter(where, **conditions)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise PfInvalidArgument("limit", f"limit must be a non-negative integer, not {limit!r}")
        if f.empty:
            return self.backend.states(limit)
        match = self._matcher(f)
        found = (s for s in self.backend.states() if match(s))
        return found if limit is None else itertools.islice(found, limit)

    def count_states(self) -> Counter[tuple[str, str, int, str]]:
        """States counted by (interface, family, protocol, direction), without decoding each one."""
        return self.backend.count_states()

    def state_count(self) -> int:
        """How many states there are, without reading them."""
        return self.backend.state_count()

    def queues(self) -> list[T.Queue]:
        """Every queue with its statistics (``pfctl -vsq``)."""
        return self.backend.queues()

    def state_limiters(self) -> list[T.StateLimiter]:
        """OpenBSD 7.9+: the state limiters (empty before 7.9)."""
        return self.backend.state_limiters()

    def source_limiters(self) -> list[T.SourceLimiter]:
        """OpenBSD 7.9+: the source limiters (empty before 7.9)."""
        return self.backend.source_limiters()

    # --- changes -------------------------------------------------------------------------------

    def _writable(self, what: str) -> None:
        if not self.backend.writable:
            raise PfReadOnlyError(errno.EACCES, what, "this PacketFilter was opened read-only; open it with "
                                  "writable=True (which needs root)")

    def enable(self) -> bool:
        """Start pf (``pfctl -e``); False when it was already running."""
        self._writable("enable")
        return self.backend.set_running(True)

    def disable(self) -> bool:
        """Stop pf (``pfctl -d``); False when it was already stopped."""
        self._writable("disable")
        return self.backend.set_running(False)

    def compile(self, text: str, anchor: str = "", *, filename: str = "stdin", interfaces: Iterable[str] | None = None,
                max_rules: int | None = None, max_table_addresses: int | None = None,
                max_macro_expansion: int | None = None, files: Mapping[str, str] | None = None) -> LoadPlan:
        """Compile pf.conf *text* for a load into *anchor* without changing anything; raises
        :class:`PfLoadError` (stage "compile") with pfctl's message and line.  Interface names in
        rules are checked against *interfaces* (default: those pf knows).  The ``max_*`` bounds limit
        what untrusted text may expand to (None: unbounded, as pfctl).  *files* maps the file names
        of ``load anchor NAME from FILE`` (and ``include``) to their texts: the loaded anchors become
        part of the same transaction; nothing is read from disk."""
        from ._compile import compile_load, host_from_interfaces

        anchor = _anchor(anchor)
        if interfaces is None:
            try:
                interfaces = [i.name for i in self.backend.interfaces() if not i.is_group]
            except PfError:  # pf unreadable: compile without interface knowledge
                interfaces = []
        known: dict[str, dict[str, int]] = {}
        if anchor and "limiters" in self.features:  # an anchor's rules refer to the main ruleset's limiters
            known = {kind: {name: i for i, name in ids.items()}
                     for kind, ids in self.backend.read_limiter_names().items()}
        compiled = compile_load(text, self.backend.abi, anchor, host=host_from_interfaces(list(interfaces)),
                                filename=filename, max_rules=max_rules, max_table_addresses=max_table_addresses,
                                max_macro_expansion=max_macro_expansion, files=files,
                                fingerprints=self._fingerprint_names if anchor else None, known_limiters=known)
        warnings = tuple(d.text.removeprefix(filename + ":").strip() for d in compiled.warnings
                         if d.text.strip() and not d.text.startswith("Loading anchor "))  # -v chatter
        return LoadPlan(anchor, tuple(compiled.ruleset_paths), len(compiled.rules), len(compiled.tables), warnings,
                        self.release, self.arch, compiled)

    def load(self, text: str | LoadPlan, anchor: str = "", *, dry_run: bool = False,
             tables_only: bool = False, files: Mapping[str, str] | None = None) -> T.LoadResult:
        """Replace the rules and tables of *anchor* (and of the inline anchors it defines) with pf.conf
        *text* (or a :class:`LoadPlan`), atomically: one transaction that either commits whole or is
        rolled back, as ``pfctl -a anchor -f`` does.  With *dry_run* only compile (``pfctl -n``).
        Raises :class:`PfLoadError` when it does not compile or pf refuses a part; nothing changes then.
        *tables_only* loads only the table definitions and leaves the rules (``pfctl -T load -f``);
        *files* gives the texts of ``load anchor ... from FILE`` (see :meth:`compile`)."""
        if not dry_run:
            self._writable("load")
        plan = text if isinstance(text, LoadPlan) else self.compile(text, anchor, files=files)
        if plan.release != self.release or plan.arch != self.arch:
            raise PfInvalidArgument("load", f"the plan was compiled for {plan.release}/{plan.arch}, not "
                                    f"{self.release}/{self.arch}")
        result = T.LoadResult(plan.anchor, plan.anchors, plan.rules, plan.tables, plan.warnings, dry_run, False)
        if dry_run:
            return result
        if plan.anchor == "" and not tables_only:
            from ._opts import load_changes, options_kept, send

            changes = load_changes(plan.compiled.options, [i.name for i in self.backend.interfaces() if i.skip])
            with self.backend.device.lock, options_kept(self.backend) as sent:
                self._check_anchor_limit(plan)
                with self._fingerprints_kept(plan.compiled.fingerprints):
                    self.backend.load(plan.compiled, False, lambda _tx: send(self.backend, changes, sent))
        else:
            with self.backend.device.lock:
                self._check_anchor_limit(plan)
                self.backend.load(plan.compiled, tables_only)
        return replace(result, changed=True)

    def _check_anchor_limit(self, plan: LoadPlan) -> None:
        """Refuse, before anything is created, a load that needs more new anchors than ``set limit
        anchors`` leaves room for.  DIOCXBEGIN creates every ruleset of the load (and the anchors
        on their paths) while the old ones still exist, so the kernel would fail part-way; the
        rollback would clean up, but the caller deserves to be told which limit it hit."""
        existing = set(self.backend.anchors())
        needed: set[str] = set()
        for path in plan.anchors:
            parts = path.split("/") if path else []
            needed |= {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
        new = needed - existing
        limit = self.backend.limits()["anchors"]
        if new and len(existing) + len(new) > limit:
            raise PfLimitError("load", "anchors", limit, len(existing) + len(new),
                               f"this load needs {len(new)} new anchor(s), but pf's anchor limit is {limit} and "
                               f"{len(existing)} exist; nothing was changed. Load fewer anchors, remove unused ones, "
                               f"or raise the limit with `set limit anchors N` in the main ruleset")

    @contextlib.contextmanager
    def _fingerprints_kept(self, text: str | None) -> Iterator[None]:
        """Load the OS fingerprints a main ruleset needs (pfctl loads them before the rules, outside
        the transaction) and put the old ones back if the load then fails.  An unchanged list is
        not touched."""
        if text is None:
            yield
            return
        from ._osfp import encode, number, parse

        sigs = parse(text)
        new = [bytes(encode(self.backend.abi, s, i)) for s, i in zip(sigs, number(sigs), strict=True)]
        old = self._fingerprint_structs()
        changed = set(new) != set(old)
        if changed:
            self._put_fingerprints(new)
        try:
            yield
        except BaseException:
            if changed:
                self._put_fingerprints(old)
            raise

    def add_addresses(self, table: str, addresses: Iterable[AddressLike], anchor: str = "", *,
                      dry_run: bool = False, feedback: bool = False) -> T.TableChange:
        """``pfctl -t table -T add``: add addresses to an existing table; ``added`` counts the new ones.
        *dry_run* (``-n``) changes nothing; *feedback* (``-v``) reports each address's result."""
        return self._table_edit("DIOCRADDADDRS", "add_addresses", table, addresses, anchor, dry_run, feedback)

    def delete_addresses(self, table: str, addresses: Iterable[AddressLike], anchor: str = "", *,
                         dry_run: bool = False, feedback: bool = False) -> T.TableChange:
        """``pfctl -t table -T delete``; ``deleted`` counts those that were there."""
        return self._table_edit("DIOCRDELADDRS", "delete_addresses", table, addresses, anchor, dry_run, feedback)

    def replace_addresses(self, table: str, addresses: Iterable[AddressLike], anchor: str = "", *,
                          dry_run: bool = False, feedback: bool = False) -> T.TableChange:
        """``pfctl -t table -T replace``: the table holds exactly *addresses* afterwards (with
        *feedback*, the results include the entries it deleted)."""
        return self._table_edit("DIOCRSETADDRS", "replace_addresses", table, addresses, anchor, dry_run, feedback)

    def _table_edit(self, request: str, what: str, table: str, addresses: Iterable[AddressLike],
                    anchor: str, dry_run: bool = False, feedback: bool = False) -> T.TableChange:
        entries = _addresses(addresses, what)
        name, path = _table(table), _anchor(anchor)
        self._change(what, dry_run)
        flags = (C.PFR_FLAG_DUMMY if dry_run else 0) | (C.PFR_FLAG_FEEDBACK if feedback else 0)
        return self.backend.change_addresses(request, path, name, [(m.network, m.negated) for m in entries], flags)

    def kill_states(self, where: T.StateFilter | None = None, *, all: bool = False, **conditions: Any) -> int:
        """Remove the states that match (the conditions of :meth:`states`; ``pfctl -k``), or every
        state with ``all=True`` (of one ``interface`` if given; ``pfctl -F states``).  Returns how
        many pf removed.  With no condition and not ``all``, nothing is killed: an error says so."""
        f = state_filter(where, **conditions)
        self._writable("kill_states")
        b = self.backend
        if all:
            others = [x.name for x in fields(f) if x.name != "interface" and getattr(f, x.name) not in (None, "", 0)]
            if others:
                raise PfInvalidArgument("kill_states", f"all=True kills every state (of one interface); it cannot "
                                        f"be combined with {', '.join(others)}")
            return b.clear_states(f.interface or "")
        if f.empty:
            raise PfInvalidArgument("kill_states", "no condition given; name the states to kill (e.g. "
                                    "source='192.0.2.1'), or pass all=True to kill every state")
        if f.id is not None and _only(f, "id", "creator_id"):
            return b.kill_state_id(f.id, f.creator_id or 0)
        if _only(f, "family", "protocol", "interface", "source", "destination", "source_port", "destination_port",
                 "label", "rdomain"):
            return b.kill_states(f)  # the kernel applies every condition (DIOCKILLSTATES)
        # the rest is read here: kill the matching states one by one, by id
        match = self._matcher(f)
        return sum(b.kill_state_id(s.id, s.creator_id) for s in list(b.states()) if match(s))

    # --- matching --------------------------------------------------------------------------------

    def _matcher(self, f: T.StateFilter) -> Any:
        """A predicate over :class:`State` for the conditions of *f*."""
        checks: list[Any] = []
        if f.family:
            checks.append(lambda s: s.family == f.family)
        if f.protocol:
            checks.append(lambda s: s.protocol == f.protocol)
        if f.interface:
            checks.append(lambda s: s.interface == f.interface)
        if f.id is not None:
            checks.append(lambda s: s.id == f.id and (not f.creator_id or s.creator_id == f.creator_id))
        if f.address is not None:
            a = f.address
            checks.append(lambda s: a.matches(s.source.address) or a.matches(s.destination.address))
        if f.source is not None:
            checks.append(lambda s: f.source.matches(s.source.address))
        if f.destination is not None:
            checks.append(lambda s: f.destination.matches(s.destination.address))
        if f.port is not None:
            p = f.port
            checks.append(lambda s: p.matches(s.source.port) or p.matches(s.destination.port))
        if f.source_port is not None:
            checks.append(lambda s: f.source_port.matches(s.source.port))
        if f.destination_port is not None:
            checks.append(lambda s: f.destination_port.matches(s.destination.port))
        if f.rule is not None or f.label is not None:
            checks.append(self._rule_matcher(f))
        return lambda s: all(c(s) for c in checks)

    def _rule_matcher(self, f: T.StateFilter) -> Any:
        """States of rule ``f.rule`` of ruleset ``f.anchor``, and/or of rules labelled ``f.label``.

        A state names the rule that created it by its number in its ruleset and, for a rule in an
        anchor, the number of the anchor rule that led there (pfsync_state.rule and .anchor).  The
        ruleset is found from the anchor rules; where two rulesets are reached through anchor rules of
        the same number, pf's answer cannot tell them apart: a rule filter then is an error."""
        from ..ruleset.show import resolve_anchor

        tree = {rs.path: rs.rules for rs in self.backend.iter_rulesets()}
        by_anchor_rule: dict[int | None, set[str]] = {None: {""}}
        for path, rules in tree.items():
            for r in rules:
                if not r.anchor_call:
                    continue
                call = r.anchor_call
                wildcard = call.endswith("*")
                base = call.rstrip("*").rstrip("/") if wildcard else call
                target = resolve_anchor(path, base)
                reached = ({p for p in tree if p.startswith(target + "/") and "/" not in p[len(target) + 1:]}
                           if wildcard else {target})
                by_anchor_rule.setdefault(r.number, set()).update(reached)

        def rules_of(s: T.State) -> list[T.RuleCounters]:
            out = []
            for path in by_anchor_rule.get(s.anchor_rule, ()):
                rules = tree.get(path, ())
                out += [r for r in rules if r.number == s.rule]
            return out

        wanted: set[int | None] | None = None
        if f.rule is not None:
            path = _anchor(f.anchor)
            if path not in tree:
                raise PfInvalidArgument("rule", f"no anchor {path!r}")
            wanted = {n for n, paths in by_anchor_rule.items() if path in paths}
            for n in wanted:
                others = [p for p in by_anchor_rule[n] if p != path and any(r.number == f.rule for r in tree[p])]
                if others:
                    where = repr(path) if path else "the main ruleset"
                    raise PfInvalidArgument("rule", f"pf names a state's rule by its number and the number of the "
                                            f"anchor rule that led to it; rule {f.rule} of {where} and rule "
                                            f"{f.rule} of {others[0]!r} look the same; filter by label")

        def match(s: T.State) -> bool:
            if wanted is not None and (s.anchor_rule not in wanted or s.rule != f.rule):
                return False
            return f.label is None or any(r.label == f.label for r in rules_of(s))

        return match


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _only(f: T.StateFilter, *names: str) -> bool:
    return all(getattr(f, x.name) in (None, "", 0) for x in fields(f) if x.name not in names)


def _port_arg(value: PortLike, what: str) -> T.PortMatch:
    """``22``, ``"22"``, ``"1024:65535"``, ``">= 1024"``, ``"1 >< 1024"``, ``(low, high)`` or a PortMatch."""
    def check(p: int) -> int:
        if not 0 <= p <= 65535:
            raise PfInvalidArgument(what, f"port {p} is out of range 0-65535")
        return p

    if isinstance(value, T.PortMatch):
        if value.op not in T.PORT_OPERATORS:
            raise PfInvalidArgument(what, f"unknown port operator {value.op!r}; one of {' '.join(T.PORT_OPERATORS)}")
        return T.PortMatch(value.op, check(value.low), check(value.high))
    if isinstance(value, bool):
        raise PfInvalidArgument(what, "a port is a number")
    if isinstance(value, int):
        return T.PortMatch("=", check(value))
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(x, int) for x in value):
        return T.PortMatch(":", check(value[0]), check(value[1]))
    if isinstance(value, str):
        text = value.strip()
        for op in ("><", "<>"):
            if op in text:
                lo, _, hi = text.partition(op)
                return T.PortMatch(op, check(_int(lo, what)), check(_int(hi, what)))
        if ":" in text:
            lo, _, hi = text.partition(":")
            return T.PortMatch(":", check(_int(lo, what)), check(_int(hi, what)))
        for op in ("!=", "<=", ">=", "<", ">", "="):
            if text.startswith(op):
                return T.PortMatch(op, check(_int(text[len(op):], what)))
        return T.PortMatch("=", check(_int(text, what)))
    raise PfInvalidArgument(what, f"{value!r} is not a port condition")


def _protocol_arg(value: int | str) -> int:
    if isinstance(value, bool):
        raise PfInvalidArgument("protocol", "a protocol is a number or a name")
    if isinstance(value, int):
        if not 0 <= value <= 255:
            raise PfInvalidArgument("protocol", f"protocol {value} is out of range 0-255")
        return value
    if isinstance(value, str):
        from ..ruleset.netdb import builtin_protocols

        by_name, _ = builtin_protocols()
        if value.isdigit():
            return _protocol_arg(int(value))
        if value in by_name:
            return by_name[value]
        raise PfInvalidArgument("protocol", f"unknown protocol {value!r}")
    raise PfInvalidArgument("protocol", f"{value!r} is not a protocol")


_CONDITIONS = {f.name for f in fields(T.StateFilter)}
_ID_LIMITS = {"id": 1 << 64, "creator_id": 1 << 32, "rule": 1 << 32, "rdomain": 256}
_NAME_SIZES = {"interface": C.IFNAMSIZ, "label": C.PF_RULE_LABEL_SIZE, "anchor": C.PF_ANCHOR_MAXPATH + 1}


def _family_arg(value: Any, key: str) -> str:
    if value not in ("inet", "inet6"):
        raise PfInvalidArgument(key, f"{value!r} is not inet or inet6")
    return str(value)


def _number_arg(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PfInvalidArgument(key, f"{key} must be a non-negative integer, not {value!r}")
    if value >= _ID_LIMITS[key]:
        raise PfInvalidArgument(key, f"{key} {value} is out of range")
    return value


def _name_arg(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise PfInvalidArgument(key, f"{key} must be a str, not {type(value).__name__}")
    size = _NAME_SIZES[key]
    if len(value.encode()) >= size or "\0" in value:
        raise PfInvalidArgument(key, f"{key} {value[:40]!r} is longer than pf allows ({size - 1} bytes)")
    return _anchor(value) if key == "anchor" else value


# how each condition of a StateFilter is checked and converted
_CONVERT: dict[str, Any] = {
    "family": _family_arg, "protocol": lambda v, k: _protocol_arg(v),
    **{k: _address_arg for k in ("address", "source", "destination")},
    **{k: _port_arg for k in ("port", "source_port", "destination_port")},
    **{k: _number_arg for k in _ID_LIMITS}, **{k: _name_arg for k in _NAME_SIZES},
}


def state_filter(where: T.StateFilter | None = None, **conditions: Any) -> T.StateFilter:
    """A :class:`StateFilter` from keyword conditions (strings and numbers checked and converted)."""
    unknown = sorted(set(conditions) - _CONDITIONS)
    if unknown:
        raise PfInvalidArgument("states", f"unknown condition {unknown[0]!r}; known: {', '.join(sorted(_CONDITIONS))}")
    values = {key: _CONVERT[key](value, key) for key, value in conditions.items() if value is not None}
    return replace(where or T.StateFilter(), **values)


class _RuleNames:
    """Names the kernel keeps only as numbers in a rule: its OS fingerprint (named by pf's
    fingerprint list) and its 7.9 limiters; read from pf once, when a rule first needs them."""

    def __init__(self, pf: PacketFilter) -> None:
        self.pf = pf
        self.fingerprints: Any = None
        self.limiters: dict[str, dict[int, str]] | None = None

    def fill(self, rules: list[KernelRule]) -> list[KernelRule]:
        for k in rules:
            r = k.rule
            if r.os_fingerprint and not r.os_name:
                if self.fingerprints is None:
                    self.fingerprints = self.pf._fingerprint_names()
                r.os_name = self.fingerprints.name(r.os_fingerprint)
            if r.statelim[0] or r.sourcelim[0]:
                if self.limiters is None:
                    self.limiters = self.pf.backend.read_limiter_names()
                name_limiters(r, self.limiters)
        return rules
