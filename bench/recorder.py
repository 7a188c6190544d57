"""What a load run measured: latency per endpoint template, statuses, errors, flow counts.

Latencies are kept as raw samples (milliseconds) so percentiles are exact, not
bucketed; a few hundred thousand floats is a few megabytes.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_samples: list[float], q: float) -> float:
    """The ``q`` (0..100) percentile by the nearest-rank method of an ascending list."""
    if not sorted_samples:
        return math.nan
    rank = max(math.ceil(q / 100 * len(sorted_samples)), 1)
    return sorted_samples[rank - 1]


@dataclass
class Recorder:
    """Collects every timed request of every shopper of one run (single event loop, no locks)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    flows_completed: int = 0
    flows_failed: int = 0
    requests: int = 0
    started: float = field(default_factory=time.perf_counter)
    stopped: float | None = None

    def reset(self) -> None:
        """Forget everything measured so far (end of the warm-up)."""
        self.latencies.clear()
        self.statuses.clear()
        self.errors.clear()
        self.flows_completed = self.flows_failed = self.requests = 0
        self.started = time.perf_counter()
        self.stopped = None

    def request(self, template: str, status: int | str, elapsed_ms: float) -> None:
        self.requests += 1
        self.latencies[template].append(elapsed_ms)
        self.statuses[str(status)] += 1
        if not (isinstance(status, int) and 200 <= status < 400):
            self.errors[f"{template} -> {status}"] += 1

    def flow_done(self, ok: bool, reason: str | None = None) -> None:
        if ok:
            self.flows_completed += 1
        else:
            self.flows_failed += 1
            if reason:
                self.errors[f"flow failed: {reason}"] += 1

    def stop(self) -> None:
        self.stopped = time.perf_counter()

    @property
    def elapsed(self) -> float:
        end = self.stopped if self.stopped is not None else time.perf_counter()
        return max(end - self.started, 1e-9)

    def summary(self) -> dict[str, Any]:
        """The JSON-ready figures: rates, per-template percentiles, statuses, errors."""
        endpoints = {}
        for template, samples in sorted(self.latencies.items()):
            ordered = sorted(samples)
            endpoints[template] = {
                "count": len(ordered),
                "p50_ms": round(percentile(ordered, 50), 2),
                "p95_ms": round(percentile(ordered, 95), 2),
                "p99_ms": round(percentile(ordered, 99), 2),
                "max_ms": round(ordered[-1], 2),
            }
        return {
            "elapsed_s": round(self.elapsed, 3),
            "flows_completed": self.flows_completed,
            "flows_failed": self.flows_failed,
            "flows_per_s": round(self.flows_completed / self.elapsed, 2),
            "requests": self.requests,
            "requests_per_s": round(self.requests / self.elapsed, 1),
            "statuses": dict(sorted(self.statuses.items())),
            "errors": dict(self.errors.most_common()),
            "endpoints": endpoints,
        }
