"""Projects pipeline events into `jobs`/`job_events`, storing offsets in the same transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

import msgspec
from aiokafka import TopicPartition
from psycopg import AsyncConnection

from schemas.events import AnyEvent, DocumentDeleted, DocumentFailed, DocumentIndexed
from services.common import metrics
from services.common.db import Pool
from services.common.deletions import deleted_among, hold_barrier
from services.common.kafka.records import Delivery, Position
from services.common.stage import skipped_deleted
from services.status.adapters.deletions import apply_tombstone
from services.status.core.projection import (
    fields_of,
    in_rounds,
    rank_of,
    state_of,
    timestamp_column,
)

log = logging.getLogger(__name__)

_DATA_COLUMNS = (
    "filename",
    "media_type",
    "size",
    "title",
    "page_count",
    "parser",
    "chunk_count",
    "embedding_model",
    "usage",
)
_ERROR_COLUMNS = ("error_stage", "error_code", "error_message")
_RETRY_COLUMNS = ("retries", "next_retry_at", "last_error_code", "last_error_message")
_TS_COLUMNS = ("queued_at", "parsing_at", "parsed_at", "embedding_at", "indexed_at", "failed_at")
_ALL = (
    "job_id",
    "tenant_id",
    "document_id",
    "state",
    "state_rank",
    "attempt",
    *_DATA_COLUMNS,
    *_ERROR_COLUMNS,
    *_RETRY_COLUMNS,
    *_TS_COLUMNS,
)
# A batch goes to Postgres as one JSON document per statement (rows of the table's own type,
# `json_populate_recordset`): one msgspec encode instead of a parameter (and its Python
# dumper) per value, and one statement per batch instead of one per event.
_JSON = msgspec.json.Encoder()
_WINS = "(EXCLUDED.attempt, EXCLUDED.state_rank) > (jobs.attempt, jobs.state_rank)"

# Each row merges into the stored one by the projection's rules, so a job must appear at most
# once per statement (Postgres refuses to update a row twice in one): a batch's rows go in
# rounds (`in_rounds`), each job's in the order its events came.
UPSERT_JOBS = (
    f"INSERT INTO jobs ({', '.join(_ALL)}, updated_at)"
    f" SELECT {', '.join(_ALL)}, now() FROM json_populate_recordset(NULL::jobs, %s::json)"
    " ON CONFLICT (job_id) DO UPDATE SET "
    + ", ".join(
        [
            f"state = CASE WHEN {_WINS} THEN EXCLUDED.state ELSE jobs.state END",
            f"state_rank = CASE WHEN {_WINS} THEN EXCLUDED.state_rank ELSE jobs.state_rank END",
            "attempt = GREATEST(jobs.attempt, EXCLUDED.attempt)",
            *[f"{c} = COALESCE(EXCLUDED.{c}, jobs.{c})" for c in _DATA_COLUMNS],
            *[
                f"{c} = CASE WHEN {_WINS} THEN EXCLUDED.{c} ELSE jobs.{c} END"
                for c in _ERROR_COLUMNS
            ],
            *[
                f"{c} = CASE WHEN EXCLUDED.attempt > jobs.attempt THEN EXCLUDED.{c}"
                f" WHEN EXCLUDED.attempt = jobs.attempt THEN COALESCE(jobs.{c}, EXCLUDED.{c})"
                f" ELSE jobs.{c} END"
                for c in _TS_COLUMNS
            ],
            "retries = GREATEST(jobs.retries, EXCLUDED.retries)",
            *[
                f"{c} = CASE WHEN EXCLUDED.retries > 0 AND EXCLUDED.retries >= jobs.retries"
                f" THEN EXCLUDED.{c} ELSE jobs.{c} END"
                for c in _RETRY_COLUMNS[1:]
            ],
            "updated_at = now()",
        ]
    )
)

_EVENT_COLUMNS = (
    "event_id, job_id, tenant_id, type, occurred_at, topic, kafka_partition, kafka_offset, payload"
)
INSERT_EVENTS = (
    f"INSERT INTO job_events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS}"
    " FROM json_populate_recordset(NULL::job_events, %s::json)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)

# Offsets move only under the epoch this projector read them with: a replay raises the epoch
# of the group's rows, and a batch that would store offsets over it stores nothing (and rolls
# back its rows): the partitions it returns are those stored.
STORE_OFFSETS = (
    "INSERT INTO consumer_offsets AS o (consumer_group, topic, kafka_partition, next_offset,"
    " epoch) SELECT %s, * FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[])"
    " ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE"
    " SET next_offset = EXCLUDED.next_offset, updated_at = now() WHERE o.epoch = EXCLUDED.epoch"
    " RETURNING topic, kafka_partition"
)


def job_row(event: AnyEvent) -> dict[str, Any]:
    """The row of the job `event` belongs to, as the event sets it (absent columns are NULL)."""
    state = state_of(event)
    row: dict[str, Any] = {
        "job_id": event.job_id,
        "tenant_id": event.tenant_id,
        "document_id": event.document_id,
        "state": str(state),
        "state_rank": rank_of(event),
        "attempt": event.attempt,
        "retries": 0,  # the column is NOT NULL; RetryScheduled sets the count
    }
    row.update(fields_of(event))
    if row["state_rank"] > 0:
        row[timestamp_column(state)] = event.occurred_at
    return row


def event_row(delivery: Delivery) -> dict[str, Any]:
    """The `job_events` row of a delivery (the payload is the event itself)."""
    e = delivery.event
    return {
        "event_id": e.event_id,
        "job_id": e.job_id,
        "tenant_id": e.tenant_id,
        "type": type(e).__name__,
        "occurred_at": e.occurred_at,
        "topic": delivery.topic,
        "kafka_partition": delivery.partition,
        "kafka_offset": delivery.offset,
        "payload": e,
    }


def _json(rows: list[dict[str, Any]]) -> str:
    return _JSON.encode(rows).decode()


async def project(
    conn: AsyncConnection[Any], batch: list[Delivery], *, rebuilding: bool = False
) -> int:
    """Apply to the projection's tables (`jobs`, `job_events` on the search path) the events of
    `batch` not seen before; return how many were new."""
    return len(await project_new(conn, batch, rebuilding=rebuilding))


def has_tombstones(batch: list[Delivery]) -> bool:
    """Whether `batch` holds a `DocumentDeleted` (its projection takes the barrier exclusive)."""
    return any(isinstance(d.event, DocumentDeleted) for d in batch)


async def project_new(
    conn: AsyncConnection[Any], batch: list[Delivery], *, rebuilding: bool = False
) -> list[Delivery]:
    """Like `project`; return the deliveries that were new.

    Tombstones (`DocumentDeleted`) are applied first, and an event of a deleted job is
    skipped, so no row of a deleted job is written after its deletion whatever order the
    topics are read in. The projector calls it under the deletion barrier (services/common/
    deletions.py; exclusive when the batch holds a tombstone); `rebuild-status` (`rebuilding`)
    without it, into its own tables (the deletion record stays the live one), and drops the
    rows of jobs deleted meanwhile before its swap.
    """
    if not batch:
        return []
    tombstones = [d.event for d in batch if isinstance(d.event, DocumentDeleted)]
    for t in tombstones:
        await apply_tombstone(
            conn, t.tenant_id, t.document_id, t.deleted_jobs, t.occurred_at, rebuilding=rebuilding
        )
    batch = [d for d in batch if not isinstance(d.event, DocumentDeleted)]
    dead = await deleted_among(conn, [d.event.job_id for d in batch])
    for d in batch:
        if d.event.job_id in dead:
            skipped_deleted("status", d.event)
    batch = [d for d in batch if d.event.job_id not in dead]
    if not batch:
        return []
    cur = await conn.execute(INSERT_EVENTS, (_json([event_row(d) for d in batch]),))
    fresh = {row["event_id"] for row in await cur.fetchall()}
    new = []
    for d in batch:  # each new event once: its first delivery (the one recorded), in order
        if d.event.event_id in fresh:
            fresh.remove(d.event.event_id)
            new.append(d)
    for rows in in_rounds([job_row(d.event) for d in new], key=itemgetter("job_id")):
        await conn.execute(UPSERT_JOBS, (_json(rows),))
    return new


class Rewound(Exception):
    """The group's offsets were rewritten under a newer epoch (a replay) during this batch."""


