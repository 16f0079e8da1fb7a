"""What every stage talks to: the blob store, the event publisher and its retrier."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import Event, Origin, Stage
from services.common.jobs import announce_start, fail_job
from services.common.kafka.retry import Retrier
from services.common.ports import BlobStore, EventPublisher


@dataclass(frozen=True)
class StagePorts:
    """A stage's shared collaborators; the retrier says which stage and which process it is."""

    blobs: BlobStore
    publisher: EventPublisher
    retrier: Retrier

    @property
    def stage(self) -> Stage:
        """The stage these ports serve."""
        return self.retrier.stage

    @property
    def origin(self) -> Origin:
        """The process the stage's events come from."""
        return self.retrier.origin

    async def started(self, cause: Event) -> None:
        """Announce that the stage started on `cause`'s job."""
        await announce_start(self.publisher, cause, stage=self.stage, origin=self.origin)

    async def fail(self, cause: Event, code: str, message: str) -> None:
        """Fail `cause`'s job for a reason in the document itself (no dead letter)."""
        await fail_job(self.publisher, self.origin, self.stage, cause, (code, message))
