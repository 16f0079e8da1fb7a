"""The vector-set registry in Postgres: sets, their tables, which one each tenant searches.

Tables (migration 006): `vector_sets` (one row per set, its table's name), `active_vector_sets`
(tenant -> the set its searches read), `vector_set_jobs` (reprocess jobs writing a set).
A set's table is created on first use, under an advisory lock, with its indexes; the view
`chunks` (every set's rows, with `set_id` and `embedding_model`) is rebuilt with it, for
people and tests that want to look across sets. Services never read the view.

Locks, so that a set is never dropped under a reader or a writer: searches and writes hold
`FOR KEY SHARE` on the set's `vector_sets` row for their transaction; `prune` takes the
advisory lock, then `FOR UPDATE` on the rows it deletes, then drops the tables.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import msgspec
from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

from services.common.db import Pool
from services.common.deletions import hold_barrier
from services.common.vectors.sets import VectorSet, VectorSetKey

DDL_LOCK: Final = 0x5101CF  # advisory lock: set tables created or dropped, the view rebuilt
HNSW_M: Final = 16
HNSW_EF_CONSTRUCTION: Final = 64
TERMINAL_STATES: Final = ("indexed", "failed")
_SET_COLUMNS = "id, model, dimensions, chunk_tokens, chunk_overlap, table_name, created_at"
_VIEW_COLUMNS = (
    "document_id, chunk_index, tenant_id, text, start_char, end_char, token_count,"
    " source_event_id, updated_at, page, heading"
)
Conn = AsyncConnection[DictRow]


class SetUsage(msgspec.Struct, frozen=True):
    """Who needs a set: tenants searching it, reprocess jobs still writing it."""

    vector_set: VectorSet
    active_tenants: int
    unfinished_jobs: int


class PruneReport(msgspec.Struct, frozen=True):
    """What `prune` dropped (or would drop), and what it kept and why."""

    dropped: list[VectorSet]
    kept: list[tuple[VectorSet, str]]


def vector_set(row: dict[str, Any]) -> VectorSet:
    """A `vector_sets` row as a VectorSet."""
    key = VectorSetKey(row["model"], row["dimensions"], row["chunk_tokens"], row["chunk_overlap"])
    return VectorSet(id=row["id"], key=key, table=row["table_name"], created_at=row["created_at"])


def table_ddl(table: str, dimensions: int, *, hnsw: bool) -> list[sql.Composed]:
    """The statements creating a set's table and its indexes (tenant b-tree, HNSW cosine)."""
    name = sql.Identifier(table)
    statements: list[sql.Composed] = [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " tenant_id text NOT NULL, document_id text NOT NULL, chunk_index int NOT NULL,"
            " text text NOT NULL, start_char int NOT NULL, end_char int NOT NULL,"
            " token_count int NOT NULL, page int, heading text,"
            " embedding vector({}) NOT NULL, source_event_id text NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (document_id, chunk_index))"
        ).format(name, sql.Literal(dimensions)),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (tenant_id, document_id)").format(
            sql.Identifier(f"{table}_tenant"), name
        ),
    ]
    if hnsw:
        statements.append(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops)"
                " WITH (m = {}, ef_construction = {})"
            ).format(
                sql.Identifier(f"{table}_hnsw"),
                name,
                sql.Literal(HNSW_M),
                sql.Literal(HNSW_EF_CONSTRUCTION),
            )
        )
    return statements


