"""Reads pf through a :class:`~pf_exporter.device.Device` into :mod:`pf_exporter.model` values.

(Stub: the public interface; implemented under issue 2.)
"""

from __future__ import annotations

from collections.abc import Iterator

from . import model
from .device import Device


class Reader:
    """High-level reads of pf state.  Every method returns model values only."""

    def __init__(self, device: Device) -> None:
        self.device = device

    def status(self) -> model.Status: raise NotImplementedError
    def limits(self) -> dict[str, int]: raise NotImplementedError
    def timeouts(self) -> dict[str, int]: raise NotImplementedError
    def interfaces(self) -> list[model.Interface]: raise NotImplementedError
    def tables(self) -> list[model.Table]: raise NotImplementedError
    def table_addresses(self, anchor: str, table: str) -> list[model.TableAddress]: raise NotImplementedError
    def anchors(self) -> list[str]: raise NotImplementedError
    def rules(self, anchor: str = "") -> list[model.Rule]: raise NotImplementedError
    def rulesets(self) -> list[model.Ruleset]: raise NotImplementedError
    def queues(self) -> list[model.Queue]: raise NotImplementedError
    def state_limiters(self) -> list[model.StateLimiter]: raise NotImplementedError
    def source_limiters(self) -> list[model.SourceLimiter]: raise NotImplementedError
    def states(self) -> Iterator[model.State]: raise NotImplementedError
