"""Collectors: one module per concern of pf, each turning model values into metric families.

:data:`COLLECTORS` is the registry the CLI builds ``--collector.<name>`` flags from, in
exposition order.
"""

from __future__ import annotations

from .base import Collector, Family, MetricSpec, PfSource, ScrapeView
from .carp import CarpCollector
from .interfaces import InterfacesCollector
from .limiters import LimitersCollector
from .limits import LimitsCollector
from .pfsync import PfsyncCollector
from .queues import QueuesCollector
from .rules import RulesCollector
from .srcnodes import SourceNodesCollector
from .states import StatesCollector
from .status import StatusCollector
from .tables import TablesCollector
from .timeouts import TimeoutsCollector

COLLECTORS: dict[str, type[Collector]] = {
    c.name: c
    for c in (
        StatusCollector,
        LimitsCollector,
        TimeoutsCollector,
        InterfacesCollector,
        TablesCollector,
        RulesCollector,
        QueuesCollector,
        LimitersCollector,
        CarpCollector,
        PfsyncCollector,
        StatesCollector,
        SourceNodesCollector,
    )
}

__all__ = ["COLLECTORS", "Collector", "Family", "MetricSpec", "PfSource", "ScrapeView"]
