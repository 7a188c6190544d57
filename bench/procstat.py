"""CPU time and memory of processes from ``/proc`` (Linux): the server, PostgreSQL, us.

CPU-seconds per completed flow is the figure that compares across machines, so
a run samples the CPU time of three groups at start and end: the server's
process tree (``--server-pid``), every ``postgres`` process, and the load
generator itself; plus the machine's total busy time from ``/proc/stat``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may contain spaces: split after it.
    head, _, rest = raw.rpartition(")")
    return [head.split("(", 1)[1], *rest.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used (0.0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(1) ppid(2) ... utime(12) stime(13) in this list's numbering.
    return (int(fields[12]) + int(fields[13])) / TICKS


def rss_bytes(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[22]) * PAGE if fields else 0


def all_processes() -> dict[int, tuple[str, int]]:
    """pid → (command name, parent pid) of every live process."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                found[int(entry.name)] = (fields[0], int(fields[2]))
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (a uvicorn master and its workers)."""
    procs = all_processes()
    children: dict[int, list[int]] = {}
    for pid, (_name, ppid) in procs.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            tree.append(pid)
            todo += children.get(pid, [])
    return tree


def named(name: str) -> list[int]:
    return [pid for pid, (comm, _ppid) in all_processes().items() if comm == name]


def machine_busy_seconds() -> float:
    """Non-idle CPU time of the whole machine since boot, summed over cores."""
    parts = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts[:8]) - idle) / TICKS


@dataclass
class CpuSample:
    server: dict[int, float]
    postgres: dict[int, float]
    self_s: float
    machine_s: float


def sample_cpu(server_pid: int | None) -> CpuSample:
    server = {p: cpu_seconds(p) for p in process_tree(server_pid)} if server_pid else {}
    return CpuSample(
        server=server,
        postgres={p: cpu_seconds(p) for p in named("postgres")},
        self_s=sum(os.times()[:2]),
        machine_s=machine_busy_seconds(),
    )


def cpu_delta(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU-seconds each group spent between two samples (processes born since count fully)."""

    def group(a: dict[int, float], b: dict[int, float]) -> float:
        return sum(b[p] - a.get(p, 0.0) for p in b)

    server = group(before.server, after.server)
    postgres = group(before.postgres, after.postgres)
    load = after.self_s - before.self_s
    return {
        "server_s": round(server, 2),
        "postgres_s": round(postgres, 2),
        "load_generator_s": round(load, 2),
        "total_s": round(server + postgres + load, 2),
        "machine_busy_s": round(after.machine_s - before.machine_s, 2),
    }


@dataclass
class RssWatch:
    """Peak, first, warm and last RSS per server process, sampled during the run.

    Growth counts from ``warm`` (the sample at the end of the warm-up, when the load's
    other figures start): before it a worker imports lazily, compiles its statements and
    fills its pools, which is start-up, not growth under load. ``from_cold_pct`` keeps
    the growth from the first sample too."""

    server_pid: int
    first: dict[int, int] = field(default_factory=dict)
    warm: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    peak: dict[int, int] = field(default_factory=dict)

    def sample(self) -> None:
        for pid in process_tree(self.server_pid):
            rss = rss_bytes(pid)
            self.first.setdefault(pid, rss)
            self.last[pid] = rss
            self.peak[pid] = max(self.peak.get(pid, 0), rss)

    def warmed(self) -> None:
        """The warm-up is over: growth counts from the latest sample."""
        self.sample()
        self.warm = dict(self.last)

    def summary(self) -> dict[str, dict[str, float]]:
        mb = 1024 * 1024

        def pct(start: int, end: int) -> float:
            return round(100 * (end - start) / start, 1) if start else 0.0

        out = {}
        for pid in sorted(self.peak):
            warm = self.warm.get(pid, self.first[pid])
            out[str(pid)] = {
                "first_mb": round(self.first[pid] / mb, 1),
                "warm_mb": round(warm / mb, 1),
                "last_mb": round(self.last[pid] / mb, 1),
                "peak_mb": round(self.peak[pid] / mb, 1),
                "growth_pct": pct(warm, self.last[pid]),
                "growth_from_cold_pct": pct(self.first[pid], self.last[pid]),
            }
        return out
