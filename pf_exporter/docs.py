"""Reference pages generated from the code, so they cannot drift from it (tests compare them).

    python -m pf_exporter.docs            # rewrite docs/library.md, metrics.md, flags.md
    python -m pf_exporter.docs --check    # exit 1 if one is stale

``library_reference()`` renders every public name of :mod:`pf_exporter.pf` from its
signature and docstring, and the table of py-pf 0.2.3's ``PacketFilter`` methods with their
equivalents here (:data:`PY_PF`); ``metrics_markdown()`` every metric the collectors declare;
``flags_markdown()`` every flag of the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

# Every public method of py-pf 0.2.3's PacketFilter (pf/filter.py), in its order, with what does
# the same here.  An equivalent is "PacketFilter.<name>" (a test checks it exists) or prose.
PY_PF: tuple[tuple[str, str, str], ...] = (
    ("enable()", "PacketFilter.enable", "returns whether pf was stopped before"),
    ("disable()", "PacketFilter.disable", "returns whether pf was running before"),
    ("set_debug(level)", "PacketFilter.set_debug", "a syslog level name or 0-7"),
    ("set_hostid(id)", "PacketFilter.set_hostid", ""),
    ("set_reassembly(flags)", "PacketFilter.set_reassemble", "`set_reassemble(enabled, no_df)`"),
    ("get_limit(limit=None)", "PacketFilter.limits", "all limits at once, by pfctl's names"),
    ("set_limit(limit, value)", "PacketFilter.set_limit", "by pfctl's names; `set_options()` sets several at once"),
    ("get_timeout(timeout=None)", "PacketFilter.timeouts", "all timeouts at once, by pfctl's names"),
    ("set_timeout(timeout, value)", "PacketFilter.set_timeout", ""),
    ("set_optimization(opt)", "PacketFilter.set_optimization", ""),
    ("get_optimization()", "PacketFilter.options", "`options().optimization`: the profile the tcp timeouts match"),
    ("get_ifaces(ifname='')", "PacketFilter.interfaces", "every interface and group; filter by `name`"),
    ("set_ifflags(ifname, flags)", "PacketFilter.set_skip", "`set skip on`, the one flag there is"),
    ("clear_ifflags(ifname, flags)", "PacketFilter.set_skip", "`set_skip(ifname, False)`"),
    ("set_status_if(ifname)", "PacketFilter.set_loginterface", ""),
    ("get_status()", "PacketFilter.status", ""),
    ("clear_status(ifname='')", "PacketFilter.clear_counters", "`clear_counters(interface)` for one interface"),
    ("get_states()", "PacketFilter.states", "an iterator, with filters; `state_count()` without reading them"),
    ("clear_states(ifname='')", "PacketFilter.kill_states", "`kill_states(all=True, interface=...)`"),
    ("kill_states(af, proto, src, dst, ifname, label, rdomain)", "PacketFilter.kill_states",
     "the same conditions plus ports, id, rule (with its anchor)"),
    ("clear_rules(path='')", "PacketFilter.load", "`load('', anchor)` empties an anchor atomically"),
    ("load_queues(*queues)", "PacketFilter.load", "queues are part of a main-ruleset load, as with `pfctl -f`"),
    ("get_queues()", "PacketFilter.queues", "HFSC and fq_codel statistics as the kernel gives them"),
    ("get_ruleset(path='', clear=False, **kw)", "PacketFilter.rules",
     "rules with counters and pfctl's text; `ruleset_text()` for `pfctl -sr`; `clear_rule_counters()`"),
    ("load_ruleset(ruleset, path='', *types)", "PacketFilter.load",
     "pf.conf text (or a compiled `LoadPlan`), one transaction with rollback"),
    ("add_tables(*tables)", "PacketFilter.create_table", "one table, with its persist/const/counters flags"),
    ("clear_tables(filter=None)", "PacketFilter.flush_tables", "every table of an anchor (`pfctl -F Tables`)"),
    ("del_tables(*tables)", "PacketFilter.delete_table", "`pfctl -T kill`"),
    ("get_tables(filter=None)", "PacketFilter.tables", "with their counters (py-pf's get_tstats)"),
    ("test_addrs(table, *addrs)", "PacketFilter.test_addresses", "each result names the entry that decided it"),
    ("add_addrs(table, *addrs)", "PacketFilter.add_addresses", ""),
    ("clear_addrs(table)", "PacketFilter.flush_table", "`pfctl -T flush`"),
    ("del_addrs(table, *addrs)", "PacketFilter.delete_addresses", ""),
    ("set_addrs(table, *addrs)", "PacketFilter.replace_addresses", ""),
    ("get_addrs(table)", "PacketFilter.table_addresses", "with per-address counters unless `counters=False`"),
    ("get_tstats(filter=None)", "PacketFilter.tables", ""),
    ("clear_tstats(*tables)", "PacketFilter.zero_tables", "`zero_addresses()` for some addresses' counters"),
    ("get_synflood_watermarks()", "PacketFilter.syncookie_watermarks", ""),
    ("set_synflood_watermarks(start, end)", "PacketFilter.set_syncookies",
     "`set_syncookies('adaptive', start, end)` in % of the state limit, as pf.conf says it"),
    ("set_syncookies(mode)", "PacketFilter.set_syncookies", ""),
)


def _doc(obj: object) -> str:
    """A docstring as Markdown: reST roles and double backquotes become plain code spans."""
    text = inspect.cleandoc(obj.__doc__ or "").strip()
    text = re.sub(r":(?:meth|class|func|mod|data|attr|exc):`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`"
                  if m.group(0).find("~") > 0 else f"`{m.group(1)}`", text)
    return text.replace("``", "`")


def _first_paragraph(obj: object) -> str:
    return " ".join(_doc(obj).split("\n\n", 1)[0].split())


def _signature(fn: object) -> str:
    try:
        sig = inspect.signature(fn)  # type: ignore[arg-type]  # any callable the page documents
    except (TypeError, ValueError):
        return "(...)"
    params = [p for name, p in sig.parameters.items() if name not in ("self", "cls")]
    text = str(sig.replace(parameters=params, return_annotation=sig.return_annotation))
    return re.sub(r"(: |-> )'([^']*)'", r"\1\2", text).replace("T.", "")


def _methods(cls: type) -> list[str]:
    out = []
    members: dict[str, Any] = {}
    for base in reversed(cls.__mro__[:-1]):  # the class's own and its mixins' (not object's)
        members.update(vars(base))
    for name, member in members.items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out.append(f"- **`{name}`** (property): {_doc(member)}")
        elif isinstance(member, classmethod | staticmethod) or inspect.isfunction(member):
            fn = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            kind = "classmethod " if isinstance(member, classmethod) else ""
            text = _doc(fn).replace("\n", "\n  ")
            out.append(f"- **`{kind}{name}{_signature(fn)}`**\n\n  {text}")
    return out


def _fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f"`{f.name}: {f.type}`" for f in dataclasses.fields(cls)]
    if hasattr(cls, "_fields"):  # NamedTuple
        return [f"`{n}: {getattr(t, '__forward_arg__', getattr(t, '__name__', t))}`"
                for n, t in cls.__annotations__.items()]
    return []


def library_reference() -> str:
    """docs/library.md."""
    import pf_exporter.pf as pflib
    from pf_exporter.pf import PacketFilter, PfError

    lines = [
        "# The pf library: reference",
        "",
        "<!-- generated by `python -m pf_exporter.docs` from the code; a test keeps it equal -->",
        "",
        _doc(pflib).split("\n\n::", 1)[0],
        "",
        "Import everything from `pf_exporter.pf`; the names below are the whole public API. "
        "The README's *Python library* section has a worked example.",
        "",
        "## PacketFilter",
        "",
        _doc(PacketFilter),
        "",
        *[m + "\n" for m in _methods(PacketFilter)],
        "## Values",
        "",
    ]
    errors: list[tuple[str, Any]] = []
    values: list[tuple[str, Any]] = []
    for name in pflib.__all__:
        obj = getattr(pflib, name)
        if name == "PacketFilter":
            continue
        (errors if isinstance(obj, type) and issubclass(obj, BaseException) else values).append((name, obj))
    for name, obj in values:
        lines += [f"### {name}", "", _doc(obj), ""]
        fields = _fields(obj)
        if fields:
            lines += ["Fields: " + ", ".join(fields) + ".", ""]
        extra = [m for m in _methods(obj) if not m.startswith("- **`__")] if isinstance(obj, type) else []
        if extra:
            lines += [*[m + "\n" for m in extra]]
    lines += ["## Errors", "", "Every error is a `PfError` (an `OSError` with `errno` and `request`):", ""]

    def tree(cls: type, depth: int) -> None:
        subclasses: list[type] = sorted(cls.__subclasses__(), key=lambda c: c.__name__)
        for sub in subclasses:
            if sub.__name__ in pflib.__all__:
                lines.append(f"{'  ' * depth}- `{sub.__name__}`: {_first_paragraph(sub)}")
                tree(sub, depth + 1)

    lines.append(f"- `PfError`: {_first_paragraph(PfError)}")
    tree(PfError, 1)
    lines += ["", "## From py-pf", "",
              "Every public method of py-pf 0.2.3's `PacketFilter` (`pf/filter.py`) and what does the same here.",
              "Unlike py-pf, one handle keeps one descriptor open, every walk releases its ticket (DIOCXEND), "
              "errors are typed, and nothing is changed unless the handle was opened writable.", "",
              "| py-pf | pf_exporter.pf | notes |", "|---|---|---|"]
    for method, ours, note in PY_PF:
        lines.append(f"| `{method}` | {f'`{ours}()`' if ours else '—'} | {note} |")
    return "\n".join(lines).rstrip() + "\n"


def metrics_markdown() -> str:
    """The table of every metric, generated from the collectors' declarations."""
    from .collectors import COLLECTORS
    from .exporter import SELF_SPECS

    lines = ["| metric | type | labels | collector | meaning |", "|---|---|---|---|---|"]
    rows = [(cls.name, cls.default_enabled, s) for cls in COLLECTORS.values() for s in cls.specs]
    rows += [("exporter", True, s) for s in SELF_SPECS]
    for collector, default, s in rows:
        where = collector if default else f"{collector} (off by default)"
        if s.name.startswith("pf_rule_"):
            where += " (--collector.rules.per-rule)"
        labels = ", ".join(f"`{label}`" for label in s.labels)
        meaning = s.help.replace("|", "\\|")
        lines.append(f"| `{s.name}` | {s.kind} | {labels} | {where} | {meaning} |")
    lines.append("| `process_*` | | | exporter | this process: `process_cpu_seconds_total`, `process_open_fds`, "
                 "`process_max_fds`, `process_start_time_seconds`, and the memory sizes (client_python's on Linux; "
                 "on OpenBSD the peak resident size, `process_max_resident_memory_bytes`); left out with "
                 "`--web.disable-exporter-metrics`, as are the `pf_exporter_*` families |")
    return "\n".join(lines) + "\n"