class Projector:
    """The status service's batch handler.

    A replay may rewrite the group's stored offsets while it runs (under a higher epoch):
    the next batch then stores nothing, its rows roll back, and `on_rewound` (the consumer
    loop's `reseek`) is called so that it seeks to the stored offsets; until it has, batches
    are ignored.
    """

    def __init__(self, pool: Pool, group: str) -> None:
        self.pool = pool
        self.group = group
        self.epochs: dict[Position, int] = {}  # the epoch of each partition's stored offset
        self.stale = False  # rewound: positions no longer match the store
        self.on_rewound: Callable[[], None] = lambda: None

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None:
        """Apply the batch once and move the stored offsets, atomically."""
        if self.stale:
            return  # read before a replay rewound the group: the reseek re-reads it
        started = time.perf_counter()
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await hold_barrier(conn, exclusive=has_tombstones(batch))
                fresh = await project_new(conn, batch)
                queued = await _queued_at(conn, fresh)
                await self._store(conn, positions)
        except Rewound:
            log.info("the stored offsets were rewound (a replay): seeking to them")
            self.stale = True
            self.on_rewound()
            return
        _observe(batch, fresh, queued, time.perf_counter() - started)  # once committed

    async def _store(self, conn: AsyncConnection[Any], positions: dict[Position, int]) -> None:
        if not positions:
            return
        keys = list(positions)
        cur = await conn.execute(
            STORE_OFFSETS,
            (
                self.group,
                [t for t, _ in keys],
                [p for _, p in keys],
                [positions[k] for k in keys],
                [self.epochs.get(k, 0) for k in keys],
            ),
        )
        stored = {(row["topic"], row["kafka_partition"]) for row in await cur.fetchall()}
        if len(stored) < len(keys):
            raise Rewound

    async def apply(self, conn: AsyncConnection[Any], batch: list[Delivery]) -> int:
        """Apply the events not seen before, under the deletion barrier as a batch is;
        return how many were new."""
        await hold_barrier(conn, exclusive=has_tombstones(batch))
        return await project(conn, batch)

    async def stored_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where this group stopped, per partition, according to the projection itself (and
        the epoch each was stored under, which later batches must find unchanged)."""
        rows = await self._stored_rows()
        self.epochs = {(tp.topic, tp.partition): 0 for tp in partitions}
        stored = {}
        for key, row in rows.items():
            if key in self.epochs:
                stored[TopicPartition(*key)] = row["next_offset"]
                self.epochs[key] = row["epoch"]
        self.stale = False
        return stored

    async def rewound(self) -> bool:
        """Whether a replay rewrote a stored offset of this projector's partitions since it
        read them (checked while idle: no batch comes to find out)."""
        rows = await self._stored_rows()
        return any(
            (rows[key]["epoch"] if key in rows else 0) != epoch
            for key, epoch in self.epochs.items()
        )

    async def _stored_rows(self) -> dict[Position, dict[str, Any]]:
        """This group's rows of `consumer_offsets`, by partition."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT topic, kafka_partition, next_offset, epoch FROM consumer_offsets"
                " WHERE consumer_group = %s",
                (self.group,),
            )
            return {(row["topic"], row["kafka_partition"]): row for row in await cur.fetchall()}


