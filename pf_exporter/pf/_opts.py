"""Runtime options (``set limit``, ``set timeout``, ``set debug``, ...): read them back, change them.

pfctl applies options inside a transaction, and so does the kernel: DIOCSETTIMEOUT, DIOCSETDEBUG,
DIOCSETHOSTID, DIOCSETSTATUSIF, DIOCSETREASS and the interface flags only take effect at
DIOCXCOMMIT (``pf_trans_set``, ``pf_default_rule_new``, ``pfi_xcommit``), limits too up to 7.7.
:class:`OptionsMixin` validates every value first, then sends them all between one DIOCXBEGIN
(of no ruleset) and its DIOCXCOMMIT: a refused value rolls the whole change back.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..abi import constants as C
from ..errors import PfBusy, PfError, PfInvalidArgument, PfLimitError
from . import types as T
from ._args import _interface

if TYPE_CHECKING:
    from ._kernel import IoctlBackend

# syslog levels, as `set debug` and pfctl -x name them (string_to_loglevel)
DEBUG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_DEBUG_ALIASES = {"error": 3, "warn": 4, "panic": 0, "none": 0, "urgent": 0, "misc": 5, "loud": 7}
SYNCOOKIES_MODES = ("never", "always", "adaptive")
# `set optimization`: the tcp timeouts each profile sets (pfctl's pf_hints)
OPTIMIZATIONS: Mapping[str, Mapping[str, int]] = {
    "normal": {"tcp.first": 120, "tcp.opening": 30, "tcp.established": 86400, "tcp.closing": 900,
               "tcp.finwait": 45, "tcp.closed": 90, "tcp.tsdiff": 30},
    "satellite": {"tcp.first": 180, "tcp.opening": 35, "tcp.established": 86400, "tcp.closing": 905,
                  "tcp.finwait": 50, "tcp.closed": 95, "tcp.tsdiff": 60},
    "conservative": {"tcp.first": 3600, "tcp.opening": 900, "tcp.established": 432000, "tcp.closing": 3600,
                     "tcp.finwait": 600, "tcp.closed": 180, "tcp.tsdiff": 60},
    "aggressive": {"tcp.first": 30, "tcp.opening": 5, "tcp.established": 18000, "tcp.closing": 60,
                   "tcp.finwait": 30, "tcp.closed": 30, "tcp.tsdiff": 10},
}
OPTIMIZATIONS = {**OPTIMIZATIONS, "high-latency": OPTIMIZATIONS["satellite"]}
_TIMEOUT_INDEX = {name: index for index, name in C.TIMEOUT_NAMES.items()}
_LIMIT_INDEX = {name: index for index, name in enumerate(C.LIMIT_NAMES)}


@dataclass(frozen=True)
class OptionChanges:
    """What one :meth:`OptionsMixin.set_options` call sends, checked and in kernel terms."""

    limits: tuple[tuple[int, int], ...] = ()
    timeouts: tuple[tuple[int, int], ...] = ()
    debug: int | None = None
    hostid: int | None = None
    loginterface: str | None = None  # "" clears it
    reassemble: int | None = None  # PF_REASS_* flags
    syncookies: int | None = None
    watermarks: tuple[int, int] | None = None  # (high, low) in states
    skip_on: tuple[str, ...] = ()
    skip_off: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(v not in (None, ()) for v in vars(self).values())


def debug_level(value: int | str) -> int:
    if isinstance(value, bool):
        raise PfInvalidArgument("debug", "a debug level is a syslog level name or 0-7")
    if isinstance(value, int):
        if not 0 <= value <= 7:
            raise PfInvalidArgument("debug", f"debug level {value} is not 0-7")
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        if name.isdigit():
            return debug_level(int(name))
        if name in DEBUG_LEVELS:
            return DEBUG_LEVELS.index(name)
        if name in _DEBUG_ALIASES:
            return _DEBUG_ALIASES[name]
    raise PfInvalidArgument("debug", f"unknown debug level {value!r}; one of {', '.join(DEBUG_LEVELS)}")


def _count(value: Any, what: str, maximum: int = (1 << 32) - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise PfInvalidArgument(what, f"{what} must be a whole number from 0 to {maximum}, not {value!r}")
    return value


def check_changes(*, limits: Mapping[str, int] | None = None, timeouts: Mapping[str, int] | None = None,
                  optimization: str | None = None, debug: int | str | None = None, hostid: int | None = None,
                  loginterface: str | None = None, reassemble: bool | str | None = None, no_df: bool | None = None,
                  syncookies: str | None = None, syncookies_start: float | None = None,
                  syncookies_end: float | None = None, states_limit: int | None = None,
                  skip: Mapping[str, bool] | Iterable[str] | None = None) -> OptionChanges:
    """Every value checked and converted, before any request (PfInvalidArgument names the first bad one)."""
    lim = []
    for name, value in (limits or {}).items():
        if name not in _LIMIT_INDEX:
            raise PfInvalidArgument("limits", f"unknown limit {name!r}; one of {', '.join(C.LIMIT_NAMES)}")
        lim.append((_LIMIT_INDEX[name], _count(value, f"limit {name}")))
    tmo: dict[int, int] = {}
    if optimization is not None:
        if optimization not in OPTIMIZATIONS:
            raise PfInvalidArgument("optimization", f"unknown optimization {optimization!r}; one of "
                                    f"{', '.join(OPTIMIZATIONS)}")
        tmo.update({_TIMEOUT_INDEX[k]: v for k, v in OPTIMIZATIONS[optimization].items()})
    for name, value in (timeouts or {}).items():
        if name not in _TIMEOUT_INDEX:
            raise PfInvalidArgument("timeouts", f"unknown timeout {name!r}; one of {', '.join(_TIMEOUT_INDEX)}")
        tmo[_TIMEOUT_INDEX[name]] = _count(value, f"timeout {name}", (1 << 31) - 1)
    reass = _reassemble(reassemble, no_df)
    cookies, wats = _syncookies(syncookies, syncookies_start, syncookies_end, states_limit)
    on_list: list[str] = []
    off_list: list[str] = []
    if skip is not None:
        items = skip.items() if isinstance(skip, Mapping) else ((name, True) for name in skip)
        for name, flag in items:
            (on_list if flag else off_list).append(_interface(name, "skip"))
    return OptionChanges(
        limits=tuple(lim), timeouts=tuple(sorted(tmo.items())),
        debug=None if debug is None else debug_level(debug),
        hostid=None if hostid is None else _count(hostid, "hostid"),
        loginterface=None if loginterface is None else ("" if loginterface in ("", "none") else
                                                        _interface(loginterface, "loginterface")),
        reassemble=reass, syncookies=cookies, watermarks=wats, skip_on=tuple(on_list), skip_off=tuple(off_list))


def _reassemble(reassemble: bool | str | None, no_df: bool | None) -> int | None:
    if reassemble is None and no_df is None:
        return None
    on = reassemble if isinstance(reassemble, bool) else {"yes": True, "no": False, None: True}.get(reassemble)
    if on is None:
        raise PfInvalidArgument("reassemble", f"reassemble is yes or no (a bool), not {reassemble!r}")
    return (C.PF_REASS_ENABLED if on else 0) | (C.PF_REASS_NODF if on and no_df else 0)


def _syncookies(mode: str | None, start_pct: float | None, end_pct: float | None,
                states_limit: int | None) -> tuple[int | None, tuple[int, int] | None]:
    cookies = wats = None
    if mode is not None:
        if mode not in SYNCOOKIES_MODES:
            raise PfInvalidArgument("syncookies", f"syncookies is one of {', '.join(SYNCOOKIES_MODES)}")
        cookies = SYNCOOKIES_MODES.index(mode)
    if start_pct is not None or end_pct is not None:
        if mode != "adaptive":
            raise PfInvalidArgument("syncookies", "start and end watermarks only apply to syncookies adaptive")
        start = _percent(start_pct, "start", C.PF_SYNCOOKIES_HIWATPCT)
        end = _percent(end_pct, "end", C.PF_SYNCOOKIES_LOWATPCT)
        if end > start:
            raise PfInvalidArgument("syncookies", f"the end watermark ({end}%) is above the start ({start}%)")
        states = states_limit or C.PFSTATE_HIWAT
        wats = (int(states * start / 100), int(states * end / 100))
    return cookies, wats


def _percent(value: float | None, what: str, default: int) -> float:
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise PfInvalidArgument("syncookies", f"the {what} watermark is a percentage of the state limit, 0 < x <= 100")
    return float(value)


def send(backend: IoctlBackend, changes: OptionChanges, sent: _Sent | None = None) -> None:
    """The DIOCSET* requests of *changes*, inside a transaction already begun (device lock held)."""
    abi = backend.abi
    done = sent.done if sent is not None else set()
    device = backend.device

    def call(request: str, arg: Any) -> None:  # the device's ioctl, recording what was sent for options_kept()
        done.add(request)
        device.ioctl(request, arg)

    for index, value in changes.limits:
        try:
            call("DIOCSETLIMIT", abi.new("pfioc_limit", index=index, limit=value))
        except PfBusy:
            name = C.LIMIT_NAMES[index]
            raise PfLimitError("DIOCSETLIMIT", name, value, value + 1,
                               f"pf refuses `set limit {name} {value}`: more than that are in use now (EBUSY); "
                               "nothing was changed") from None
    for index, value in changes.timeouts:
        call("DIOCSETTIMEOUT", abi.new("pfioc_tm", timeout=index, seconds=value))
    if changes.debug is not None:
        call("DIOCSETDEBUG", ctypes.c_uint32(changes.debug))
    if changes.hostid is not None:
        # the kernel keeps the host id in network byte order (pfctl's htonl); 0 makes it pick one
        call("DIOCSETHOSTID", ctypes.c_uint32(int.from_bytes(changes.hostid.to_bytes(4, "big"), "little")))
    if changes.loginterface is not None:
        io = abi.new("pfioc_iface")
        io.pfiio_name = changes.loginterface.encode()
        call("DIOCSETSTATUSIF", io)
    if changes.reassemble is not None:
        call("DIOCSETREASS", ctypes.c_uint32(changes.reassemble))
    for names, request in ((changes.skip_off, "DIOCCLRIFFLAG"), (changes.skip_on, "DIOCSETIFFLAG")):
        for name in names:
            io = abi.new("pfioc_iface", pfiio_flags=C.PFI_IFLAG_SKIP)
            io.pfiio_name = name.encode()
            call(request, io)
    if changes.watermarks is not None:
        call("DIOCSETSYNFLWATS", abi.new("pfioc_synflwats", hiwat=changes.watermarks[0],
                                              lowat=changes.watermarks[1]))
    if changes.syncookies is not None:
        call("DIOCSETSYNCOOKIES", ctypes.c_uint8(changes.syncookies))


class _Sent:
    def __init__(self) -> None:
        self.done: set[str] = set()  # the DIOCSET* requests sent (or tried)


@contextmanager
def options_kept(backend: IoctlBackend) -> Iterator[_Sent]:
    """What the kernel applies before DIOCXCOMMIT, put back when the transaction fails (pfctl does
    not; we promise nothing changes): the limits from OpenBSD 7.8 (DIOCSETLIMIT takes effect at
    once), the syncookie mode and watermarks (pf_syncookies_setmode/setwats), a cleared
    loginterface (DIOCSETSTATUSIF "" clears at once) and the interfaces' pending skip flags
    (pfik_flags_new, which DIOCXROLLBACK leaves for the next commit to apply).  Only what was sent
    is repaired.  (A skipped interface's pending flag may be left set where its group's skip
    already covers it: the same interfaces are skipped after the next commit.)"""
    limits = backend.limits() if "immediate-limits" in backend.features else {}
    watermarks = backend.syncookie_watermarks()
    st = backend.status()
    skipped = [i.name for i in backend.interfaces() if i.skip]
    sent = _Sent()
    try:
        yield sent
    except BaseException:
        _repair(backend, sent.done, limits, watermarks, st, skipped)
        raise


def _repair(backend: IoctlBackend, done: set[str], limits: Mapping[str, int], watermarks: tuple[int, int],
            st: T.Status, skipped: list[str]) -> None:
    abi = backend.abi
    steps: list[tuple[str, Any]] = []
    if "DIOCSETLIMIT" in done:
        steps += [("DIOCSETLIMIT", abi.new("pfioc_limit", index=i, limit=limits[n]))
                  for i, n in enumerate(C.LIMIT_NAMES) if n in limits]
    if "DIOCSETSYNFLWATS" in done:
        steps.append(("DIOCSETSYNFLWATS", abi.new("pfioc_synflwats", hiwat=watermarks[0], lowat=watermarks[1])))
    if "DIOCSETSYNCOOKIES" in done:
        steps.append(("DIOCSETSYNCOOKIES", ctypes.c_uint8(SYNCOOKIES_MODES.index(st.syncookies_mode))))
    if done & {"DIOCSETIFFLAG", "DIOCCLRIFFLAG"}:
        steps.append(("DIOCCLRIFFLAG", abi.new("pfioc_iface", pfiio_flags=C.PFI_IFLAG_SKIP)))  # "": every kif
        for name in skipped:  # flags_new = flags | SKIP: as committed
            io = abi.new("pfioc_iface", pfiio_flags=C.PFI_IFLAG_SKIP)
            io.pfiio_name = name.encode()
            steps.append(("DIOCSETIFFLAG", io))
    for request, arg in steps:
        try:
            backend.device.ioctl(request, arg)
        except PfError:
            pass  # e.g. more in use than the old limit now: the best that can be done
    if "DIOCSETSTATUSIF" in done and st.loginterface:
        try:  # a name is set at commit: a transaction of no ruleset sets it back
            with backend.transaction((), ()):
                io = abi.new("pfioc_iface")
                io.pfiio_name = st.loginterface.encode()
                backend.device.ioctl("DIOCSETSTATUSIF", io)
        except PfError:
            pass


def read_options(backend: IoctlBackend) -> T.Options:
    """Every runtime option, read back (``pfctl -s info -v``, ``-s memory``, ``-s timeouts``, ``-s Interfaces``)."""
    st = backend.status()
    limits = backend.limits()
    high, low = backend.syncookie_watermarks()
    states = limits.get("states") or 1
    skip = tuple(sorted(i.name for i in backend.interfaces() if i.skip))
    timeouts = backend.timeouts()
    tcp = {k: v for k, v in timeouts.items() if k.startswith("tcp.")}
    optimization = next((name for name, values in OPTIMIZATIONS.items() if name != "high-latency"
                         and all(tcp.get(k) == v for k, v in values.items())), "")
    return T.Options(
        limits=limits, timeouts=timeouts, optimization=optimization,
        debug=DEBUG_LEVELS[st.debug] if 0 <= st.debug < len(DEBUG_LEVELS) else str(st.debug),
        hostid=st.hostid, loginterface=st.loginterface,
        reassemble=bool(st.reass & C.PF_REASS_ENABLED), no_df=bool(st.reass & C.PF_REASS_NODF),
        syncookies=st.syncookies_mode, syncookies_start=round(100 * high / states, 1),
        syncookies_end=round(100 * low / states, 1), syncookies_high=high, syncookies_low=low, skip=skip)


class OptionsMixin:
    """:class:`PacketFilter`'s runtime options (its ``backend`` and ``_writable()`` come from there)."""

    backend: IoctlBackend

    def _writable(self, what: str) -> None:  # PacketFilter's
        raise NotImplementedError

    def options(self) -> T.Options:
        """Every runtime option, read back: limits, timeouts (and the `set optimization` profile they
        match), debug, hostid, loginterface, reassemble, syncookies and their watermarks, skipped
        interfaces."""
        return read_options(self.backend)

    def set_options(self, *, limits: Mapping[str, int] | None = None, timeouts: Mapping[str, int] | None = None,
                    optimization: str | None = None, debug: int | str | None = None, hostid: int | None = None,
                    loginterface: str | None = None, reassemble: bool | None = None, no_df: bool | None = None,
                    syncookies: str | None = None, syncookies_start: float | None = None,
                    syncookies_end: float | None = None,
                    skip: Mapping[str, bool] | Iterable[str] | None = None) -> T.Options:
        """Change runtime options as pf.conf's ``set`` lines do, all in one transaction (a value pf
        refuses, e.g. a limit below what is in use, changes nothing); returns them read back.

        *limits*/*timeouts*: by pfctl's names (``{"states": 200000}``, ``{"tcp.established": 3600}``);
        *optimization*: normal, high-latency/satellite, aggressive, conservative (sets the tcp
        timeouts; explicit *timeouts* win); *debug*: a syslog level name or 0-7; *hostid*: 0 lets pf
        pick one; *loginterface*: a name, or "" for none; *reassemble* (with *no_df*); *syncookies*:
        never, always or adaptive, with *syncookies_start*/*_end* in % of the state limit; *skip*:
        ``{"lo0": True, "em1": False}`` (or names to skip)."""
        self._writable("set_options")
        states = (limits or {}).get("states") if limits else None
        changes = check_changes(limits=limits, timeouts=timeouts, optimization=optimization, debug=debug,
                                hostid=hostid, loginterface=loginterface, reassemble=reassemble, no_df=no_df,
                                syncookies=syncookies, syncookies_start=syncookies_start,
                                syncookies_end=syncookies_end,
                                states_limit=states or (self.backend.limits()["states"] if syncookies else None),
                                skip=skip)
        if changes:
            with options_kept(self.backend) as sent, self.backend.transaction((), ()):
                send(self.backend, changes, sent)
        return self.options()

    def set_limit(self, limit: str, value: int) -> T.Options:
        """``set limit <limit> <value>`` (pfctl -sm's names: states, src-nodes, frags, tables,
        table-entries, pktdelay-pkts, anchors)."""
        return self.set_options(limits={limit: value})

    def set_timeout(self, timeout: str, seconds: int) -> T.Options:
        """``set timeout <timeout> <seconds>`` (pfctl -st's names; adaptive.start/end count states)."""
        return self.set_options(timeouts={timeout: seconds})

    def set_optimization(self, profile: str) -> T.Options:
        """``set optimization <profile>``: normal, high-latency (satellite), aggressive, conservative."""
        return self.set_options(optimization=profile)

    def set_debug(self, level: int | str) -> T.Options:
        """``set debug <level>`` (``pfctl -x``): a syslog level name or 0-7."""
        return self.set_options(debug=level)

    def set_hostid(self, hostid: int) -> T.Options:
        """``set hostid <id>`` (0: pf picks a random one)."""
        return self.set_options(hostid=hostid)

    def set_loginterface(self, interface: str | None) -> T.Options:
        """``set loginterface <interface>``; None or "" for none."""
        return self.set_options(loginterface=interface or "")

    def set_skip(self, interface: str, skip: bool = True) -> T.Options:
        """``set skip on <interface>`` (or, with *skip* False, stop skipping it)."""
        return self.set_options(skip={interface: skip})

    def set_reassemble(self, enabled: bool, no_df: bool = False) -> T.Options:
        """``set reassemble yes|no [no-df]``."""
        return self.set_options(reassemble=enabled, no_df=no_df)

    def set_syncookies(self, mode: str, start: float | None = None, end: float | None = None) -> T.Options:
        """``set syncookies never|always|adaptive [(start x%, end y%)]``."""
        return self.set_options(syncookies=mode, syncookies_start=start, syncookies_end=end)