def flags_markdown() -> str:
    """The table of every flag, generated from the parser."""
    from .cli import build_parser
    from .collectors import COLLECTORS
    from .web import DEFAULT_LISTEN_ADDRESS

    lines = ["| flag | default | meaning |", "|---|---|---|"]
    for action in build_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flags = " / ".join(f"`{o}`" for o in action.option_strings)
        if action.metavar:
            flags = " / ".join(f"`{o} {action.metavar}`" for o in action.option_strings)
        default = action.default
        if action.dest == "listen":
            default = DEFAULT_LISTEN_ADDRESS
        elif action.dest.startswith("collector_"):
            default = "on" if COLLECTORS[action.dest.removeprefix("collector_")].default_enabled else "off"
        elif action.dest == "admin_socket_mode":
            default = f"{default:04o}"
        elif isinstance(default, float) and default.is_integer():
            default = int(default)
        elif isinstance(default, bool) or default is None or action.dest == "version":
            default = ""
        meaning = re.sub(r"\s*\(default[^)]*\)$", "", action.help or "").replace("|", "\\|")
        if action.choices:
            meaning += f" (one of {', '.join(map(str, action.choices))})"
        lines.append(f"| {flags} | {f'`{default}`' if default else ''} | {meaning} |")
    return "\n".join(lines) + "\n"


