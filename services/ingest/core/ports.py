"""What the ingest use case stores: accepted uploads, their publish state, tenants' usage."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Protocol

import msgspec


class UploadRecord(msgspec.Struct, frozen=True):
    """A stored upload: what a retry with the same key gets back, and what the relay sends."""

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
    holder: str | None = None  # the ingest process whose send of the event is pending


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

    async def release(self, job_id: str) -> None:
        """Let any relay take the upload: its holder's send failed and is not pending."""
        ...

    async def claim_unpublished(
        self, holder: str, *, pending: Collection[str], limit: int, min_age_s: float
    ) -> list[UploadRecord]:
        """Take up to `limit` uploads whose event is unacknowledged, older than `min_age_s`,
        and not being sent by a live process (`holder`'s own sends: `pending`), as `holder`.

        Several relays claim at once without taking the same upload twice.
        """
        ...


class TenantUsage(Protocol):
    """Tenants' limits and what they used, shared by every ingest replica.

    An ingest process is known by its `holder` name; its heartbeat (`beat`) keeps its upload
    slots counting and its pending sends its own. Refusals are `LimitedError`s.
    """

    async def admit(self, tenant_id: str, holder: str) -> bool:
        """Count one upload against the tenant's rate (and check its byte quota is not used up)
        and, when it has a concurrency limit, take a slot; True when a slot was taken."""
        ...

    async def release(self, tenant_id: str, holder: str) -> None:
        """Give back a slot `admit` took."""
        ...

    async def charge_bytes(self, tenant_id: str, size: int) -> None:
        """Count `size` stored bytes against the tenant's quota, or refuse them."""
        ...

    async def beat(self, holder: str, unreleased: Mapping[str, int]) -> None:
        """Say `holder` is alive; give back slots whose release failed; forget the dead."""
        ...

    async def leave(self, holder: str) -> None:
        """`holder` stops: its slots stop counting and its pending uploads go to other relays."""
        ...