# pfctl_init_options(): what a full load sets when its text does not (frags is left as it is:
# pfctl derives it from kern.maxclusters, which the library does not read)
LOAD_DEFAULT_LIMITS = {C.PF_LIMIT_STATES: C.PFSTATE_HIWAT, C.PF_LIMIT_SRC_NODES: C.PFSNODE_HIWAT,
                       C.PF_LIMIT_TABLES: C.PFR_KTABLE_HIWAT, C.PF_LIMIT_TABLE_ENTRIES: C.PFR_KENTRY_HIWAT,
                       C.PF_LIMIT_PKTDELAY_PKTS: C.PF_PKTDELAY_MAXPKTS, C.PF_LIMIT_ANCHORS: C.PF_ANCHOR_HIWAT}
PFSTATE_ADAPT_START, PFSTATE_ADAPT_END = 60000, 120000
LOG_ERR = 3


def load_default_timeouts() -> dict[int, int]:
    out = {getattr(C, name[:-4]): value for name, value in vars(C).items()
           if name.startswith("PFTM_") and name.endswith("_VAL") and hasattr(C, name[:-4])}
    out[C.PFTM_ADAPTIVE_START] = PFSTATE_ADAPT_START
    out[C.PFTM_ADAPTIVE_END] = PFSTATE_ADAPT_END
    return out


