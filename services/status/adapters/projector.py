"""Projects pipeline events into `jobs`/`job_events`, storing offsets in the same transaction."""

from __future__ import annotations

from typing import Any

import msgspec
from aiokafka import TopicPartition
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from schemas.events import DocumentDeleted
from services.common.db import Pool
from services.common.deletions import deleted_among, hold_barrier
from services.common.kafka.records import Delivery, Position
from services.common.stage import skipped_deleted
from services.status.adapters.deletions import apply_tombstone
from services.status.core.projection import fields_of, rank_of, state_of, timestamp_column

_DATA_COLUMNS = (
    "filename",
    "media_type",
    "size",
    "title",
    "page_count",
    "chunk_count",
    "embedding_model",
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
# Payloads go as a *binary* jsonb[] (%b above): the text array format escapes every quote of
# every JSON document with a regex, which cost two thirds of the projector's time.
_PAYLOAD_JSON = msgspec.json.Encoder()
_WINS = "(EXCLUDED.attempt, EXCLUDED.state_rank) > (jobs.attempt, jobs.state_rank)"

UPSERT_JOB = (
    f"INSERT INTO jobs ({', '.join(_ALL)}, updated_at)"
    f" VALUES ({', '.join(['%s'] * len(_ALL))}, now())"
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

INSERT_EVENTS = (
    "INSERT INTO job_events (event_id, job_id, tenant_id, type, occurred_at, topic,"
    " kafka_partition, kafka_offset, payload)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],"
    " %s::text[], %s::int[], %s::bigint[], %b::jsonb[])"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)

STORE_OFFSET = (
    "INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition, next_offset)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (consumer_group, topic, kafka_partition)"
    " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
)


def job_row(delivery: Delivery) -> tuple[Any, ...]:
    """The INSERT values for the job an event belongs to."""
    event = delivery.event
    state = state_of(event)
    values: dict[str, Any] = dict.fromkeys(_ALL)
    values.update(
        job_id=event.job_id,
        tenant_id=event.tenant_id,
        document_id=event.document_id,
        state=str(state),
        state_rank=rank_of(event),
        attempt=event.attempt,
    )
    values["retries"] = 0  # the column is NOT NULL; RetryScheduled sets the count
    values.update(fields_of(event))
    if values["state_rank"] > 0:
        values[timestamp_column(state)] = event.occurred_at
    return tuple(values[c] for c in _ALL)


class Projector:
    """The status service's batch handler."""

    def __init__(self, pool: Pool, group: str) -> None:
        self.pool = pool
        self.group = group

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None:
        """Apply the batch once and move the stored offsets, atomically."""
        async with self.pool.connection() as conn, conn.transaction():
            await self.apply(conn, batch)
            async with conn.cursor() as cur:
                await cur.executemany(
                    STORE_OFFSET, [(self.group, t, p, o) for (t, p), o in positions.items()]
                )

    async def apply(self, conn: AsyncConnection[Any], batch: list[Delivery]) -> int:
        """Apply the events not seen before; return how many were new.

        Under the deletion barrier (exclusive when the batch holds a tombstone): tombstones
        are applied first, and an event of a deleted job is skipped, so no row of a deleted
        job is written after its deletion, whatever order the topics are read in.
        """
        if not batch:
            return 0
        tombstones = [d.event for d in batch if isinstance(d.event, DocumentDeleted)]
        await hold_barrier(conn, exclusive=bool(tombstones))
        for t in tombstones:
            await apply_tombstone(conn, t.tenant_id, t.document_id, t.deleted_jobs, t.occurred_at)
        batch = [d for d in batch if not isinstance(d.event, DocumentDeleted)]
        dead = await deleted_among(conn, [d.event.job_id for d in batch])
        for d in batch:
            if d.event.job_id in dead:
                skipped_deleted("status", d.event)
        batch = [d for d in batch if d.event.job_id not in dead]
        if not batch:
            return 0
        columns: list[list[Any]] = [[] for _ in range(9)]
        for d in batch:
            e = d.event
            row = (
                e.event_id,
                e.job_id,
                e.tenant_id,
                type(e).__name__,
                e.occurred_at,
                d.topic,
                d.partition,
                d.offset,
                Jsonb(e, dumps=_PAYLOAD_JSON.encode),
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        cur = await conn.execute(INSERT_EVENTS, columns)
        fresh = {row["event_id"] for row in await cur.fetchall()}
        rows = [job_row(d) for d in batch if d.event.event_id in fresh]
        if rows:
            async with conn.cursor() as upsert:
                await upsert.executemany(UPSERT_JOB, rows)
        return len(rows)

    async def stored_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where this group stopped, per partition, according to the projection itself."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT topic, kafka_partition, next_offset FROM consumer_offsets"
                " WHERE consumer_group = %s",
                (self.group,),
            )
            rows = await cur.fetchall()
        wanted = set(partitions)
        stored = {}
        for row in rows:
            tp = TopicPartition(row["topic"], row["kafka_partition"])
            if tp in wanted:
                stored[tp] = row["next_offset"]
        return stored