def metrics_page() -> str:
    """docs/metrics.md."""
    return ("# Metrics\n\n<!-- generated by `python -m pf_exporter.docs` from the collectors; a test keeps it equal "
            "-->\n\n" + METRICS_PROSE + "\n\n" + metrics_markdown())


METRICS_PROSE = """Label values are pfctl's own words (`counter="state-mismatch"`, `timeout="tcp.established"`,
`limit="table-entries"`); counters end in `_total`; times are seconds and sizes bytes. `anchor=""`
is the main ruleset. A collector that fails reports `pf_scrape_collector_success{collector} 0` and
exports none of its series; the scrape itself still succeeds. Rules are aggregated by
`(anchor, label)`, like `pfctl -sl`, so series survive ruleset reloads; `--collector.rules.per-rule`
adds `pf_rule_*` series (there `direction` is the rule's own direction and `packet_direction` the
counted traffic's). `/` lists this table for the running exporter; `/metrics?collect[]=tables`
scrapes one collector.

`/metrics` answers in the text format 0.0.4 whenever the `Accept` header allows it (Prometheus's
default does), in OpenMetrics only when that is all a client accepts, gzipped when asked for. A text
body over 64 KiB (counted after gzip) is sent while it is written (`Transfer-Encoding: chunked`;
HTTP/1.0 clients get it whole with a `Content-Length`); if writing it fails halfway the connection is
cut without the final chunk, so a scraper sees a failed scrape, never a short one. (OpenMetrics
bodies are built whole by prometheus_client, then sent the same way.) `/-/healthy` answers `Healthy`.

Two names differ from the pfctl words they stand for, for a reason: queue bandwidths are
`pf_queue_*bandwidth_bytes_per_second` (configured bits ÷ 8) because `promtool check metrics`
refuses `bits`; `adaptive.start`/`adaptive.end` are state counts, so they are
`pf_timeout_adaptive_states{timeout}` rather than seconds."""


