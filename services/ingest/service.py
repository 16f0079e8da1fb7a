"""The ingest use case: validate, charge the quota, store, record, announce, answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka.errors import KafkaError

from schemas.events import now, uuid7
from services.common import metrics
from services.common.api_bodies import UploadAccepted
from services.common.auth import Principal
from services.common.blobstore import sha256_hex
from services.common.logs import ctx
from services.ingest.core.limits import LimitedError
from services.ingest.core.ports import TenantUsage, UploadRecord, UploadsStore
from services.ingest.core.uploads import (
    UploadRejectedError,
    check_idempotency_key,
    validate_upload,
)
from services.ingest.relay import Deliveries

log = logging.getLogger(__name__)


@contextmanager
def _counted(tenant_id: str) -> Iterator[None]:
    """Count an upload of `tenant_id` by how it ended (`sluice_uploads_total`)."""
    outcome = "failed"
    try:
        yield
        outcome = "accepted"
    except UploadRejectedError as error:
        outcome = "rejected" if error.status < 500 else outcome
        if isinstance(error.__cause__, (KafkaError, TimeoutError)):
            outcome = "kafka_unavailable"
        raise
    except LimitedError as error:
        outcome = "limited" if error.status != 503 else "unavailable"
        raise
    finally:
        metrics.UPLOADS.labels(tenant_id, outcome).inc()


class IngestService:
    """Accepts uploads; answers 202 only after Kafka has acknowledged the event.

    Every stored upload is published: by this request when Kafka answers within
    `publish_timeout_s`, else by the send still pending or by a relay (services/ingest/relay.py).
    """

    def __init__(
        self,
        *,
        uploads: UploadsStore,
        deliveries: Deliveries,
        holder: str,
        max_upload_bytes: int,
        status_base_url: str,
        publish_timeout_s: float = 30.0,
        usage: TenantUsage | None = None,
    ) -> None:
        self.uploads = uploads
        self.deliveries = deliveries
        self.holder = holder  # this process, as the holder of the sends it starts
        self.max_upload_bytes = max_upload_bytes
        self.status_base_url = status_base_url.rstrip("/")
        self.publish_timeout_s = publish_timeout_s
        self.usage = usage  # the tenants' byte quota; None: no quota

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait up to `timeout_s` for the sends still pending (at shutdown)."""
        await self.deliveries.drain(timeout_s)

    async def accept(
        self,
        principal: Principal,
        *,
        data: bytes,
        filename: str | None,
        metadata_json: str | bytes | None,
        idempotency_key: str | None,
    ) -> UploadAccepted:
        """Run the upload; raises UploadRejectedError with an HTTP status on bad input, and
        LimitedError when the tenant's byte quota has no room for it.

        Counted per tenant (`sluice_uploads_total`): accepted, rejected (the input: 4xx),
        kafka_unavailable or failed (our side: 5xx and anything unexpected).
        """
        principal.require("documents:write")
        with _counted(principal.tenant):
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
            if self.usage is not None:  # LimitedError when the quota has no room (counted)
                await self.usage.charge_bytes(principal.tenant, upload.size)
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
                    holder=self.holder,
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

    async def _publish(self, record: UploadRecord) -> None:
        """Send the event and wait for Kafka's acknowledgement (the published mark is written
        off the response path); 503 when Kafka does not acknowledge in time."""
        try:
            await self.deliveries.wait(record, self.publish_timeout_s)
        except (TimeoutError, KafkaError) as error:
            raise UploadRejectedError(
                503,
                "Queue unavailable",
                f"the upload is stored as job {record.job_id} but Kafka has not acknowledged it"
                " yet; it will be queued as soon as Kafka answers, with no retry needed (a"
                " retry with the same Idempotency-Key returns this job)",
                retry_after_s=5,
            ) from error
        log.info(
            "upload accepted",
            extra=ctx(
                job_id=record.job_id,
                document_id=record.document_id,
                event_id=record.event_id,
                tenant_id=record.tenant_id,
            ),
        )
