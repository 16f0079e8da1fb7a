"""The pipeline view's windows and oldest unfinished job, from Postgres.

The windows (1 and 5 minutes, per stage and per stage and tenant) are pipestats's snapshot
(`pipeline_windows`, written by `services/pipestats`, a faust-streaming worker); a snapshot
older than `max_age_s`, or none, leaves them unknown. The oldest unfinished job comes from the
jobs projection.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from services.common.db import Pool

WINDOWS_S = (60, 300)  # pipestats's windows (services/pipestats/core/windows.py)
# stage -> its unfinished states
UNFINISHED = {"parse": ("queued", "parsing"), "embed": ("parsed", "embedding")}
ALL_TENANTS = ""  # pipestats's tenant of a stage's row over every tenant


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """A stage over the last `seconds`."""

    seconds: int
    done: int  # jobs that finished the stage (project: events on its topics)
    failed: int
    throughput_per_s: float
    failure_rate: float | None  # failed / (done + failed); None when neither happened
    p95_stage_s: float | None  # None when no job finished the stage (or for project)


class OldestJob(msgspec.Struct, frozen=True):
    """The unfinished job that waits longest at a stage."""

    job_id: str
    tenant_id: str
    state: str
    since: datetime
    age_s: float


def _window(seconds: int, done: int, failed: int, p95: float | None) -> Window:
    finished = done + failed
    return Window(
        seconds=seconds,
        done=done,
        failed=failed,
        throughput_per_s=round(done / seconds, 4),
        failure_rate=round(failed / finished, 4) if finished else None,
        p95_stage_s=None if p95 is None else round(float(p95), 4),
    )


class Windows(msgspec.Struct, frozen=True):
    """pipestats's latest snapshot: when it was taken, each stage's windows, and each stage's
    windows per tenant."""

    taken_at: datetime | None = None  # None: no snapshot younger than the limit
    stages: dict[str, list[Window]] = msgspec.field(default_factory=dict)
    tenants: dict[str, dict[str, list[Window]]] = msgspec.field(default_factory=dict)

    def of(self, stage: str) -> list[Window]:
        """The stage's windows: zeros when the snapshot has none of it, none without one."""
        if self.taken_at is None:
            return []
        return self.stages.get(stage) or [_window(s, 0, 0, None) for s in WINDOWS_S]


class Figures:
    """Reads the snapshot and the projection for the pipeline view."""

    def __init__(self, pool: Pool, *, max_age_s: float) -> None:
        self.pool, self.max_age_s = pool, max_age_s

    async def windows(self) -> Windows:
        """The latest snapshot, if pipestats took one within `max_age_s`."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT taken_at FROM pipeline_snapshot"
                " WHERE taken_at > now() - make_interval(secs => %s)",
                (self.max_age_s,),
            )
            stamp = await cur.fetchone()
            if stamp is None:
                return Windows()
            cur = await conn.execute(
                "SELECT stage, tenant_id, seconds, done, failed, p95_stage_s"
                " FROM pipeline_windows ORDER BY stage, tenant_id, seconds"
            )
            rows = await cur.fetchall()
        found = Windows(stamp["taken_at"])
        for row in rows:
            window = _window(row["seconds"], row["done"], row["failed"], row["p95_stage_s"])
            if row["tenant_id"] == ALL_TENANTS:
                found.stages.setdefault(row["stage"], []).append(window)
            else:
                by_tenant = found.tenants.setdefault(row["stage"], {})
                by_tenant.setdefault(row["tenant_id"], []).append(window)
        return found

    async def oldest_unfinished(self, stage: str) -> OldestJob | None:
        """The oldest job (by upload) still waiting for or in `stage`; None for project."""
        if stage not in UNFINISHED:
            return None
        # literal states (ours, not input): the planner then proves the partial index applies
        states = ", ".join(f"'{state}'" for state in UNFINISHED[stage])
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT job_id, tenant_id, state, COALESCE(parsed_at, queued_at, updated_at)"
                " AS since, extract(epoch FROM now() - COALESCE(parsed_at, queued_at, updated_at))"
                f" AS age FROM jobs WHERE state IN ({states}) ORDER BY job_id LIMIT 1"
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return OldestJob(
            row["job_id"], row["tenant_id"], row["state"], row["since"], float(row["age"])
        )