def chunks_view(sets: Sequence[VectorSet]) -> sql.Composed:
    """`CREATE OR REPLACE VIEW chunks`: every set's rows, tagged with the set and its model."""
    columns = sql.SQL(_VIEW_COLUMNS)
    parts: list[sql.Composable] = [
        sql.SQL(
            "SELECT {set_id}::int AS set_id, {model}::text AS embedding_model, {columns},"
            " embedding::vector AS embedding FROM {table}"
        ).format(
            set_id=sql.Literal(s.id),
            model=sql.Literal(s.key.model),
            columns=columns,
            table=sql.Identifier(s.table),
        )
        for s in sets
    ]
    if not parts:  # no set yet: an empty view with the same columns
        parts = [
            sql.SQL(
                "SELECT NULL::int AS set_id, NULL::text AS embedding_model, NULL::text AS"
                " document_id, NULL::int AS chunk_index, NULL::text AS tenant_id, NULL::text AS"
                " text, NULL::int AS start_char, NULL::int AS end_char, NULL::int AS"
                " token_count, NULL::text AS source_event_id, NULL::timestamptz AS updated_at,"
                " NULL::int AS page, NULL::text AS heading, NULL::vector AS embedding WHERE false"
            )
        ]
    return sql.SQL("CREATE OR REPLACE VIEW chunks AS ") + sql.SQL(" UNION ALL ").join(parts)


async def lock_for_use(conn: Conn, set_id: int) -> bool:
    """Hold the set for this transaction (prune waits for it); False when it is gone."""
    cur = await conn.execute("SELECT 1 FROM vector_sets WHERE id = %s FOR KEY SHARE", (set_id,))
    return await cur.fetchone() is not None


