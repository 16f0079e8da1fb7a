"""Re-drive a failed job from the stage that failed, as a new attempt."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas import topics
from schemas.events import AnyEvent, DocumentParsed, DocumentUploaded, Origin, derived_id, now
from services.common.api_bodies import Redrive
from services.common.errors import RefusedError
from services.common.ports import EventPublisher
from services.status.core.ports import RedriveSources


class RedriveRefusedError(RefusedError):
    """The job cannot be retried now (404: no such job; 409: not now)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, "Not Found" if status == 404 else "Conflict", detail)


class Redriver:
    """Finds the event that fed the failed stage and produces it again with attempt + 1."""

    def __init__(self, jobs: RedriveSources, publisher: EventPublisher, origin: Origin) -> None:
        self.jobs = jobs
        self.publisher = publisher
        self.origin = origin

    async def retry(self, tenant_id: str | None, job_id: str) -> Redrive:
        """Re-drive `job_id` (any tenant's when `tenant_id` is None, for admins)."""
        job = await self.jobs.redrive_source(tenant_id, job_id)
        if job is None:
            raise RedriveRefusedError(404, f"no job {job_id}")
        if job.state != "failed":
            raise RedriveRefusedError(409, f"job is {job.state}; only failed jobs retry")
        wanted = ["DocumentParsed", "DocumentUploaded"]
        if job.error_stage != "embed":
            wanted = ["DocumentUploaded"]
        for kind in wanted:
            if kind in job.inputs:
                return await self._send(_event(job.inputs[kind]), job.attempt + 1)
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
