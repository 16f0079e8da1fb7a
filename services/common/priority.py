"""Batch CPU work yields to the request paths: a lower CPU priority for parser and embedder.

A nice value only weighs against processes of the same scheduling group. Linux with
`CONFIG_SCHED_AUTOGROUP` (on by default in most desktop and many server distributions: see
/proc/sys/kernel/sched_autogroup_enabled) puts each session in its own group and shares the CPU
*between groups* equally, whatever their processes' nice values; every service the local stack
starts is its own session (infra/local/process.py), so a niced embedder still took half of a
2-core machine from ingest (measured: ingest p95 at 50 uploads/s 24 ms alone, 551 ms beside two
nice +10 busy loops in their own sessions, 47 ms when their groups were niced too). So a process
that leads its own session lowers its group's priority as well (/proc/self/autogroup, see
sched(7)); one started from a shell that it does not lead leaves the shell's group alone.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)
AUTOGROUP = Path("/proc/self/autogroup")
_TRIES = 20  # the kernel takes one unprivileged autogroup change per 100 ms, system-wide


def lower_cpu_priority(increment: int) -> None:
    """Raise this process's nice value by `increment` (call before any thread starts: threads
    inherit it), and its autogroup's when it leads its session (see the module docstring)."""
    if increment <= 0:
        return
    niceness = os.nice(increment)
    group = "left alone (not a session leader)"
    if os.getsid(0) == os.getpid():
        group = "not in effect" if autogroup_nice() is None else _nice_autogroup(niceness)
    log.info("nice value now %d; autogroup %s", niceness, group)


def autogroup_nice() -> int | None:
    """This process's autogroup nice value; None where autogroups do not apply: a kernel without
    them, or a process in a CPU cgroup of its own (most containers, CI's among them), for which
    the kernel prints an empty /proc/self/autogroup."""
    try:
        fields = AUTOGROUP.read_text().split()
    except OSError:
        return None
    return int(fields[-1]) if fields else None


def _nice_autogroup(niceness: int) -> str:
    """Set this session's autogroup nice value; what happened, for the log."""
    for _ in range(_TRIES):
        try:
            AUTOGROUP.write_text(str(niceness))
        except BlockingIOError:  # EAGAIN: another process changed an autogroup just now
            time.sleep(0.11)
        except OSError as error:
            return f"unchanged ({error.strerror})"
        else:
            return f"nice {niceness}"
    return "unchanged (the kernel kept refusing: EAGAIN)"
