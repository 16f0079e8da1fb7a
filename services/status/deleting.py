"""Delete a tenant's document: record and remove it in Postgres, then publish the tombstone."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from schemas import topics
from schemas.events import DocumentDeleted, Origin, uuid7
from services.common.api_bodies import Deletion
from services.common.errors import RefusedError
from services.common.logs import ctx
from services.common.ports import EventPublisher
from services.status.core.ports import DocumentDeletions

log = logging.getLogger(__name__)


class DeletionRefusedError(RefusedError):
    """404: no such document for the tenant; 503: deleted, but the tombstone is not published."""


class DocumentDeleter:
    """The DELETE use case: Postgres first (what every stage checks), then the tombstone."""

    def __init__(
        self, deletions: DocumentDeletions, publisher: EventPublisher, origin: Origin
    ) -> None:
        self.deletions = deletions
        self.publisher = publisher
        self.origin = origin

    async def owner(self, document_id: str) -> str | None:
        """The tenant whose document this is, if any (for an admin's delete)."""
        return await self.deletions.owner(document_id)

    async def delete(self, tenant_id: str, document_id: str) -> Deletion:
        """Delete the tenant's document (again: harmless); raises DeletionRefusedError."""
        deletion = await self.deletions.delete(tenant_id, document_id)
        if deletion is None:
            raise DeletionRefusedError(404, "Not Found", f"no document {document_id}")
        deletion_id = uuid7()
        tombstone = DocumentDeleted(
            event_id=deletion_id,
            occurred_at=deletion.deleted_at,
            tenant_id=tenant_id,
            job_id=deletion_id,  # the deletion's own id: a deletion is not one of the jobs
            document_id=document_id,
            origin=self.origin,
            deleted_jobs=deletion.deleted_jobs,
        )
        try:
            await self.publisher.publish(topics.DOCUMENTS_DELETED, tombstone)
        except KafkaError as error:
            raise DeletionRefusedError(
                503,
                "Service Unavailable",
                "the document is deleted, but its deletion could not be announced on Kafka;"
                " repeat the DELETE",
            ) from error
        log.info(
            "document deleted: %d jobs, %d chunks, %d blobs",
            deletion.jobs,
            deletion.chunks,
            deletion.blobs,
            extra=ctx(document_id=document_id, tenant_id=tenant_id, event_id=deletion_id),
        )
        return deletion
