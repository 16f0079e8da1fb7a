"""What a benchmark reports: its rows and outcome, the run's context, the machine, the log."""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


def log(message: str) -> None:
    """Progress line on stderr, timestamped (stdout carries the results)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One figure of a benchmark: median over runs, with the spread (min-max) and a target."""

    metric: str
    values: list[float]
    unit: str
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def median(self) -> float:
        """The median over runs."""
        return statistics.median(self.values) if self.values else float("nan")

    def spread(self) -> str:
        """`min-max (n runs)`, or '' for a single value."""
        if len(self.values) < 2:
            return ""
        return f"{fmt(min(self.values))}-{fmt(max(self.values))} (n={len(self.values)})"


@dataclass
class Outcome:
    """What one benchmark measured, with notes that say how."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        """Append `row` and print it."""
        self.rows.append(row)
        verdict = {True: "  [meets target]", False: "  [SHORT of target]", None: ""}[row.ok]
        target = f"  target {row.target}" if row.target else ""
        spread = f"  spread {row.spread()}" if row.spread() else ""
        print(f"  {row.metric}: {fmt(row.median)} {row.unit}{spread}{target}{verdict}", flush=True)
        return row


@dataclass
class Context:
    """Options of this run and figures one benchmark hands to another."""

    quick: bool
    shared: dict[str, float] = field(default_factory=dict)
    started: datetime = field(default_factory=datetime.now)


def fmt(value: float) -> str:
    """A number with sensible precision."""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value else "0"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def machine() -> dict[str, str]:
    """Facts about this machine for the report."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "python": sys.version.split()[0],
    }


def load_average() -> str:
    """The 1/5/15-minute load averages now."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
