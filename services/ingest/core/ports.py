"""What the ingest use case stores: accepted uploads, with their bytes and publish state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec


class UploadRecord(msgspec.Struct, frozen=True):
    """A stored upload: what a retry with the same key gets back."""

    job_id: str
    tenant_id: str
    document_id: str
    event_id: str
    sha256: str
    filename: str
    media_type: str
    size: int
    metadata: dict[str, Any]
    created_at: datetime
    idempotency_key: str | None = None
    published_at: datetime | None = None


class UploadsStore(Protocol):
    """Uploads by job and by (tenant, Idempotency-Key): Postgres, or a fake in tests."""

    async def create(self, record: UploadRecord, data: bytes) -> UploadRecord:
        """Store the bytes and the record together (one transaction); if the record's key is
        taken, store nothing new and return the upload made with that key."""
        ...

    async def by_key(self, tenant_id: str, key: str) -> UploadRecord | None:
        """The upload a tenant made with this Idempotency-Key, if any."""
        ...

    async def mark_published(self, job_id: str) -> None:
        """Remember that Kafka acknowledged the upload's event (losing this is harmless)."""
        ...
