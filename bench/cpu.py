"""CPU seconds used by a process and everything under it (sandbox workers, Postgres backends)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    """Every live process's children, by parent pid."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def tree_cpu_s(pid: int, tree: Mapping[int, list[int]] | None = None) -> float:
    """User + system CPU seconds of `pid` and its descendants, the reaped ones included.

    utime+stime of each live process plus cutime+cstime (what its waited-for children used), so
    a worker that was replaced still counts. NaN if `pid` is gone.
    """
    tree = _children() if tree is None else tree
    total, stack, seen = 0.0, [pid], False
    while stack:
        current = stack.pop()
        fields = _stat(current)
        if fields is None:
            continue
        seen = True
        # fields[11:15] are utime, stime, cutime, cstime (stat fields 14-17)
        total += sum(int(value) for value in fields[11:15]) / TICKS
        stack.extend(tree.get(current, ()))
    return total if seen else float("nan")


def snapshot(pids: Mapping[str, int], *, own: str = "") -> dict[str, float]:
    """CPU seconds so far of each labelled process tree, and of this process alone as `own`.

    This process alone: the stack's processes are its children, counted under their labels.
    """
    tree = _children()
    found = {label: tree_cpu_s(pid, tree) for label, pid in pids.items()}
    if own:
        times = os.times()
        found[own] = times.user + times.system
    return found


def per_item(
    before: Mapping[str, float], after: Mapping[str, float], items: int
) -> dict[str, float]:
    """CPU seconds per item of each label between two snapshots (NaN when there were none)."""
    return {
        label: (after[label] - before[label]) / items if items else float("nan")
        for label in before
        if label in after
    }
