"""What a re-drive reads (a job and the events that fed its stages) and what a deletion needs."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from services.common.api_bodies import Deletion


class RedriveSource(msgspec.Struct, frozen=True):
    """A job as a re-drive sees it; `inputs` maps an input event type to its stored payload."""

    state: str
    attempt: int
    error_stage: str | None
    inputs: dict[str, Any]


class RedriveSources(Protocol):
    """Reads a job for a re-drive (the status queries, or a fake in tests)."""

    async def redrive_source(self, tenant_id: str | None, job_id: str) -> RedriveSource | None:
        """The job with its `DocumentUploaded` / `DocumentParsed` payloads; None if unknown.

        `tenant_id` None reads any tenant's job (admins).
        """
        ...


class DocumentDeletions(Protocol):
    """Deletes a tenant's document and records it (Postgres, or a fake in tests)."""

    async def owner(self, document_id: str) -> str | None:
        """The tenant whose document this is, if any tenant has or had it."""
        ...

    async def delete(self, tenant_id: str, document_id: str) -> Deletion | None:
        """Record the deletion and remove the document's rows and blobs; None if unknown."""
        ...
