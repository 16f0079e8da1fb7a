"""Nearest chunks of one tenant in one vector set: HNSW with iterative scans, or exact.

A tenant with few rows in the set (below `exact_below`) is searched exactly: its rows come
through the tenant b-tree and are ranked by true distance, which is exact and, at that size,
fast. A larger tenant goes through the set's HNSW index with pgvector's iterative scan
(`hnsw.iterative_scan = relaxed_order`): the index keeps producing candidates until `top_k`
of them belong to the tenant, so the tenant filter cannot starve the result (a plain HNSW
scan filters its `ef_search` candidates afterwards and may return fewer rows, or worse ones).
The relaxed order is put right by sorting the few rows found. docs/benchmarks.md has the
measurements behind the defaults.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

import msgspec
from psycopg import errors, sql

from services.common.db import Pool
from services.common.vectors.registry import Conn
from services.common.vectors.sets import VectorSet
from services.common.vectors.store import VectorSetGoneError

COUNT_TTL_S: Final = 30.0  # how long a tenant's row count in a set is trusted


class SearchTuning(msgspec.Struct, frozen=True, kw_only=True):
    """How a search chooses between exact and HNSW, and how hard HNSW looks."""

    exact_below: int = 20_000  # a tenant with fewer rows in the set is searched exactly
    ef_search: int = 100  # HNSW candidate list per scan step (pgvector's hnsw.ef_search)
    max_scan_tuples: int = 50_000  # most index tuples an iterative scan visits
    iterative_scan: str = "relaxed_order"  # "off": filter one scan's candidates (benchmarks)


class VectorHit(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk near the query, with where it is in its document."""

    document_id: str
    chunk_index: int
    text: str
    score: float  # cosine similarity
    filename: str | None
    page: int | None
    heading: str | None
    start_char: int
    end_char: int


def _nearest(table: str) -> sql.Composed:
    """The tenant's `top_k` nearest rows (materialised, so the index does the LIMIT), then
    sorted by distance (an iterative scan's relaxed order) with each document's filename."""
    return sql.SQL(
        "WITH hits AS MATERIALIZED ("
        " SELECT document_id, chunk_index, tenant_id, text, page, heading, start_char,"
        " end_char, embedding <=> %(q)s::vector AS distance FROM {}"
        " WHERE tenant_id = %(tenant)s ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s)"
        " SELECT h.*, (SELECT j.filename FROM jobs j WHERE j.document_id = h.document_id"
        " AND j.tenant_id = h.tenant_id LIMIT 1) AS filename"
        " FROM hits h ORDER BY h.distance, h.document_id, h.chunk_index"
    ).format(sql.Identifier(table))


def query_literal(vector: Sequence[float]) -> str:
    """A query vector in pgvector's text form (7 significant digits: float4 precision)."""
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


class VectorSearch:
    """Ranks a tenant's chunks in a vector set by cosine similarity to a query vector."""

    def __init__(self, pool: Pool, tuning: SearchTuning | None = None) -> None:
        self.pool = pool
        self.tuning = tuning or SearchTuning()
        self._small: dict[tuple[str, str], tuple[bool, float]] = {}  # (table, tenant)

    async def search(
        self,
        vector_set: VectorSet,
        tenant_id: str,
        vector: Sequence[float],
        top_k: int,
        *,
        exact: bool | None = None,
    ) -> list[VectorHit]:
        """The tenant's `top_k` chunks nearest to `vector`, best first. `exact` forces the
        strategy (None: exact for small tenants and sets without an HNSW index)."""
        params = {"q": query_literal(vector), "tenant": tenant_id, "k": top_k}
        try:
            async with self.pool.connection() as conn:
                if exact is None:
                    exact = not vector_set.key.indexed or await self._is_small(
                        conn, vector_set, tenant_id
                    )
                async with conn.pipeline():  # BEGIN, hold + settings, query: one round trip
                    held = await conn.execute(*self._hold(vector_set, exact=exact))
                    found = await conn.execute(_nearest(vector_set.table), params)
                    rows = await found.fetchall()
                    if await held.fetchone() is None:
                        raise VectorSetGoneError(vector_set.table)
        except errors.UndefinedTable as error:  # pruned: the row and the table went at once
            raise VectorSetGoneError(vector_set.table) from error
        return [
            VectorHit(
                document_id=r["document_id"],
                chunk_index=r["chunk_index"],
                text=r["text"],
                score=1.0 - float(r["distance"]),
                filename=r["filename"],
                page=r["page"],
                heading=r["heading"],
                start_char=r["start_char"],
                end_char=r["end_char"],
            )
            for r in rows
        ]

    def _hold(self, vector_set: VectorSet, *, exact: bool) -> tuple[str, tuple[str | int, ...]]:
        """The statement that holds the set for the transaction (prune waits for it) and sets
        this transaction's planner settings: no index scans for exact (the tenant b-tree is
        still read by a bitmap scan), iterative HNSW otherwise."""
        if exact:
            return (
                "SELECT set_config('enable_indexscan', 'off', true) FROM vector_sets"
                " WHERE id = %s FOR KEY SHARE",
                (vector_set.id,),
            )
        tuning = self.tuning
        return (
            "SELECT set_config('hnsw.iterative_scan', %s, true),"
            " set_config('hnsw.ef_search', %s, true),"
            " set_config('hnsw.max_scan_tuples', %s, true)"
            " FROM vector_sets WHERE id = %s FOR KEY SHARE",
            (
                tuning.iterative_scan,
                str(tuning.ef_search),
                str(tuning.max_scan_tuples),
                vector_set.id,
            ),
        )

    async def _is_small(self, conn: Conn, vector_set: VectorSet, tenant_id: str) -> bool:
        """Whether the tenant has fewer than `exact_below` rows in the set (a bounded count,
        remembered for COUNT_TTL_S)."""
        key = (vector_set.table, tenant_id)
        now = time.monotonic()
        cached = self._small.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        cur = await conn.execute(
            sql.SQL(
                "SELECT count(*) AS n FROM (SELECT 1 FROM {} WHERE tenant_id = %s LIMIT %s) s"
            ).format(sql.Identifier(vector_set.table)),
            (tenant_id, self.tuning.exact_below),
        )
        row = await cur.fetchone()
        small = row is None or int(row["n"]) < self.tuning.exact_below
        if len(self._small) > 10_000:  # many tenants: forget them all rather than grow
            self._small.clear()
        self._small[key] = (small, now + COUNT_TTL_S)
        return small
