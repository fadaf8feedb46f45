"""pf_exporter.pf: OpenBSD's Packet Filter from Python, the way pfctl talks to it.

::

    from pf_exporter.pf import PacketFilter

    with PacketFilter.open() as pf:              # /dev/pf, read-only (writable=True needs root)
        print(pf.status().states, pf.limits()["states"])
        for rule in pf.rules():                  # the main ruleset, with counters and text
            print(rule.number, rule.packets, rule.text)

    with PacketFilter.simulated("small") as pf:  # a simulated pf, same interface, writable
        pf.add_addresses("bruteforce", ["192.0.2.7"])
        pf.kill_states(source="192.0.2.7")

Every name in ``__all__`` is the stable API: :class:`PacketFilter`, the value types it returns
(frozen dataclasses with pfctl's names; addresses are :mod:`ipaddress` objects) and one
exception hierarchy under :class:`PfError`.  ``docs/library.md`` lists every method.
"""

from __future__ import annotations

from ..errors import (
    PfAbiMismatch,
    PfBusy,
    PfError,
    PfExists,
    PfInvalid,
    PfInvalidArgument,
    PfLimitError,
    PfLoadError,
    PfNotFound,
    PfNotPresent,
    PfPermissionError,
    PfReadOnlyError,
    PfSecurelevelError,
    PfStaleTicket,
    PfUnsupported,
    Problem,
)
from .filter import LoadPlan, PacketFilter
from .types import (
    AddressMatch,
    AddressResult,
    Endpoint,
    FingerprintLoad,
    FlowQueueStats,
    Interface,
    LabelTotals,
    LoadResult,
    Options,
    OsFingerprint,
    PortMatch,
    Queue,
    QueueStats,
    Rule,
    RuleCounters,
    Ruleset,
    SourceEntry,
    SourceLimiter,
    SourceNode,
    State,
    StateFilter,
    StateKey,
    StateLimiter,
    Status,
    Table,
    TableAddress,
    TableChange,
    TableTest,
)

__all__ = [
    "AddressMatch", "AddressResult", "Endpoint", "FingerprintLoad", "FlowQueueStats", "Interface", "LabelTotals",
    "LoadPlan", "LoadResult", "Options", "OsFingerprint", "PacketFilter", "PfAbiMismatch", "PfBusy", "PfError",
    "PfExists", "PfInvalid", "PfInvalidArgument", "PfLimitError", "PfLoadError", "PfNotFound", "PfNotPresent",
    "PfPermissionError", "PfReadOnlyError", "PfSecurelevelError", "PfStaleTicket", "PfUnsupported", "PortMatch",
    "Problem", "Queue", "QueueStats", "Rule", "RuleCounters", "Ruleset", "SourceEntry", "SourceLimiter",
    "SourceNode", "State", "StateFilter", "StateKey", "StateLimiter", "Status", "Table", "TableAddress",
    "TableChange", "TableTest"
]