def load_changes(opts: Any, skipped_now: Iterable[str]) -> OptionChanges:
    """The options a main-ruleset load applies, as ``pfctl -f`` does (pfctl_load_options): every
    limit and timeout (the text's, else the default; a states limit without adaptive timeouts
    scales them to 60%/120% of it), debug (default err), loginterface (cleared when unset),
    reassemble (default yes), syncookies (default never) with their watermarks, the skip list
    (every skip cleared, then the listed ones set: pfctl_clear_interface_flags); hostid only when
    the text sets it."""
    limits = {**LOAD_DEFAULT_LIMITS, **opts.limits}
    timeouts = {**load_default_timeouts(), **opts.timeouts}
    if C.PF_LIMIT_STATES in opts.limits and not ({C.PFTM_ADAPTIVE_START, C.PFTM_ADAPTIVE_END} & set(opts.timeouts)):
        states = opts.limits[C.PF_LIMIT_STATES]
        timeouts[C.PFTM_ADAPTIVE_START] = states // 10 * 6
        timeouts[C.PFTM_ADAPTIVE_END] = states // 10 * 12
    states_limit = limits[C.PF_LIMIT_STATES]
    end_pct, start_pct = opts.syncookies_watermarks or (C.PF_SYNCOOKIES_LOWATPCT, C.PF_SYNCOOKIES_HIWATPCT)
    wanted = list(dict.fromkeys(opts.skip or []))
    return OptionChanges(
        limits=tuple(sorted(limits.items())), timeouts=tuple(sorted(timeouts.items())),
        debug=LOG_ERR if opts.debug is None else int(opts.debug), hostid=opts.hostid,
        loginterface=opts.loginterface or "",
        reassemble=C.PF_REASS_ENABLED if opts.reassemble is None else int(opts.reassemble),
        syncookies=C.PF_SYNCOOKIES_NEVER if opts.syncookies is None else int(opts.syncookies),
        watermarks=(int(states_limit * start_pct / 100), int(states_limit * end_pct / 100)),
        skip_on=tuple(wanted), skip_off=("",) if any(True for _ in skipped_now) else ())
