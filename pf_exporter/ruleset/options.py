"""``set`` options (parse.y's option rule): limits, timeouts, optimization, skip, syncookies, ..."""

from __future__ import annotations

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
    def option(self) -> None:
        line = self.advance().line
        opts = self.state.options
        t = self.peek()
        word = t.value if t.kind == lx.KEYWORD else None
        if word not in ("block-policy", "state-defaults", "state-policy", "ruleset-optimization"):
            self.state.option_lines.append(line)  # an option the kernel keeps, not a parser default
        if word == "reassemble":
            self.advance()
            on = self.yesno()
            nodf = self.accept_kw("no-df")
            if not nodf:
                self.require_nl()
            opts.reassemble = (1 | (2 if nodf else 0)) if on else 0
            self.state.out(f"set reassemble {'yes' if on else 'no'} {'no-df' if nodf else ''}")
        elif word == "optimization":
            self.advance()
            value = str(self.expect(lx.STRING).value)
            hint = PF_HINTS.get(value.lower())
            if hint is None:
                self.warn("pfctl: invalid state timeouts optimization")
                self.fail(f"unknown optimization {value}")
            for name, seconds in hint:
                self._set_timeout(name, seconds, quiet=True)
            self.state.out(f"set optimization {value}")
        elif word == "ruleset-optimization":
            self.advance()
            value = self.string()
            self.require_nl()
            if value not in ("none", "basic", "profile"):
                self.fail(f"unknown ruleset-optimization {value}")
        elif word == "timeout":
            self.advance()
            self._list(self.timeout_spec)
        elif word == "limit":
            self.advance()
            self._list(self.limit_spec)
        elif word == "loginterface":
            self.advance()
            if self.accept_kw("all"):
                value = "all"
            else:
                value = str(self.expect(lx.STRING).value)
            opts.loginterface = None if value == "none" else value
            opts.loginterface_set = True
            self.state.out(f"set loginterface {value}")
        elif word == "hostid":
            self.advance()
            value = self.number_or_string()
            if value == 0 or value > UINT_MAX:
                self.fail("hostid must be non-zero")
            opts.hostid = value
            self.state.out(f"set hostid 0x{value:08x}")
        elif word == "block-policy":
            self.advance()
            if self.accept_kw("drop"):
                self.state.out("set block-policy drop")
                opts.block_policy = PFRULE_DROP
            elif self.accept_kw("return"):
                self.state.out("set block-policy return")
                opts.block_policy = PFRULE_RETURN
            else:
                raise ParseSyntaxError
        elif word == "fingerprints":
            self.advance()
            value = str(self.expect(lx.STRING).value)
            self.state.out(f'set fingerprints "{value}"')
            self.unsupported("OS fingerprints (set fingerprints)")
        elif word == "state-policy":
            self.advance()
            if self.accept_kw("if-bound"):
                opts.state_policy = self.state.default_statelock = PFRULE_IFBOUND
                self.state.out("set state-policy if-bound")
            elif self.accept_kw("floating"):
                opts.state_policy = self.state.default_statelock = 0
                self.state.out("set state-policy floating")
            else:
                raise ParseSyntaxError
        elif word == "debug":
            self.advance()
            if self.accept_kw("debug"):
                value = "debug"
            else:
                value = str(self.expect(lx.STRING).value)
            level = netdb.loglevel_by_name(value)
            if level < 0:
                self.warn(f'pfctl: unknown debug level "{value}"')
                self.fail(f"error setting debuglevel {value}")
            opts.debug = level
            self.state.out(f"set debug {value}")
        elif word == "skip":
            self.advance()
            interfaces = self.interface()
            if interfaces is None:
                self.require_nl()
            self.skip_interfaces(interfaces)
        elif word == "state-defaults":
            self.advance()
            options = self.state_opt_list()
            self.require_nl()
            if self.state.keep_state_defaults is not None:
                self.fail("cannot redefine state-defaults")
            self.state.keep_state_defaults = options
        elif word == "syncookies":
            self.advance()
            self.syncookies()
        else:
            raise ParseSyntaxError

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
            return int(t.value)  # type: ignore[arg-type]
        text = str(self.expect(lx.STRING).value)
        value = _strtoul(text)
        if value is None:
            self.fail(f"{text} is not a number")
        return value  # type: ignore[return-value]

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

    def syncookies(self) -> None:
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
