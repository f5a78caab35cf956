"""Linux /proc readings for the runner: CPU time and peak RSS per process tree, host CPU per core.

They let a result say whether the gateway's core was saturated and whether other work on the host
(another tenant of a shared machine) competed for the CPU during the measured window.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        fields = _stat_fields(p)
        if fields:
            children.setdefault(int(fields[1]), []).append(p)
    out: list[int] = []
    stack = [pid]
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(children.get(x, []))
    return out


def process_ticks() -> dict[int, int]:
    """CPU time (clock ticks) of every process on the host, by pid."""
    out: dict[int, int] = {}
    for p in _all_pids():
        fields = _stat_fields(p)
        if fields:
            out[p] = int(fields[11]) + int(fields[12])  # utime + stime
    return out


def peak_rss_mb(pid: int) -> float:
    """Sum of VmHWM (peak resident set) over the process tree, in MB."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        except OSError:
            continue
        if m:
            total += int(m.group(1))
    return round(total / 1024, 1)


@dataclass(frozen=True)
class CpuSample:
    """Per-core (busy, total) jiffies from /proc/stat."""

    cores: dict[str, tuple[int, int]]

    @classmethod
    def take(cls) -> CpuSample:
        cores: dict[str, tuple[int, int]] = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    name, *raw = line.split()
                    v = [int(x) for x in raw[:8]]
                    total = sum(v)
                    cores[name] = (total - v[3] - v[4], total)  # minus idle and iowait
        return cls(cores)

    def busy_since(self, before: CpuSample) -> dict[str, float]:
        """Busy % of each core between two samples."""
        out = {}
        for name, (busy, total) in self.cores.items():
            b0, t0 = before.cores.get(name, (0, 0))
            out[name] = round(100 * (busy - b0) / max(1, total - t0), 1)
        return out


def cpu_pct(
    ticks_before: dict[int, int], ticks_after: dict[int, int], pids: set[int], secs: float
) -> float:
    """CPU used by ``pids`` between two process_ticks() snapshots, in % of one core."""
    used = sum(ticks_after[p] - ticks_before.get(p, 0) for p in pids if p in ticks_after)
    return round(100 * used / CLK_TCK / max(secs, 1e-9), 1)
