"""Chunk rows in vector-set tables: the embedder's upserts, a document's deletion, counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

import msgspec
import numpy
from psycopg import sql

from services.common.db import Pool
from services.common.deletions import deleted_among, hold_barrier
from services.common.vectors.registry import Conn, VectorSets, lock_for_use
from services.common.vectors.sets import VectorSet, VectorSetKey

WRITE_ATTEMPTS: Final = 3  # a set pruned between `ensure` and the write is made again


class ChunkRow(NamedTuple):
    """One chunk to store (`embedding`: pgvector's text form, see `vector_literal`)."""

    chunk_index: int
    text: str
    start_char: int
    end_char: int
    token_count: int
    page: int | None
    heading: str | None
    embedding: str


class DocumentRows(msgspec.Struct, frozen=True):
    """Every chunk of one document, for one vector set."""

    tenant_id: str
    document_id: str
    source_event_id: str
    rows: list[ChunkRow]
    job_id: str | None = None  # its job: not stored once that job is deleted


class VectorSetGoneError(LookupError):
    """The set was pruned while this operation ran."""


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form of `vector`, each value as the float4 pgvector stores.

    Rounded to float4 first and written with 9 significant digits, which names that float4
    exactly: the same stored vector as the float64 repr, at a third of the cost (the repr
    of ~3,500 floats per document was a visible share of the embedder's CPU).
    """
    values = numpy.asarray(vector, dtype=numpy.float32).tolist()
    template = _FORMATS.get(len(values)) or _format(len(values))
    return template % tuple(values)


_FORMATS: dict[int, str] = {}


def _format(dimensions: int) -> str:
    """The %-format of a vector of `dimensions` values (one per model: cached)."""
    _FORMATS[dimensions] = "[" + ",".join(["%.9g"] * dimensions) + "]"
    return _FORMATS[dimensions]


def _upsert(table: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {} (tenant_id, document_id, chunk_index, text, start_char, end_char,"
        " token_count, page, heading, embedding, source_event_id, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector, %s, now())"
        " ON CONFLICT (document_id, chunk_index) DO UPDATE SET"
        " tenant_id = EXCLUDED.tenant_id, text = EXCLUDED.text,"
        " start_char = EXCLUDED.start_char, end_char = EXCLUDED.end_char,"
        " token_count = EXCLUDED.token_count, page = EXCLUDED.page,"
        " heading = EXCLUDED.heading, embedding = EXCLUDED.embedding,"
        " source_event_id = EXCLUDED.source_event_id, updated_at = now()"
    ).format(sql.Identifier(table))


def _trim(table: str) -> sql.Composed:
    return sql.SQL("DELETE FROM {} WHERE document_id = %s AND chunk_index >= %s").format(
        sql.Identifier(table)
    )


class VectorStore:
    """Writes and deletes chunk rows, each in the table of its vector set."""

    def __init__(self, pool: Pool, sets: VectorSets | None = None) -> None:
        self.pool = pool
        self.sets = sets or VectorSets(pool)

    async def write(
        self, writes: Sequence[tuple[VectorSetKey, Sequence[DocumentRows]]]
    ) -> set[str]:
        """Store every document's rows in its set (created on first use), all in one
        transaction; drop rows beyond each document's new count. A tenant without an active
        set gets the first set its chunks are stored in.

        The transaction holds the deletion barrier (services/common/deletions.py) and skips
        documents whose job was deleted: returns their `source_event_id`s. A deletion either
        committed before (seen here) or waits for this commit and deletes what it stored.
        """
        if not writes:
            return set()
        for _ in range(WRITE_ATTEMPTS - 1):
            try:
                return await self._write(await self._resolve(writes))
            except VectorSetGoneError:
                continue  # a set pruned between `ensure` and the write: made again
        return await self._write(await self._resolve(writes))

    async def _resolve(
        self, writes: Sequence[tuple[VectorSetKey, Sequence[DocumentRows]]]
    ) -> list[tuple[VectorSet, Sequence[DocumentRows]]]:
        return [(await self.sets.ensure(key), documents) for key, documents in writes]

    async def _write(self, writes: list[tuple[VectorSet, Sequence[DocumentRows]]]) -> set[str]:
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await hold_barrier(conn)
            jobs = [d.job_id for _, documents in writes for d in documents if d.job_id]
            dead = await deleted_among(conn, jobs)
            skipped: set[str] = set()
            for vector_set, documents in writes:
                live = [d for d in documents if d.job_id not in dead]
                skipped.update(d.source_event_id for d in documents if d.job_id in dead)
                if not live:
                    continue
                if not await lock_for_use(conn, vector_set.id):
                    raise VectorSetGoneError(vector_set.table)
                rows = [
                    (d.tenant_id, d.document_id, *row, d.source_event_id)
                    for d in live
                    for row in d.rows
                ]
                await cur.executemany(_upsert(vector_set.table), rows)
                await cur.executemany(
                    _trim(vector_set.table), [(d.document_id, len(d.rows)) for d in live]
                )
                await cur.executemany(
                    "INSERT INTO active_vector_sets (tenant_id, set_id) VALUES (%s, %s)"
                    " ON CONFLICT (tenant_id) DO NOTHING",
                    [(tenant, vector_set.id) for tenant in sorted({d.tenant_id for d in live})],
                )
        return skipped

    async def delete_document(self, tenant_id: str, document_id: str) -> int:
        """Delete the tenant's document from every vector set (one transaction); the number
        of chunk rows deleted."""
        async with self.pool.connection() as conn, conn.transaction():
            return await self.delete_document_in(conn, tenant_id, document_id)

    async def delete_document_in(self, conn: Conn, tenant_id: str, document_id: str) -> int:
        """`delete_document` in the caller's transaction on `conn` (a deletion holding the
        deletion barrier); the number of chunk rows deleted."""
        deleted = 0
        for vector_set in await self.sets.all():
            if not await lock_for_use(conn, vector_set.id):
                continue  # pruned meanwhile: nothing of it is left to delete
            cur = await conn.execute(
                sql.SQL("DELETE FROM {} WHERE tenant_id = %s AND document_id = %s").format(
                    sql.Identifier(vector_set.table)
                ),
                (tenant_id, document_id),
            )
            deleted += cur.rowcount
        return deleted

    async def count(
        self, vector_set: VectorSet, tenant_id: str, document_id: str | None = None
    ) -> tuple[int, int]:
        """(chunks, documents) of the tenant in the set (of one document when given)."""
        query = sql.SQL(
            "SELECT count(*) AS chunks, count(DISTINCT document_id) AS documents FROM {}"
            " WHERE tenant_id = %s AND (%s::text IS NULL OR document_id = %s)"
        ).format(sql.Identifier(vector_set.table))
        async with self.pool.connection() as conn, conn.transaction():
            if not await lock_for_use(conn, vector_set.id):
                return 0, 0
            cur = await conn.execute(query, (tenant_id, document_id, document_id))
            row = await cur.fetchone()
        return (int(row["chunks"]), int(row["documents"])) if row else (0, 0)

    async def missing_documents(
        self, tenant_id: str, source: VectorSet, target: VectorSet, limit: int = 5
    ) -> tuple[int, list[str]]:
        """How many of the tenant's documents in `source` have no chunk in `target`, and
        the first `limit` of their ids."""
        query = sql.SQL(
            "SELECT DISTINCT s.document_id FROM {} s WHERE s.tenant_id = %s"
            " AND NOT EXISTS (SELECT 1 FROM {} t WHERE t.document_id = s.document_id"
            " AND t.tenant_id = s.tenant_id) ORDER BY s.document_id"
        ).format(sql.Identifier(source.table), sql.Identifier(target.table))
        async with self.pool.connection() as conn, conn.transaction():
            if not (await lock_for_use(conn, source.id) and await lock_for_use(conn, target.id)):
                raise VectorSetGoneError(f"{source.table} or {target.table}")
            cur = await conn.execute(query, (tenant_id,))
            ids = [row["document_id"] for row in await cur.fetchall()]
        return len(ids), ids[:limit]