def flags_page() -> str:
    """docs/flags.md."""
    return ("# Flags\n\n<!-- generated by `python -m pf_exporter.docs` from the parser; a test keeps it equal -->\n\n"
            "Every command-line flag of `pf_exporter` (`pf_exporter --help` prints the same). The default port is "
            "**10073**: 9100–9999 of Prometheus's default-port allocations is full, and no known exporter uses "
            "10073. A mistyped or unknown flag is one line that names it (and the closest flag, if any) and "
            "points to `--help`, exit status 2; a configuration that cannot work is one `pf_exporter: ...` line, "
            "exit status 1.\n\n" + flags_markdown())


def runbooks_page() -> str:
    """docs/runbooks.md: the runbooks the exporter serves at /runbooks."""
    from . import runbooks

    text = runbooks.markdown()
    title, _, rest = text.partition("\n")
    return (f"{title}\n\n<!-- generated by `python -m pf_exporter.docs` from pf_exporter/runbooks.md (what the "
            f"exporter serves at /runbooks); a test keeps it equal -->\n{rest}")


DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = {"library.md": library_reference, "metrics.md": metrics_page, "flags.md": flags_page,
         "runbooks.md": runbooks_page}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="regenerate the reference pages in docs/")
    ap.add_argument("--check", action="store_true", help="only check that they are current")
    args = ap.parse_args(argv)
    stale = []
    for name, render in PAGES.items():
        path = DOCS / name
        text = render()
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run python -m pf_exporter.docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