async def _queued_at(conn: AsyncConnection[Any], fresh: list[Delivery]) -> dict[str, datetime]:
    """When the jobs that `fresh` indexes were uploaded (for the upload-to-indexed latency)."""
    jobs = [d.event.job_id for d in fresh if isinstance(d.event, DocumentIndexed)]
    if not jobs:
        return {}
    cur = await conn.execute(
        "SELECT job_id, queued_at FROM jobs WHERE job_id = ANY(%s) AND queued_at IS NOT NULL",
        (jobs,),
    )
    return {row["job_id"]: row["queued_at"] for row in await cur.fetchall()}


def _observe(
    batch: list[Delivery], fresh: list[Delivery], queued: dict[str, datetime], seconds: float
) -> None:
    """Metrics of a committed batch: each event's time in the project stage (the batch's
    transaction), terminal jobs per tenant, and the upload-to-indexed time of indexed ones."""
    for _ in batch:
        metrics.STAGE_SECONDS.labels("project", "ok").observe(seconds)
    for delivery in fresh:
        match delivery.event:
            case DocumentIndexed(job_id=job_id, occurred_at=at, tenant_id=tenant):
                metrics.JOBS_FINISHED.labels(tenant, "indexed").inc()
                if job_id in queued:
                    latency = (at - queued[job_id]).total_seconds()
                    metrics.UPLOAD_TO_INDEXED.observe(max(0.0, latency))
            case DocumentFailed(tenant_id=tenant):
                metrics.JOBS_FINISHED.labels(tenant, "failed").inc()
            case _:
                pass
