"""Re-drive a failed job from the stage that failed, as a new attempt."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas import topics
from schemas.events import AnyEvent, DocumentParsed, DocumentUploaded, Origin, derived_id, now
from services.common.db import Pool
from services.common.ports import EventPublisher


class RedriveRefusedError(Exception):
    """The job cannot be retried now; `status` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Redrive(msgspec.Struct, frozen=True):
    """What POST /v1/jobs/{id}/retry answers."""

    job_id: str
    state: str
    attempt: int
    restarted_stage: str


class Redriver:
    """Finds the event that fed the failed stage and produces it again with attempt + 1."""

    def __init__(self, pool: Pool, publisher: EventPublisher, origin: Origin) -> None:
        self.pool = pool
        self.publisher = publisher
        self.origin = origin

    async def retry(self, tenant_id: str | None, job_id: str) -> Redrive:
        """Re-drive `job_id` (any tenant's when `tenant_id` is None, for admins)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT job_id, tenant_id, state, attempt, error_stage FROM jobs"
                " WHERE job_id = %s AND (%s::text IS NULL OR tenant_id = %s)",
                (job_id, tenant_id, tenant_id),
            )
            job = await cur.fetchone()
            if job is None:
                raise RedriveRefusedError(404, f"no job {job_id}")
            if job["state"] != "failed":
                raise RedriveRefusedError(409, f"job is {job['state']}; only failed jobs retry")
            cur = await conn.execute(
                "SELECT type, payload FROM job_events WHERE job_id = %s"
                " AND type IN ('DocumentUploaded', 'DocumentParsed') ORDER BY occurred_at DESC",
                (job_id,),
            )
            sources = {row["type"]: row["payload"] for row in await cur.fetchall()}
        wanted = ["DocumentParsed", "DocumentUploaded"]
        if job["error_stage"] != "embed":
            wanted = ["DocumentUploaded"]
        for kind in wanted:
            if kind in sources:
                return await self._send(_event(sources[kind]), int(job["attempt"]) + 1)
        raise RedriveRefusedError(
            409, "the event that started this job could not be read; upload the file again"
        )

    async def _send(self, source: AnyEvent, attempt: int) -> Redrive:
        again = msgspec.structs.replace(
            source,
            event_id=derived_id(source.event_id, f"redrive-{attempt}"),
            occurred_at=now(),
            attempt=attempt,
            causation_id=source.event_id,
            origin=self.origin,
        )
        if isinstance(again, DocumentParsed):
            await self.publisher.publish(topics.DOCUMENTS_PARSED, again)
            return Redrive(again.job_id, "parsed", attempt, "embed")
        await self.publisher.publish(topics.DOCUMENTS_UPLOADED, again)
        return Redrive(again.job_id, "queued", attempt, "parse")


def _event(payload: Any) -> AnyEvent:
    event: AnyEvent = msgspec.convert(payload, AnyEvent, strict=False)
    if not isinstance(event, DocumentUploaded | DocumentParsed):
        raise RedriveRefusedError(409, "unexpected source event")
    return event
