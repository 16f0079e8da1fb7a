"""The ingest use case over in-memory ports: answer only after the event is acknowledged."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError

from schemas import topics
from schemas.events import DocumentUploaded, Origin
from services.common.auth import Principal
from services.common.blobstore import sha256_hex
from services.ingest.core.uploads import UploadRejectedError
from services.ingest.service import IngestService
from tests.fixtures.fakes import MemoryUploadsStore, RecordingPublisher
from tests.fixtures.ingest import memory_ingest

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="ingest", instance="unit")
ALICE = Principal("alice", "acme", frozenset({"documents:write", "documents:read"}))
TEXT = b"Photosynthesis turns light into chemical energy."


def service() -> tuple[IngestService, MemoryUploadsStore, RecordingPublisher]:
    uploads, publisher = MemoryUploadsStore(), RecordingPublisher()
    return memory_ingest(uploads, publisher), uploads, publisher


async def accept(ingest: IngestService, data: bytes = TEXT, key: str | None = None) -> str:
    accepted = await ingest.accept(
        ALICE, data=data, filename="notes.txt", metadata_json=None, idempotency_key=key
    )
    await ingest.drain()
    return accepted.job_id


async def test_an_upload_stores_its_bytes_and_announces_the_stored_event() -> None:
    ingest, uploads, publisher = service()

    accepted = await ingest.accept(
        ALICE, data=TEXT, filename="notes.txt", metadata_json='{"k": 1}', idempotency_key=None
    )
    await ingest.drain()

    (event,) = publisher.events(topics.DOCUMENTS_UPLOADED)
    record = uploads.records[accepted.job_id]
    assert isinstance(event, DocumentUploaded)
    assert (event.event_id, event.job_id, event.trace_id) == (
        record.event_id,
        accepted.job_id,
        accepted.job_id,
    )
    assert (event.blob.sha256, event.blob.media_type, event.metadata) == (
        sha256_hex(TEXT),
        "text/plain",
        {"k": 1},
    )
    assert event.origin == ORIGIN
    assert uploads.blobs[sha256_hex(TEXT)] == TEXT
    assert record.published_at is not None
    assert accepted.links["job"] == f"http://status.test/v1/jobs/{accepted.job_id}"


async def test_a_keyed_retry_answers_the_same_job_and_sends_the_same_event_again() -> None:
    ingest, uploads, publisher = service()
    publisher.fail_next.append(KafkaConnectionError())

    with pytest.raises(UploadRejectedError) as refused:
        await accept(ingest, key="upload-1")
    assert refused.value.status == 503
    (stored,) = uploads.records.values()
    assert stored.published_at is None, "stored, not published"

    job_id = await accept(ingest, key="upload-1")

    assert job_id == stored.job_id
    (event,) = publisher.events(topics.DOCUMENTS_UPLOADED)
    assert event.event_id == stored.event_id
    assert uploads.records[job_id].published_at is not None


async def test_a_key_reused_for_other_bytes_is_refused() -> None:
    ingest, _, publisher = service()
    await accept(ingest, key="upload-1")

    with pytest.raises(UploadRejectedError) as refused:
        await accept(ingest, b"other bytes entirely", key="upload-1")

    assert refused.value.status == 409
    assert len(publisher.to(topics.DOCUMENTS_UPLOADED)) == 1


async def test_without_a_key_the_same_bytes_are_a_new_job_of_the_same_document() -> None:
    ingest, uploads, publisher = service()

    first, second = await accept(ingest), await accept(ingest)

    assert first != second
    events = publisher.events(topics.DOCUMENTS_UPLOADED)
    assert len({e.document_id for e in events}) == 1 and len(uploads.records) == 2


async def test_a_lost_published_mark_does_not_fail_the_upload() -> None:
    ingest, uploads, publisher = service()
    uploads.fail_marking = True

    job_id = await accept(ingest)

    assert [e.job_id for e in publisher.events(topics.DOCUMENTS_UPLOADED)] == [job_id]
    assert uploads.records[job_id].published_at is None


async def test_bad_input_is_refused_before_anything_is_stored() -> None:
    ingest, uploads, publisher = service()

    with pytest.raises(UploadRejectedError) as too_large:
        await accept(ingest, b"x" * 2048)
    with pytest.raises(UploadRejectedError) as empty:
        await accept(ingest, b"")

    assert (too_large.value.status, empty.value.status) == (413, 400)
    assert uploads.records == {} and publisher.sent == []


async def test_the_caller_needs_the_write_scope() -> None:
    ingest, _, publisher = service()
    reader = Principal("bob", "acme", frozenset({"documents:read"}))

    with pytest.raises(PermissionError):
        await ingest.accept(
            reader, data=TEXT, filename=None, metadata_json=None, idempotency_key=None
        )
    assert publisher.sent == []
