"""The ingest use case: validate, store the bytes, record the upload, announce it, answer."""

from __future__ import annotations

import asyncio
import logging

import msgspec
from aiokafka.errors import KafkaError

from schemas import topics
from schemas.events import BlobRef, DocumentUploaded, Origin, now, uuid7
from services.common import metrics
from services.common.auth import Principal
from services.common.blobstore import sha256_hex
from services.common.logs import ctx
from services.common.ports import EventPublisher
from services.ingest.core.ports import UploadRecord, UploadsStore
from services.ingest.core.uploads import (
    UploadRejectedError,
    check_idempotency_key,
    validate_upload,
)

log = logging.getLogger(__name__)


class UploadAccepted(msgspec.Struct, frozen=True):
    """The 202 body: where to follow the job."""

    job_id: str
    document_id: str
    status: str
    links: dict[str, str]


class IngestService:
    """Accepts uploads; answers only after Kafka has acknowledged the event."""

    def __init__(
        self,
        *,
        uploads: UploadsStore,
        publisher: EventPublisher,
        origin: Origin,
        max_upload_bytes: int,
        status_base_url: str,
    ) -> None:
        self.uploads = uploads
        self.publisher = publisher
        self.origin = origin
        self.max_upload_bytes = max_upload_bytes
        self.status_base_url = status_base_url.rstrip("/")
        self._marking: set[asyncio.Task[None]] = set()

    async def drain(self) -> None:
        """Wait for the `published_at` updates still running (at shutdown)."""
        if self._marking:
            await asyncio.gather(*self._marking, return_exceptions=True)

    async def accept(
        self,
        principal: Principal,
        *,
        data: bytes,
        filename: str | None,
        metadata_json: str | bytes | None,
        idempotency_key: str | None,
    ) -> UploadAccepted:
        """Run the upload; raises UploadRejectedError with an HTTP status on bad input.

        Counted per tenant (`sluice_uploads_total`): accepted, rejected (the input: 4xx),
        kafka_unavailable or failed (our side: 5xx and anything unexpected).
        """
        principal.require("documents:write")
        outcome = "failed"
        try:
            accepted = await self._accept(
                principal,
                data=data,
                filename=filename,
                metadata_json=metadata_json,
                idempotency_key=idempotency_key,
            )
            outcome = "accepted"
        except UploadRejectedError as error:
            outcome = "rejected" if error.status < 500 else outcome
            if isinstance(error.__cause__, KafkaError):
                outcome = "kafka_unavailable"
            raise
        finally:
            metrics.UPLOADS.labels(principal.tenant, outcome).inc()
        return accepted

    async def _accept(
        self,
        principal: Principal,
        *,
        data: bytes,
        filename: str | None,
        metadata_json: str | bytes | None,
        idempotency_key: str | None,
    ) -> UploadAccepted:
        key = check_idempotency_key(idempotency_key)
        # Hashing and content checks of a body up to the upload limit run in a thread, so
        # the event loop (and /health/live) never waits for them.
        digest = await asyncio.to_thread(sha256_hex, data)
        if key is not None:
            existing = await self.uploads.by_key(principal.tenant, key)
            if existing is not None:
                return await self._replay(existing, digest)
        upload = await asyncio.to_thread(
            validate_upload,
            tenant_id=principal.tenant,
            data=data,
            sha256=digest,
            filename=filename,
            metadata_json=metadata_json,
            max_bytes=self.max_upload_bytes,
        )
        record = await self.uploads.create(
            UploadRecord(
                job_id=uuid7(),
                tenant_id=upload.tenant_id,
                document_id=upload.document_id,
                event_id=uuid7(),
                sha256=upload.sha256,
                filename=upload.filename,
                media_type=upload.media_type,
                size=upload.size,
                metadata=upload.metadata,
                created_at=now(),
                idempotency_key=key,
            ),
            data,
        )
        return await self._replay(record, digest)

    async def _replay(self, record: UploadRecord, digest: str) -> UploadAccepted:
        if record.sha256 != digest:
            raise UploadRejectedError(
                409,
                "Idempotency-Key reused",
                "this Idempotency-Key was used for different content; use a new key",
            )
        if record.published_at is None:
            await self._publish(record)
        return UploadAccepted(
            job_id=record.job_id,
            document_id=record.document_id,
            status="queued",
            links={
                "job": f"{self.status_base_url}/v1/jobs/{record.job_id}",
                "document": f"{self.status_base_url}/v1/documents/{record.document_id}",
            },
        )

    async def _mark_published(self, job_id: str) -> None:
        try:
            await self.uploads.mark_published(job_id)
        except Exception:  # logged; see the comment in _publish
            log.warning("could not mark upload published", exc_info=True, extra=ctx(job_id=job_id))

    async def _publish(self, record: UploadRecord) -> None:
        event = DocumentUploaded(
            event_id=record.event_id,
            occurred_at=record.created_at,
            tenant_id=record.tenant_id,
            job_id=record.job_id,
            document_id=record.document_id,
            trace_id=record.job_id,
            origin=self.origin,
            blob=BlobRef(sha256=record.sha256, size=record.size, media_type=record.media_type),
            filename=record.filename,
            metadata=record.metadata,
        )
        try:
            await self.publisher.publish(topics.DOCUMENTS_UPLOADED, event)
        except KafkaError as error:
            raise UploadRejectedError(
                503,
                "Queue unavailable",
                "the upload is stored but could not be queued; retry with the same Idempotency-Key",
            ) from error
        # Off the response path: the answer does not depend on it, and a lost update only
        # means a keyed retry re-sends the same event (same event_id, deduplicated).
        task = asyncio.create_task(self._mark_published(record.job_id))
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)
        log.info(
            "upload accepted",
            extra=ctx(
                job_id=record.job_id,
                document_id=record.document_id,
                event_id=record.event_id,
                tenant_id=record.tenant_id,
            ),
        )
