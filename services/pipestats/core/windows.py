"""Stage figures in buckets of BUCKET_S seconds, and the 1- and 5-minute windows folded from them.

A bucket holds, for one stage and tenant, the jobs that finished the stage (`done`), failed in
it (`failed`) and how long each finished one took (`took`, seconds from its `StageStarted` to
its finishing event). A window of W seconds is the buckets that started within the last W
seconds (so it reaches back W - BUCKET_S to W seconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

BUCKET_S = 5.0
WINDOWS_S = (60, 300)
ALL_TENANTS = ""  # the tenant of a stage's row over every tenant


class Bucket(msgspec.Struct, kw_only=True):
    """One stage and tenant over BUCKET_S seconds."""

    done: int = 0
    failed: int = 0
    took: list[float] = msgspec.field(default_factory=list)

    def merged(self, other: Bucket) -> Bucket:
        """Both buckets' jobs."""
        return Bucket(
            done=self.done + other.done,
            failed=self.failed + other.failed,
            took=[*self.took, *other.took],
        )


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """One stage (and tenant, or every tenant) over the last `seconds`: a snapshot row."""

    stage: str
    tenant_id: str
    seconds: int
    done: int
    failed: int
    p95_stage_s: float | None  # None when no job finished the stage with a known start


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile, interpolated as Postgres's percentile_cont does; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = 0.95 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fold(buckets: Iterable[tuple[str, str, float, Bucket]], now: float) -> list[Figures]:
    """Each window of WINDOWS_S, per (stage, tenant) and per stage over every tenant, from
    (stage, tenant, bucket start, bucket) rows; stages and tenants with nothing in a window
    still get a row of zeros when they have a bucket in the longest window."""
    sums: dict[tuple[str, str, int], Bucket] = {}
    for stage, tenant, start, bucket in buckets:
        for seconds in WINDOWS_S:
            if start <= now - seconds or start > now:
                continue
            for who in (tenant, ALL_TENANTS):
                key = (stage, who, seconds)
                sums[key] = sums.get(key, Bucket()).merged(bucket)
    keys = {(stage, who) for stage, who, _ in sums}
    rows = []
    for stage, who in sorted(keys):
        for seconds in WINDOWS_S:
            got = sums.get((stage, who, seconds), Bucket())
            took = p95(got.took)
            rows.append(
                Figures(
                    stage=stage,
                    tenant_id=who,
                    seconds=seconds,
                    done=got.done,
                    failed=got.failed,
                    p95_stage_s=None if took is None else round(took, 4),
                )
            )
    return rows
