"""Measured load for the seed's adaptive rate limiting.

Load is the peak number of in-flight requests and the event-loop lag seen over the
last monitor interval. When either passes its threshold the instance is *surging*
and every limit shrinks by the surge multiplier; when both fall back below, limits
recover. Tests drive :meth:`LoadMonitor.observe` directly with measured values.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

_LAG_PROBE_SECONDS = 0.05


@dataclass
class LoadMonitor:
    """In-flight counter, lag probe and the surge decision they feed."""

    in_flight_threshold: int
    lag_threshold_ms: int
    surge_multiplier: float
    enabled: bool = True
    in_flight: int = 0
    peak_in_flight: int = 0
    lag_ms: float = 0.0
    surging: bool = False

    def request_started(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def request_finished(self) -> None:
        self.in_flight = max(self.in_flight - 1, 0)

    def observe(self, *, in_flight: int, lag_ms: float) -> bool:
        """Take one measurement; returns whether the instance is now surging."""
        self.lag_ms = lag_ms
        surging = self.enabled and (
            in_flight >= self.in_flight_threshold or lag_ms >= self.lag_threshold_ms
        )
        if surging != self.surging:
            log.warning(
                "adaptive rate limits %s",
                "shrunk" if surging else "recovered",
                extra={"in_flight": in_flight, "lag_ms": round(lag_ms, 1)},
            )
        self.surging = surging
        return surging

    @property
    def multiplier(self) -> float:
        """What every limit is multiplied by now (1.0 unless surging)."""
        return self.surge_multiplier if self.surging else 1.0

    def scaled(self, amount: int) -> int:
        """A limit under the current load: shrunk while surging, never below 1."""
        return max(1, int(amount * self.multiplier))

    async def run(self, interval_seconds: float) -> None:
        """Sample forever: every interval, the peak in-flight count and a lag probe."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(interval_seconds - _LAG_PROBE_SECONDS, 0))
            started = loop.time()
            await asyncio.sleep(_LAG_PROBE_SECONDS)
            lag_ms = max(loop.time() - started - _LAG_PROBE_SECONDS, 0.0) * 1000
            self.observe(in_flight=self.peak_in_flight, lag_ms=lag_ms)
            self.peak_in_flight = self.in_flight
