"""The simulator's injectable clock: wall time (epoch) and time since boot move together."""

from __future__ import annotations

# 2026-06-01 00:00:00 UTC: a fixed, deterministic "now" for every simulator.
DEFAULT_EPOCH = 1_780_272_000.0
# The simulated machine has been up for three days when a scenario starts.
DEFAULT_UPTIME = 3 * 86400.0


class SimClock:
    """Epoch and uptime seconds, moved only by :meth:`advance` (never by real time)."""

    def __init__(self, epoch: float = DEFAULT_EPOCH, uptime: float = DEFAULT_UPTIME) -> None:
        if uptime < 0:
            raise ValueError(f"uptime must be >= 0, got {uptime}")
        self._epoch = float(epoch)
        self._uptime = float(uptime)

    def now(self) -> int:
        """Epoch seconds, as the kernel's gettime()."""
        return int(self._epoch)

    def uptime(self) -> int:
        """Seconds since boot, as the kernel's getuptime()."""
        return int(self._uptime)

    def nsecuptime(self) -> int:
        return int(self._uptime * 1_000_000_000)

    @property
    def boottime(self) -> int:
        """Epoch seconds at boot."""
        return int(self._epoch - self._uptime)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got advance({seconds})")
        self._epoch += seconds
        self._uptime += seconds
