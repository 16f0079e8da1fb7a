"""Windowed stage figures and the oldest unfinished job, from the jobs projection in Postgres.

A stage's window counts the jobs that finished it (parse: `parsed_at`, embed: `indexed_at`)
or failed in it (`failed_at` with `error_stage`) within the last 1 or 5 minutes, and takes the
95th percentile of its stage time (`parsed_at - parsing_at`, `indexed_at - embedding_at`).
Such a job changed within the window (its state moved when that event, or a later one, was
projected), so the jobs looked at are those of `job_changes` in the window (by `changed_at`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from services.common.db import Pool

WINDOWS_S = (60, 300)
# stage -> (the column it ends with, the column it starts with, its unfinished states)
STAGE_COLUMNS = {
    "parse": ("parsed_at", "parsing_at", ("queued", "parsing")),
    "embed": ("indexed_at", "embedding_at", ("parsed", "embedding")),
}


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """A stage over the last `seconds`."""

    seconds: int
    done: int  # jobs that finished the stage (project: job changes recorded)
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


class Figures:
    """Reads the projection for the pipeline view."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def windows(self, stage: str) -> list[Window]:
        """The stage's figures over each of WINDOWS_S."""
        found = []
        async with self.pool.connection() as conn:
            for seconds in WINDOWS_S:
                row = await conn.execute(*self._query(stage, seconds))
                got: dict[str, Any] | None = await row.fetchone()
                got = got or {"done": 0, "failed": 0, "p95": None}
                found.append(_window(seconds, got["done"], got["failed"], got["p95"]))
        return found

    @staticmethod
    def _query(stage: str, seconds: int) -> tuple[str, tuple[Any, ...]]:
        window = "now() - make_interval(secs => %s)"
        if stage not in STAGE_COLUMNS:  # the projector: job changes it recorded
            return (
                "SELECT count(*) AS done, 0 AS failed, NULL::float AS p95 FROM job_changes"
                f" WHERE changed_at > {window}",
                (seconds,),
            )
        end, start, _ = STAGE_COLUMNS[stage]
        took = f"extract(epoch FROM j.{end} - j.{start})"
        return (
            "WITH recent AS (SELECT DISTINCT job_id FROM job_changes"
            f"  WHERE changed_at > {window})"
            f" SELECT count(*) FILTER (WHERE j.{end} > {window}) AS done,"
            f" count(*) FILTER (WHERE j.failed_at > {window} AND j.error_stage = %s) AS failed,"
            f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {took})"
            f"  FILTER (WHERE j.{end} > {window} AND j.{start} IS NOT NULL) AS p95"
            " FROM recent r JOIN jobs j ON j.job_id = r.job_id",
            (seconds, seconds, seconds, stage, seconds),
        )

    async def oldest_unfinished(self, stage: str) -> OldestJob | None:
        """The oldest job (by upload) still waiting for or in `stage`; None for project."""
        if stage not in STAGE_COLUMNS:
            return None
        # literal states (ours, not input): the planner then proves the partial index applies
        states = ", ".join(f"'{state}'" for state in STAGE_COLUMNS[stage][2])
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
