"""``set`` options (parse.y's option rule): limits, timeouts, optimization, skip, syncookies, ..."""

from __future__ import annotations

from collections.abc import Callable

from ..abi.constants import (
    PF_SYNCOOKIES_ADAPTIVE,
    PF_SYNCOOKIES_ALWAYS,
    PF_SYNCOOKIES_HIWATPCT,
    PF_SYNCOOKIES_NEVER,
    PFRULE_DROP,
    PFRULE_IFBOUND,
    PFRULE_RETURN,
)
from . import lexer as lx
from . import netdb
from .items import ItemParsing
from .nodes import (
    PF_HINTS,
    PF_LIMITS,
    PF_TIMEOUTS,
    UINT_MAX,
    NodeIf,
    ParseSyntaxError,
    StatementAborted,
    _as_int,
    _strtod,
    _strtoul,
)


class OptionParsing(ItemParsing):
    """Part of :class:`.parser.Parser` (options)."""

    # -- set options ------------------------------------------------------------------
    # The `set` options that only shape how rules are compiled (the others reach the kernel).
    PARSER_ONLY_OPTIONS = ("block-policy", "state-defaults", "state-policy", "ruleset-optimization")

    def option(self) -> None:
        """``set <option> ...``: one method per option (parse.y's option rule), chosen by its keyword."""
        line = self.advance().line
        t = self.peek()
        word = t.value if t.kind == lx.KEYWORD else None
        handler = self._OPTIONS.get(str(word)) if word is not None else None
        if handler is None:
            raise ParseSyntaxError
        if word not in self.PARSER_ONLY_OPTIONS:
            self.state.option_lines.append(line)  # an option the kernel keeps, not a parser default
        self.advance()
        handler(self)

    def _set_reassemble(self) -> None:
        on = self.yesno()
        nodf = self.accept_kw("no-df")
        if not nodf:
            self.require_nl()
        self.state.options.reassemble = (1 | (2 if nodf else 0)) if on else 0
        self.state.out(f"set reassemble {'yes' if on else 'no'} {'no-df' if nodf else ''}")

    def _set_optimization(self) -> None:
        value = str(self.expect(lx.STRING).value)
        hint = PF_HINTS.get(value.lower())
        if hint is None:
            self.warn("pfctl: invalid state timeouts optimization")
            self.fail(f"unknown optimization {value}")
        for name, seconds in hint:
            self._set_timeout(name, seconds, quiet=True)
        self.state.out(f"set optimization {value}")

    def _set_ruleset_optimization(self) -> None:
        value = self.string()
        self.require_nl()
        if value not in ("none", "basic", "profile"):
            self.fail(f"unknown ruleset-optimization {value}")

    def _set_timeout_list(self) -> None:
        self._list(self.timeout_spec)

    def _set_limit_list(self) -> None:
        self._list(self.limit_spec)

    def _set_loginterface(self) -> None:
        value = "all" if self.accept_kw("all") else str(self.expect(lx.STRING).value)
        opts = self.state.options
        opts.loginterface = None if value == "none" else value
        opts.loginterface_set = True
        self.state.out(f"set loginterface {value}")

    def _set_hostid(self) -> None:
        value = self.number_or_string()
        if value == 0 or value > UINT_MAX:
            self.fail("hostid must be non-zero")
        self.state.options.hostid = value
        self.state.out(f"set hostid 0x{value:08x}")

    def _set_block_policy(self) -> None:
        if self.accept_kw("drop"):
            self.state.out("set block-policy drop")
            self.state.options.block_policy = PFRULE_DROP
        elif self.accept_kw("return"):
            self.state.out("set block-policy return")
            self.state.options.block_policy = PFRULE_RETURN
        else:
            raise ParseSyntaxError

    def _set_fingerprints(self) -> None:
        value = str(self.expect(lx.STRING).value)
        self.state.out(f'set fingerprints "{value}"')
        if self.anchor.name or self.state.anchorname:
            return  # pfctl loads fingerprints only with the main ruleset
        from ..errors import PfError
        from .osfp import Fingerprints, parse

        try:
            text = self.state.read_file(value)
            sigs = parse(text)
        except PfError as e:  # a bad line (PfError is an OSError: first)
            self.warn(f"pfctl: {value}: {e.detail}")
            self.fail(f"error loading fingerprints {value}")
        except OSError as e:
            self.warn(f"pfctl: {value}: {e.strerror or e}")
            self.fail(f"error loading fingerprints {value}")
        self.state.fingerprints = Fingerprints.from_signatures(sigs)
        self.state.fingerprints_file = (value, text)

    def _set_state_policy(self) -> None:
        if self.accept_kw("if-bound"):
            self.state.options.state_policy = self.state.default_statelock = PFRULE_IFBOUND
            self.state.out("set state-policy if-bound")
        elif self.accept_kw("floating"):
            self.state.options.state_policy = self.state.default_statelock = 0
            self.state.out("set state-policy floating")
        else:
            raise ParseSyntaxError

    def _set_debug(self) -> None:
        value = "debug" if self.accept_kw("debug") else str(self.expect(lx.STRING).value)
        level = netdb.loglevel_by_name(value)
        if level < 0:
            self.warn(f'pfctl: unknown debug level "{value}"')
            self.fail(f"error setting debuglevel {value}")
        self.state.options.debug = level
        self.state.out(f"set debug {value}")

    def _set_skip(self) -> None:
        interfaces = self.interface()
        if interfaces is None:
            self.require_nl()
        self.skip_interfaces(interfaces)

    def _set_state_defaults(self) -> None:
        options = self.state_opt_list()
        self.require_nl()
        if self.state.keep_state_defaults is not None:
            self.fail("cannot redefine state-defaults")
        self.state.keep_state_defaults = options

    def _set_syncookies(self) -> None:
        self.syncookies()

    _OPTIONS: dict[str, Callable[[OptionParsing], None]] = {
        "reassemble": _set_reassemble, "optimization": _set_optimization,
        "ruleset-optimization": _set_ruleset_optimization, "timeout": _set_timeout_list, "limit": _set_limit_list,
        "loginterface": _set_loginterface, "hostid": _set_hostid, "block-policy": _set_block_policy,
        "fingerprints": _set_fingerprints, "state-policy": _set_state_policy, "debug": _set_debug,
        "skip": _set_skip, "state-defaults": _set_state_defaults, "syncookies": _set_syncookies,
    }

    def yesno(self) -> bool:
        if self.accept_kw("no"):
            return False
        value = str(self.expect(lx.STRING).value)
        if value != "yes":
            self.fail(f"invalid value '{value}', expected 'yes' or 'no'")
        return True

    def number_or_string(self) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            return int(t.value or 0)  # a NUMBER token's value is its int
        text = str(self.expect(lx.STRING).value)
        value = _strtoul(text)
        if value is None:
            self.fail(f"{text} is not a number")
        return value

    def _set_timeout(self, name: str, seconds: int, quiet: bool = False) -> bool:
        for tname, number in PF_TIMEOUTS:
            if tname == name.lower():
                self.state.options.timeouts[number] = seconds
                if not quiet:
                    self.state.out(f"set timeout {name} {_as_int(seconds)}")
                return True
        self.warn("pfctl: Bad timeout name.")
        return False

    def timeout_spec(self) -> None:
        name = str(self.expect(lx.STRING).value)
        seconds = self.number()
        if seconds < 0 or seconds > UINT_MAX:
            self.fail("only positive values permitted")
        if not self._set_timeout(name, seconds):
            self.fail(f"unknown timeout {name}")

    def limit_spec(self) -> None:
        name = str(self.expect(lx.STRING).value)
        value = self.number()
        if value < 0 or value > UINT_MAX:
            self.fail("only positive values permitted")
        for lname, index in PF_LIMITS:
            if lname == name.lower():
                self.state.options.limits[index] = value
                self.state.out(f"set limit {name} {_as_int(value)}")
                return
        self.warn("pfctl: Bad pool name.")
        self.fail(f"unable to set limit {name} {value}")

    def skip_interfaces(self, interfaces: list[NodeIf] | None) -> None:
        if not interfaces or (len(interfaces) == 1 and not interfaces[0].neg and interfaces[0].ifname == "none"):
            self.state.out("set skip on none")
            self.state.options.skip = []
            return
        errors = 0
        names = []
        for itf in interfaces:
            names.append(itf.ifname)
            if itf.neg:
                self.yyerror("skip on ! <interface> is not supported")
                errors += 1
            elif itf.use_rdomain:
                self.yyerror("skip on rdomain <num> is not supported")
                errors += 1
        self.state.out("set skip on {" + "".join(" " + n for n in names) + " }")
        if errors:
            self.fail("error setting skip interface(s)")
        self.state.options.skip = (self.state.options.skip or []) + names

    def syncookies(self) -> None:  # noqa: C901 - mirrors parse.y's syncookie_opts with its range checks
        value = str(self.expect(lx.STRING).value)
        mode = {"never": PF_SYNCOOKIES_NEVER, "adaptive": PF_SYNCOOKIES_ADAPTIVE,
                "always": PF_SYNCOOKIES_ALWAYS}.get(value)
        if mode is None:
            self.fail("illegal value for syncookies")
        wats: list[float] | None = None
        if not self.at_punct("("):
            self.require_nl()
        if self.accept_punct("("):
            wats = [0.0, 0.0]  # (hi = start, lo = end)
            while True:
                what = str(self.expect(lx.STRING).value)
                pct = str(self.expect(lx.STRING).value)
                number, rest = _strtod(pct)
                if rest != "%":
                    raise StatementAborted
                if number <= 0 or number > 100:
                    self.fail("illegal percentage value")
                if what == "start":
                    wats[0] = number
                elif what == "end":
                    wats[1] = number
                else:
                    self.fail("illegal syncookie option")
                if self.accept_punct(")"):
                    break
                self.comma()
        opts = self.state.options
        if mode != PF_SYNCOOKIES_ADAPTIVE and wats is not None:
            self.warn("pfctl: syncookies start/end only apply to adaptive")
            self.fail("error setting syncookies")
        if mode == PF_SYNCOOKIES_ADAPTIVE and wats is not None:
            hi = int(wats[0]) or PF_SYNCOOKIES_HIWATPCT
            lo = int(wats[1]) or hi // 2
            if lo >= hi:
                self.warn("pfctl: start must be higher than end")
                self.fail("error setting syncookies")
            opts.syncookies_watermarks = (lo, hi)
        if mode == PF_SYNCOOKIES_NEVER:
            self.state.out("set syncookies never")
        elif mode == PF_SYNCOOKIES_ALWAYS:
            self.state.out("set syncookies always")
        elif opts.syncookies_watermarks:
            lo, hi = opts.syncookies_watermarks
            self.state.out(f"set syncookies adaptive (start {hi}%, end {lo}%)")
        else:
            self.state.out("set syncookies adaptive")
        opts.syncookies = mode
