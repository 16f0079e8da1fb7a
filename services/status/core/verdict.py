"""A stage's verdict from what its consumer group does over time: ok, waiting, stuck or down."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """How a stage is doing."""

    OK = "ok"  # an instance is there and nothing waits
    WAITING = "waiting"  # records wait and the group makes progress (or only just started to wait)
    STUCK = "stuck"  # records wait and the group has committed nothing for the stall time
    DOWN = "down"  # no instance is in the group


@dataclass
class Progress:
    """What one group did so far, as seen by successive samples (`observe`)."""

    committed: int | None = None  # the sum of its committed offsets at the last sample
    moved_at: float | None = None  # when that sum last changed (or was first seen)
    lag_since: float | None = None  # since when the lag has been above zero, None if it is not

    def observe(self, committed: int, lag: int, now: float) -> None:
        """Take a sample: the group's committed offsets (summed) and its lag at `now`."""
        if self.committed is None or committed != self.committed:
            self.moved_at = now
        self.committed = committed
        if lag <= 0:
            self.lag_since = None
        elif self.lag_since is None:
            self.lag_since = now

    def stalled_for(self, now: float) -> float:
        """Seconds the group has had lag without committing anything (0 without lag)."""
        if self.lag_since is None or self.moved_at is None:
            return 0.0
        return now - max(self.lag_since, self.moved_at)


def verdict(instances: int, lag: int, progress: Progress, now: float, stall_s: float) -> Verdict:
    """down without an instance; ok without lag; stuck after `stall_s` of lag without a
    commit; waiting otherwise (lag, and progress within `stall_s`)."""
    if instances == 0:
        return Verdict.DOWN
    if lag <= 0:
        return Verdict.OK
    if progress.stalled_for(now) >= stall_s:
        return Verdict.STUCK
    return Verdict.WAITING
