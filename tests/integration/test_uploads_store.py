"""Storing an upload on a real Postgres, in one statement (`sluice_create_upload`): the bytes,
the row and the blob's reference together; an Idempotency-Key taken answers with its upload,
also when the two race; and it waits for a deletion holding the barrier."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import pytest

from schemas.events import now, uuid7
from services.common.db import Pool
from services.common.deletions import hold_barrier
from services.ingest.adapters.uploads_store import PostgresUploadsStore
from services.ingest.core.ports import UploadRecord

pytestmark = pytest.mark.integration


def record(data: bytes, *, key: str | None = None, tenant: str = "acme") -> UploadRecord:
    return UploadRecord(
        job_id=uuid7(),
        tenant_id=tenant,
        document_id=uuid7(),
        event_id=uuid7(),
        sha256=hashlib.sha256(data).hexdigest(),
        filename="naïve résumé.txt",
        media_type="text/plain",
        size=len(data),
        metadata={"source": {"nested": [1, "two", None]}, "quote": 'it\'s "quoted"'},
        created_at=now(),
        idempotency_key=key,
        holder="ingest-1",
    )


async def test_the_bytes_the_row_and_the_reference_are_stored_together(pool: Pool) -> None:
    data = b"\x00\xffbinary and text\n" * 100
    wanted = record(data)

    stored = await PostgresUploadsStore(pool).create(wanted, data)

    assert stored == wanted  # every column round-trips, metadata and timestamp included
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT b.data, b.size, b.media_type, r.document_id FROM blobs b"
            " JOIN blob_refs r USING (sha256) WHERE sha256 = %s",
            (wanted.sha256,),
        )
        rows = await cur.fetchall()
    assert [(bytes(r["data"]), r["size"], r["media_type"], r["document_id"]) for r in rows] == [
        (data, len(data), "text/plain", wanted.document_id)
    ]


async def test_a_taken_key_answers_with_its_upload_even_when_the_two_race(pool: Pool) -> None:
    store = PostgresUploadsStore(pool)
    first = await store.create(record(b"one", key="k1"), b"one")

    again = await store.create(record(b"one", key="k1"), b"one")
    racing = await asyncio.gather(
        *(store.create(record(b"two", key="k2"), b"two") for _ in range(6))
    )

    assert again == first
    assert len({r.job_id for r in racing}) == 1, "one job per key, whoever came first"
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT idempotency_key, count(*) AS n FROM uploads GROUP BY 1")
        assert {r["idempotency_key"]: r["n"] for r in await cur.fetchall()} == {"k1": 1, "k2": 1}


async def test_it_waits_for_a_deletion_holding_the_barrier(pool: Pool) -> None:
    store = PostgresUploadsStore(pool)
    async with pool.connection() as deleting:
        await hold_barrier(deleting, exclusive=True)
        create = asyncio.create_task(store.create(record(b"late"), b"late"))
        await asyncio.sleep(0.5)
        assert not create.done(), "the upload went in under a deletion"
    assert (await create).sha256 == hashlib.sha256(b"late").hexdigest()


async def test_the_published_mark_is_set_once_and_its_async_commit_stays_with_it(
    pool: Pool,
) -> None:
    store = PostgresUploadsStore(pool)
    stored = await store.create(record(b"sent"), b"sent")

    await store.mark_published(stored.job_id)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT published_at FROM uploads")
        first = (await cur.fetchone() or {})["published_at"]
    await store.mark_published(stored.job_id)

    assert first is not None
    async with contextlib.AsyncExitStack() as stack:  # all 8: the marking one is among them
        for _ in range(8):
            conn = await stack.enter_async_context(pool.connection())
            cur = await conn.execute(
                "SELECT current_setting('synchronous_commit') AS s, published_at FROM uploads"
            )
            assert await cur.fetchone() == {"s": "on", "published_at": first}
