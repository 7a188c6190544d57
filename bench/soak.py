"""``tillpoint bench soak``: a long run at a steady rate; does anything drift or leak?

Runs the load generator (same flows and options as ``tillpoint bench``) for
``--duration`` seconds (default 600) at ``--rate`` flows per second (set it to
half the capacity ``tillpoint bench`` measured), cut into ``--window``-second
windows. Prints JSON: per window the flows, errors and p50/p99 of every
endpoint, and the server's RSS; then the total error count, the latency drift
(last window's p99 over the first's, per endpoint) and each worker's RSS growth.
Targets: zero errors, RSS growth under 10 %.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from rich.console import Console

from bench import procstat
from bench.load import parser as load_parser
from bench.load import run_load
from bench.recorder import Recorder


class Windows:
    """Cuts one run into fixed windows, keeping each window's summary and RSS."""

    def __init__(self, seconds: float, server_pid: int | None) -> None:
        self.seconds = seconds
        self.server_pid = server_pid
        self.closed: list[dict[str, Any]] = []
        self.next_cut = seconds

    def _rss_mb(self) -> dict[str, float]:
        if not self.server_pid:
            return {}
        tree = procstat.process_tree(self.server_pid)
        return {str(p): round(procstat.rss_bytes(p) / 2**20, 1) for p in tree}

    def tick(self, recorder: Recorder, measured: float) -> None:
        if measured < self.next_cut:
            return
        recorder.stop()
        summary = recorder.summary()
        summary["window"] = len(self.closed) + 1
        summary["server_rss_mb"] = self._rss_mb()
        self.closed.append(summary)
        recorder.reset()
        self.next_cut += self.seconds

    def finish(self, last: dict[str, Any]) -> None:
        if last.get("flows_completed") or last.get("flows_failed"):
            self.closed.append({**last, "window": len(self.closed) + 1, "partial": True})


def drift(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """Per endpoint: p99 in the first and last full window and their ratio."""
    out = {}
    for name, a in first["endpoints"].items():
        b = last["endpoints"].get(name)
        if b and a["p99_ms"]:
            out[name] = {
                "first_p99_ms": a["p99_ms"],
                "last_p99_ms": b["p99_ms"],
                "ratio": round(b["p99_ms"] / a["p99_ms"], 2),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    p = load_parser()
    p.prog = "tillpoint bench soak"
    p.description = __doc__
    p.set_defaults(duration=600.0, warmup=10.0)
    p.add_argument("--window", type=float, default=60.0, help="seconds per window")
    args = p.parse_args(argv)
    if not args.rate:
        p.error("--rate is required: half the flows/s `tillpoint bench` measured")
    windows = Windows(args.window, args.server_pid)
    started = time.time()
    report = asyncio.run(run_load(args, Console(stderr=True), tick=windows.tick))
    windows.finish(report)
    full = [w for w in windows.closed if not w.get("partial")]
    errors = sum(sum(w["errors"].values()) for w in windows.closed)
    flows = sum(w["flows_completed"] for w in windows.closed)
    result: dict[str, Any] = {
        "flow": args.flow,
        "rate_per_s": args.rate,
        "shoppers": args.shoppers,
        "duration_s": args.duration,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "flows_completed": flows,
        "error_count": errors,
        "windows": windows.closed,
    }
    if len(full) >= 2:
        result["latency_drift"] = drift(full[0], full[-1])
    if "server_rss" in report:
        result["server_rss"] = report["server_rss"]
        workers = report["server_rss"].values()
        result["rss_growth_pct_max"] = max((w["growth_pct"] for w in workers), default=0.0)
        result["rss_growth_from_cold_pct_max"] = max(
            (w["growth_from_cold_pct"] for w in workers), default=0.0
        )
    if "cpu" in report:
        # CPU is sampled from the end of the warm-up to the end, like the windows; the load
        # report divides it by its recorder's flows, which the windows reset each minute.
        cpu = dict(report["cpu"])
        done = max(flows, 1)
        cpu["total_per_flow_s"] = round(cpu["total_s"] / done, 4)
        cpu["machine_busy_per_flow_s"] = round(cpu["machine_busy_s"] / done, 4)
        result["cpu"] = cpu
    if "verification" in report:
        result["verification"] = report["verification"]
    if "postgres" in report:
        result["postgres"] = report["postgres"]
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    return 0 if errors == 0 and report.get("verification", {}).get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
