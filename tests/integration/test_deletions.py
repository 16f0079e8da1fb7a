"""Deleting a document on a real Postgres: what goes (its rows, the blobs only it needs), that
nothing of a deleted job is written afterwards (chunks, blobs, projected rows), that a write
racing the deletion waits for it and then skips, and that a later upload is a live job."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from schemas import topics
from schemas.events import (
    BlobRef,
    DocumentDeleted,
    DocumentUploaded,
    Stage,
    StageStarted,
    document_id_for,
    now,
    uuid7,
)
from services.common.blobstore import PostgresBlobStore
from services.common.db import Pool
from services.common.deletions import hold_barrier
from services.common.errors import DocumentDeletedError
from services.common.kafka.records import Delivery
from services.common.vectors.registry import VectorSets
from services.common.vectors.sets import VectorSetKey
from services.embedder.adapters.chunk_store import PostgresChunkStore
from services.embedder.core.chunking import Chunk
from services.embedder.core.ports import DocumentChunks
from services.ingest.adapters.uploads_store import PostgresUploadsStore
from services.ingest.core.ports import UploadRecord
from services.status.adapters.deletions import PostgresDeletions
from services.status.adapters.projector import Projector

pytestmark = pytest.mark.integration

BYTES = b"the same bytes, uploaded by two tenants\n"
SET = VectorSetKey("m", 2, 64, 8)
OTHER_SET = VectorSetKey("m", 2, 128, 16)  # the same model, chunked otherwise


async def upload(pool: Pool, tenant: str, data: bytes = BYTES) -> DocumentUploaded:
    """Store an upload as ingest does, project its event; return the event."""
    sha = hashlib.sha256(data).hexdigest()
    record = UploadRecord(
        job_id=uuid7(),
        tenant_id=tenant,
        document_id=document_id_for(tenant, sha),
        event_id=uuid7(),
        sha256=sha,
        filename="a.txt",
        media_type="text/plain",
        size=len(data),
        metadata={},
        created_at=now(),
    )
    await PostgresUploadsStore(pool).create(record, data)
    event = DocumentUploaded(
        event_id=record.event_id,
        occurred_at=record.created_at,
        tenant_id=tenant,
        job_id=record.job_id,
        document_id=record.document_id,
        blob=BlobRef(sha256=sha, size=len(data), media_type="text/plain"),
        filename="a.txt",
    )
    await project(pool, event)
    return event


async def project(pool: Pool, *events: Any) -> int:
    """Apply `events` as the status projector does; return how many were new."""
    batch = [Delivery(topics.DOCUMENTS_UPLOADED, 0, i, e) for i, e in enumerate(events)]
    async with pool.connection() as conn, conn.transaction():
        return await Projector(pool, "test").apply(conn, batch)


def chunks_of(event: DocumentUploaded, n: int = 3, target: VectorSetKey = SET) -> DocumentChunks:
    return DocumentChunks(
        tenant_id=event.tenant_id,
        document_id=event.document_id,
        source_event_id=f"parsed-{event.event_id}",
        chunks=[
            Chunk(index=i, text=f"chunk {i}", start=i, end=i + 1, token_count=2) for i in range(n)
        ],
        vectors=[[1.0, float(i)] for i in range(n)],
        target=target,
        job_id=event.job_id,
    )


async def count(pool: Pool, table: str, document_id: str) -> int:
    column = "payload->>'document_id'" if table == "job_events" else "document_id"
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT count(*) AS n FROM {table} WHERE {column} = %s", (document_id,)
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def blob_exists(pool: Pool, sha256: str) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM blobs WHERE sha256 = %s", (sha256,))
        return await cur.fetchone() is not None


async def test_a_deletion_removes_the_documents_rows_and_only_the_blobs_it_alone_needs(
    pool: Pool,
) -> None:
    mine, theirs = await upload(pool, "acme"), await upload(pool, "globex")
    blobs = PostgresBlobStore(pool)
    own_text = await blobs.put(b"text only acme's document has", "text/plain", owner=mine)
    shared_text = await blobs.put(b"text both documents have", "text/plain", owner=mine)
    await blobs.put(b"text both documents have", "text/plain", owner=theirs)
    chunks = PostgresChunkStore(pool)
    await chunks.replace([chunks_of(mine), chunks_of(theirs)])
    await chunks.replace([chunks_of(mine, 2, OTHER_SET)])  # a second vector set of it

    deletion = await PostgresDeletions(pool).delete("acme", mine.document_id)

    assert deletion is not None
    assert (deletion.jobs, deletion.chunks, deletion.blobs) == (1, 5, 1), "every set's chunks"
    assert deletion.deleted_jobs == [mine.job_id]
    for table in ("uploads", "jobs", "chunks", "blob_refs"):
        assert await count(pool, table, mine.document_id) == 0, table
        assert await count(pool, table, theirs.document_id) > 0, table
    assert not await blob_exists(pool, own_text.sha256)
    assert await blob_exists(pool, shared_text.sha256), "globex's document still needs it"
    assert await blob_exists(pool, mine.blob.sha256), "globex uploaded the same bytes"
    assert await count(pool, "deleted_jobs", mine.document_id) == 1


async def test_nothing_of_a_deleted_job_is_written_afterwards_and_a_new_upload_is_live(
    pool: Pool,
) -> None:
    old = await upload(pool, "acme")
    await PostgresDeletions(pool).delete("acme", old.document_id)
    chunks = PostgresChunkStore(pool)

    skipped = await chunks.replace([chunks_of(old), chunks_of(old, 2, OTHER_SET)])
    with pytest.raises(DocumentDeletedError):
        await PostgresBlobStore(pool).put(b"its text", "text/plain", owner=old)
    late = StageStarted(
        event_id=uuid7(),
        occurred_at=now(),
        tenant_id="acme",
        job_id=old.job_id,
        document_id=old.document_id,
        stage=Stage.PARSE,
    )
    projected = await project(pool, old, late)

    assert skipped == {f"parsed-{old.event_id}"}
    assert projected == 0
    for table in ("chunks", "jobs", "job_events", "blob_refs"):
        assert await count(pool, table, old.document_id) == 0, table
    assert not await blob_exists(pool, hashlib.sha256(b"its text").hexdigest())

    new = await upload(pool, "acme")  # the same bytes again, after the deletion

    assert new.document_id == old.document_id and new.job_id != old.job_id
    assert await chunks.replace([chunks_of(new)]) == set()
    assert await count(pool, "chunks", new.document_id) == 3
    assert await count(pool, "jobs", new.document_id) == 1


@contextlib.asynccontextmanager
async def deleting(pool: Pool, event: DocumentUploaded) -> AsyncIterator[None]:
    """A deletion of `event`'s job in progress: the barrier held exclusive, the job recorded,
    both until the block ends (its commit)."""
    async with pool.connection() as conn, conn.transaction():
        await hold_barrier(conn, exclusive=True)
        await conn.execute(
            "INSERT INTO deleted_jobs (job_id, tenant_id, document_id) VALUES (%s, %s, %s)",
            (event.job_id, event.tenant_id, event.document_id),
        )
        yield


async def test_a_chunk_write_racing_a_deletion_waits_for_it_and_then_skips(pool: Pool) -> None:
    event = await upload(pool, "acme")
    async with deleting(pool, event):
        writing = asyncio.create_task(PostgresChunkStore(pool).replace([chunks_of(event)]))
        await asyncio.sleep(0.5)
        assert not writing.done(), "the write waits for the deletion's commit"

    assert await writing == {f"parsed-{event.event_id}"}
    assert await count(pool, "chunks", event.document_id) == 0


async def test_a_blob_write_racing_a_deletion_waits_for_it_and_then_refuses(pool: Pool) -> None:
    event = await upload(pool, "acme")
    async with deleting(pool, event):
        writing = asyncio.create_task(
            PostgresBlobStore(pool).put(b"parsed text", "text/plain", owner=event)
        )
        await asyncio.sleep(0.5)
        assert not writing.done(), "the write waits for the deletion's commit"

    with pytest.raises(DocumentDeletedError):
        await writing
    assert not await blob_exists(pool, hashlib.sha256(b"parsed text").hexdigest())


async def test_the_projector_applies_tombstones_and_a_replayed_one_spares_a_later_upload(
    pool: Pool,
) -> None:
    old = await upload(pool, "acme")
    tombstone = DocumentDeleted(
        event_id=str(uuid.uuid4()),
        occurred_at=now(),
        tenant_id="acme",
        job_id="deletion-1",
        document_id=old.document_id,
        deleted_jobs=[old.job_id],
    )

    await project(pool, tombstone)
    assert await count(pool, "jobs", old.document_id) == 0
    new = await upload(pool, "acme")
    assert await project(pool, old, tombstone) == 0, "the old job stays deleted"

    assert await count(pool, "jobs", new.document_id) == 1, "the new upload is not in it"
    assert await count(pool, "deleted_jobs", old.document_id) == 1


async def test_a_deletion_covers_a_reprocess_job_published_but_not_yet_projected(
    pool: Pool,
) -> None:
    event = await upload(pool, "acme")
    sets = VectorSets(pool)
    target = await sets.ensure(OTHER_SET)
    rejob = msgspec.structs.replace(event, event_id=uuid7(), job_id=uuid7())  # as reprocess does
    recorded = await sets.record_jobs(target.id, "acme", {rejob.job_id: rejob.document_id})
    assert recorded == {rejob.job_id}

    deletion = await PostgresDeletions(pool).delete("acme", event.document_id)

    assert deletion is not None
    assert deletion.deleted_jobs == sorted([event.job_id, rejob.job_id])
    assert await PostgresChunkStore(pool).replace([chunks_of(rejob, target=OTHER_SET)]) == {
        f"parsed-{rejob.event_id}"
    }, "the embedder skips the reprocess job"
    assert await project(pool, rejob) == 0, "the projector skips it"
    assert await count(pool, "chunks", event.document_id) == 0
    assert [s.id for s in (await sets.prune()).dropped] == [target.id], "no job left writing it"
    late = await sets.record_jobs(target.id, "acme", {uuid7(): event.document_id})
    assert late == set(), "a reprocess that read the document before the deletion gets no job"