class VectorSets:
    """The registry: find, create, activate and prune vector sets."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def ensure(self, key: VectorSetKey) -> VectorSet:
        """The set of `key`, created (table, indexes, registry row, view) if it is new."""
        found = await self.get(key)
        if found is not None:
            return found
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
            found = await self._get(conn, key)
            if found is not None:  # another process made it while we waited
                return found
            for statement in table_ddl(key.table_name(), key.dimensions, hnsw=key.indexed):
                await conn.execute(statement)
            cur = await conn.execute(
                "INSERT INTO vector_sets (model, dimensions, chunk_tokens, chunk_overlap,"
                f" table_name) VALUES (%s, %s, %s, %s, %s) RETURNING {_SET_COLUMNS}",
                (key.model, key.dimensions, key.chunk_tokens, key.chunk_overlap, key.table_name()),
            )
            row = await cur.fetchone()
            if row is None:
                raise RuntimeError("INSERT ... RETURNING gave no row")
            await conn.execute(chunks_view(await self._all(conn)))
        return vector_set(row)

    async def get(self, key: VectorSetKey) -> VectorSet | None:
        """The registered set of `key`, or None."""
        async with self.pool.connection() as conn:
            return await self._get(conn, key)

    async def by_id(self, set_id: int) -> VectorSet | None:
        """The registered set `set_id`, or None."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_SET_COLUMNS} FROM vector_sets WHERE id = %s", (set_id,)
            )
            row = await cur.fetchone()
        return None if row is None else vector_set(row)

    async def all(self) -> list[VectorSet]:
        """Every registered set, oldest first."""
        async with self.pool.connection() as conn:
            return await self._all(conn)

    async def active(self, tenant_ids: Collection[str]) -> dict[str, VectorSet]:
        """The set each of `tenant_ids` searches (tenants without one are left out)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT a.tenant_id, {_prefixed('s')} FROM active_vector_sets a"
                " JOIN vector_sets s ON s.id = a.set_id WHERE a.tenant_id = ANY(%s)",
                (list(tenant_ids),),
            )
            return {row["tenant_id"]: vector_set(row) for row in await cur.fetchall()}

    async def activate(self, tenant_id: str, set_id: int) -> bool:
        """Make `set_id` the tenant's searched set (one row: atomic); False if the set is gone."""
        async with self.pool.connection() as conn, conn.transaction():
            if not await lock_for_use(conn, set_id):
                return False
            await conn.execute(
                "INSERT INTO active_vector_sets (tenant_id, set_id) VALUES (%s, %s)"
                " ON CONFLICT (tenant_id) DO UPDATE SET set_id = EXCLUDED.set_id,"
                " activated_at = now()",
                (tenant_id, set_id),
            )
        return True

    async def record_jobs(self, set_id: int, tenant_id: str, jobs: Mapping[str, str]) -> set[str]:
        """Remember reprocess jobs (job id -> document id) writing `set_id`: prune keeps the
        set until they end, and a deletion of the document deletes them too. Return the jobs
        recorded: under the deletion barrier, only those whose document still has an upload
        (one deleted since the reprocess read it gets no job)."""
        async with self.pool.connection() as conn, conn.transaction():
            await hold_barrier(conn)
            cur = await conn.execute(
                "INSERT INTO vector_set_jobs (job_id, set_id, tenant_id, document_id)"
                " SELECT j.job_id, %s, %s, j.document_id"
                " FROM unnest(%s::text[], %s::text[]) AS j (job_id, document_id)"
                " WHERE EXISTS (SELECT 1 FROM uploads u"
                "  WHERE u.tenant_id = %s AND u.document_id = j.document_id)"
                " ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
                (set_id, tenant_id, list(jobs), list(jobs.values()), tenant_id),
            )
            return {row["job_id"] for row in await cur.fetchall()}

    async def usage(self) -> list[SetUsage]:
        """Every set with the number of tenants searching it and of its unfinished jobs."""
        async with self.pool.connection() as conn:
            return await self._usage(conn)

    async def prune(self, *, dry_run: bool = False, force: bool = False) -> PruneReport:
        """Drop the sets no tenant searches; keep those reprocess jobs still write (unless
        `force`). Active sets are never dropped."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
            idle = [u.vector_set.id for u in await self._usage(conn) if not u.active_tenants]
            if idle and not dry_run:  # activations and new jobs of these now wait for us
                await conn.execute(
                    "SELECT id FROM vector_sets WHERE id = ANY(%s) FOR UPDATE", (idle,)
                )
            dropped: list[VectorSet] = []
            kept: list[tuple[VectorSet, str]] = []
            for use in await self._usage(conn):
                if use.active_tenants:
                    kept.append((use.vector_set, f"searched by {use.active_tenants} tenant(s)"))
                elif use.unfinished_jobs and not force:
                    reason = f"{use.unfinished_jobs} reprocess job(s) still writing it"
                    kept.append((use.vector_set, reason))
                elif use.vector_set.id in idle:
                    dropped.append(use.vector_set)
                else:  # became idle after we looked: the next prune takes it
                    kept.append((use.vector_set, "activation changed during the prune"))
            if dropped and not dry_run:
                await conn.execute(
                    "DELETE FROM vector_sets WHERE id = ANY(%s)", ([s.id for s in dropped],)
                )
                await conn.execute(chunks_view(await self._all(conn)))
                for gone in dropped:
                    await conn.execute(
                        sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(gone.table))
                    )
        return PruneReport(dropped=dropped, kept=kept)

    async def _usage(self, conn: Conn) -> list[SetUsage]:
        cur = await conn.execute(
            f"SELECT {_SET_COLUMNS},"
            " (SELECT count(*) FROM active_vector_sets a WHERE a.set_id = s.id) AS tenants,"
            " (SELECT count(*) FROM vector_set_jobs v LEFT JOIN jobs j ON j.job_id = v.job_id"
            "  WHERE v.set_id = s.id AND (j.state IS NULL OR j.state <> ALL(%s))) AS unfinished"
            " FROM vector_sets s ORDER BY s.id",
            (list(TERMINAL_STATES),),
        )
        return [
            SetUsage(vector_set(row), int(row["tenants"]), int(row["unfinished"]))
            for row in await cur.fetchall()
        ]

    async def _get(self, conn: Conn, key: VectorSetKey) -> VectorSet | None:
        cur = await conn.execute(
            f"SELECT {_SET_COLUMNS} FROM vector_sets WHERE model = %s AND dimensions = %s"
            " AND chunk_tokens IS NOT DISTINCT FROM %s AND chunk_overlap IS NOT DISTINCT FROM %s",
            (key.model, key.dimensions, key.chunk_tokens, key.chunk_overlap),
        )
        row = await cur.fetchone()
        return None if row is None else vector_set(row)

    async def _all(self, conn: Conn) -> list[VectorSet]:
        cur = await conn.execute(f"SELECT {_SET_COLUMNS} FROM vector_sets ORDER BY id")
        return [vector_set(row) for row in await cur.fetchall()]


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in _SET_COLUMNS.split(","))
