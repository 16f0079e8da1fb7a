"""What every stage talks to: the blob store, the event publisher, its retrier, the deletions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.events import Event, Origin, Stage
from services.common import metrics
from services.common.jobs import announce_start, fail_job
from services.common.kafka.retry import Retrier
from services.common.logs import ctx
from services.common.ports import BlobStore, DeletedJobs, EventPublisher

log = logging.getLogger(__name__)


def skipped_deleted(stage: str, event: Event) -> None:
    """Count and log an event a stage (or the projector) skipped: its document was deleted."""
    metrics.DELETED_SKIPPED.labels(str(stage)).inc()
    log.info(
        "skipped %s: the document was deleted",
        type(event).__name__,
        extra=ctx(job_id=event.job_id, document_id=event.document_id, stage=str(stage)),
    )


@dataclass(frozen=True)
class StagePorts:
    """A stage's shared collaborators; the retrier says which stage and which process it is."""

    blobs: BlobStore
    publisher: EventPublisher
    retrier: Retrier
    deletions: DeletedJobs

    @property
    def stage(self) -> Stage:
        """The stage these ports serve."""
        return self.retrier.stage

    @property
    def origin(self) -> Origin:
        """The process the stage's events come from."""
        return self.retrier.origin

    async def skip_deleted(self, events: Sequence[Event]) -> set[str]:
        """The event ids among `events` whose document was deleted, counted and logged."""
        dead = await self.deletions.deleted([e.job_id for e in events])
        skipped = {e.event_id for e in events if e.job_id in dead}
        for event in events:
            if event.event_id in skipped:
                skipped_deleted(self.stage, event)
        return skipped

    async def started(self, cause: Event) -> None:
        """Announce that the stage started on `cause`'s job."""
        await announce_start(self.publisher, cause, stage=self.stage, origin=self.origin)

    async def fail(self, cause: Event, code: str, message: str) -> None:
        """Fail `cause`'s job for a reason in the document itself (no dead letter)."""
        await fail_job(self.publisher, self.origin, self.stage, cause, (code, message))
