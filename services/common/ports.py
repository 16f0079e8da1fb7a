"""The small interfaces stages and use cases talk to; adapters and in-memory fakes fit them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from schemas.events import AnyEvent, BlobRef, Event

Headers = Sequence[tuple[str, bytes]]


class EventPublisher(Protocol):
    """Sends pipeline events keyed by `document_id`; each is acknowledged before it returns."""

    async def publish(self, topic: str, event: AnyEvent, *, headers: Headers = ()) -> None:
        """Send `event` to `topic` and wait until the broker has it."""
        ...


class RecordSender(Protocol):
    """Copies a record as it is (a dead letter may not even decode)."""

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers = ()
    ) -> None:
        """Send the raw record to `topic` and wait until the broker has it."""
        ...


class Publisher(EventPublisher, RecordSender, Protocol):
    """Both: what the consumer runtime (retries, dead letters) needs."""


class BlobStore(Protocol):
    """The content-addressed store of uploads, extracted text and layouts (the claim check)."""

    async def get(self, ref: BlobRef) -> bytes:
        """The bytes behind `ref`; raises `BlobNotFoundError` when they are gone."""
        ...

    async def put(self, data: bytes, media_type: str, *, owner: Event | None = None) -> BlobRef:
        """Store `data` (storing the same bytes again is a no-op) and return its reference.

        With `owner`, also record that the owner's document refers to the blob, in the same
        transaction; raises `DocumentDeletedError` (storing nothing) if the owner's job was
        deleted.
        """
        ...


class DeletedJobs(Protocol):
    """The record of deleted documents' jobs (services/common/deletions.py, or a fake)."""

    async def deleted(self, job_ids: Collection[str]) -> set[str]:
        """The jobs among `job_ids` whose document was deleted: their events are skipped."""
        ...
