"""Vector sets on a real Postgres with pgvector: a table per set with a fixed-dimension column
and an HNSW index, writes, tenant-filtered search, activation, prune (and its locks), deleting a
document, and migration 006 moving the old `chunks` table's rows into sets."""

from __future__ import annotations

import asyncio
import random
from importlib import resources

import psycopg
import pytest
from psycopg import sql

from services.common.db import Pool, migrate, open_pool
from services.common.vectors.registry import VectorSets, lock_for_use
from services.common.vectors.search import SearchTuning, VectorSearch
from services.common.vectors.sets import VectorSet, VectorSetKey
from services.common.vectors.store import (
    ChunkRow,
    DocumentRows,
    VectorSetGoneError,
    VectorStore,
    vector_literal,
)

pytestmark = pytest.mark.integration

MIGRATION = "009_vector_sets.sql"

SMALL = VectorSetKey("bench-hashing-4", 4, 8, 2)
OTHER = VectorSetKey("bench-hashing-4", 4, 4, 0)  # the same model, other chunking


def unit(*values: float) -> list[float]:
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def document(tenant: str, document_id: str, vectors: list[list[float]]) -> DocumentRows:
    rows = [
        ChunkRow(
            i, f"{document_id} chunk {i}", 10 * i, 10 * i + 9, 3, i + 1, "H", vector_literal(v)
        )
        for i, v in enumerate(vectors)
    ]
    return DocumentRows(tenant, document_id, f"event-{document_id}", rows)


async def rows_of(pool: Pool, sql: str, *params: object) -> list[dict[str, object]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return list(await cur.fetchall())


async def test_a_set_gets_its_own_table_with_a_typed_column_and_an_hnsw_index(pool: Pool) -> None:
    sets = VectorSets(pool)

    made = await asyncio.gather(*(sets.ensure(SMALL) for _ in range(5)))  # racing creators

    assert len({s.id for s in made}) == 1
    table = made[0].table
    assert table == SMALL.table_name() and table.startswith("chunks_")
    [column] = await rows_of(
        pool,
        "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = 'embedding'",
        table,
    )
    assert column["type"] == "vector(4)"
    indexes = await rows_of(pool, "SELECT indexdef FROM pg_indexes WHERE tablename = %s", table)
    assert any("USING hnsw (embedding vector_cosine_ops)" in str(i["indexdef"]) for i in indexes)
    assert await sets.get(OTHER) is None


async def test_writes_upsert_trim_and_give_a_new_tenant_its_first_set(pool: Pool) -> None:
    store, sets = VectorStore(pool), VectorSets(pool)
    three = [unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)]
    await store.write([(SMALL, [document("acme", "d1", three)])])
    await store.write([(OTHER, [document("acme", "d1", [*three, unit(0, 0, 0, 1)])])])
    await store.write([(SMALL, [document("acme", "d1", three[:2])])])  # re-chunked: shorter

    small, other = await sets.get(SMALL), await sets.get(OTHER)
    assert small is not None and other is not None
    assert await store.count(small, "acme") == (2, 1)
    assert await store.count(other, "acme") == (4, 1)
    assert (await sets.active(["acme"]))["acme"].id == small.id  # the first set it got
    view = await rows_of(
        pool,
        "SELECT set_id, embedding_model, count(*) AS n FROM chunks WHERE tenant_id = 'acme'"
        " GROUP BY 1, 2 ORDER BY 1",
    )
    assert view == [
        {"set_id": small.id, "embedding_model": SMALL.model, "n": 2},
        {"set_id": other.id, "embedding_model": OTHER.model, "n": 4},
    ]


async def test_a_vector_of_the_wrong_length_stores_nothing_of_the_batch(pool: Pool) -> None:
    store = VectorStore(pool)
    good = document("acme", "good", [unit(1, 0, 0, 0)])
    bad = document("acme", "bad", [[0.5, 0.5, 0.5]])

    with pytest.raises(psycopg.errors.DataException, match="expected 4 dimensions"):
        await store.write([(SMALL, [good, bad])])

    small = await VectorSets(pool).get(SMALL)
    assert small is not None
    assert await store.count(small, "acme") == (0, 0)


async def test_search_reads_one_tenant_in_one_set_with_the_hits_citations(pool: Pool) -> None:
    store, sets = VectorStore(pool), VectorSets(pool)
    await store.write([(SMALL, [document("acme", "a", [unit(1, 0, 0, 0), unit(1, 1, 0, 0)])])])
    await store.write([(SMALL, [document("globex", "g", [unit(1, 0, 0, 0)])])])
    await store.write([(OTHER, [document("acme", "a", [unit(1, 0, 0, 0)])])])
    small = await sets.get(SMALL)
    assert small is not None
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO jobs (job_id, tenant_id, document_id, state, state_rank, filename)"
            " VALUES ('j', 'acme', 'a', 'indexed', 5, 'a.txt')"
        )

    for exact in (True, False):
        hits = await VectorSearch(pool).search(small, "acme", unit(1, 0, 0, 0), 5, exact=exact)
        assert [(h.document_id, h.chunk_index) for h in hits] == [("a", 0), ("a", 1)]
        first = hits[0]
        assert first.score == pytest.approx(1.0)
        assert (first.filename, first.page, first.heading) == ("a.txt", 1, "H")
        assert (first.start_char, first.end_char, first.text) == (0, 9, "a chunk 0")


async def test_an_iterative_scan_finds_a_smaller_tenant_among_many_rows(pool: Pool) -> None:
    """HNSW with a tenant filter: the iterative scan goes on until `top_k` rows of the tenant
    are found, so a tenant of a quarter of the rows gets 10 hits, nearly the true ones, from an
    `ef_search` of 10 (a plain scan filters its 10 candidates down to about 2). The table is
    analysed first, as autovacuum does: the planner then takes the HNSW index for this tenant
    (a tenant of 1 % it reads through the tenant index, exactly)."""
    key = VectorSetKey("bench-hashing-16", 16, 8, 2)
    rng = random.Random(7)  # noqa: S311 - test data
    vectors = [unit(*(rng.gauss(0, 1) for _ in range(16))) for _ in range(3000)]
    owners = ["small" if i % 4 == 0 else "big" for i in range(3000)]
    store = VectorStore(pool)
    await store.write(
        [
            (
                key,
                [
                    document(o, f"d{i}", [v])
                    for i, (o, v) in enumerate(zip(owners, vectors, strict=True))
                ],
            )
        ]
    )
    found = await VectorSets(pool).get(key)
    assert found is not None
    async with pool.connection() as conn:
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(found.table)))
    query = unit(*(rng.gauss(0, 1) for _ in range(16)))
    search = VectorSearch(pool, SearchTuning(exact_below=0, ef_search=10))

    exact = await search.search(found, "small", query, 10, exact=True)
    approximate = await search.search(found, "small", query, 10, exact=False)

    truth = sorted(
        (i for i, o in enumerate(owners) if o == "small"),
        key=lambda i: -sum(a * b for a, b in zip(vectors[i], query, strict=True)),
    )[:10]
    assert [h.document_id for h in exact] == [f"d{i}" for i in truth]
    assert len(approximate) == 10
    assert {h.document_id for h in approximate} <= {
        f"d{i}" for i, o in enumerate(owners) if o == "small"
    }
    assert len({h.document_id for h in approximate} & {f"d{i}" for i in truth}) >= 8


async def test_prune_drops_idle_sets_keeps_active_and_building_ones(pool: Pool) -> None:
    store, sets = VectorStore(pool), VectorSets(pool)
    await store.write([(SMALL, [document("acme", "d", [unit(1, 0, 0, 0)])])])
    idle = await sets.ensure(OTHER)
    building = await sets.ensure(VectorSetKey("bench-hashing-4", 4, 6, 0))
    async with pool.connection() as conn:  # an upload of "d" that a reprocess sends again
        await conn.execute(
            "INSERT INTO uploads (job_id, tenant_id, document_id, event_id, sha256, filename,"
            " media_type, size) VALUES ('job-0', 'acme', 'd', 'e', 's', 'd.txt', 'text/plain', 1)"
        )
    running = await sets.record_jobs(building.id, "acme", {"job-running": "d"})
    assert running == {"job-running"}  # not projected yet: running

    dry = await sets.prune(dry_run=True)
    assert [s.id for s in dry.dropped] == [idle.id]
    assert await sets.get(OTHER) is not None  # a dry run drops nothing

    report = await sets.prune()
    assert [s.id for s in report.dropped] == [idle.id]
    kept = {s.id: why for s, why in report.kept}
    assert "searched by 1 tenant" in kept[(await sets.active(["acme"]))["acme"].id]
    assert "1 reprocess job(s) still writing it" in kept[building.id]
    assert await rows_of(pool, "SELECT to_regclass(%s) AS t", idle.table) == [{"t": None}]
    assert await rows_of(pool, "SELECT count(*) AS n FROM chunks") == [{"n": 1}]  # view rebuilt

    async with pool.connection() as conn:  # the job ended: the set is idle now
        await conn.execute(
            "INSERT INTO jobs (job_id, tenant_id, document_id, state, state_rank)"
            " VALUES ('job-running', 'acme', 'd', 'indexed', 5)"
        )
    assert [s.id for s in (await sets.prune()).dropped] == [building.id]
    assert not await sets.activate("acme", idle.id)  # a pruned set cannot be activated


async def test_prune_waits_for_a_search_holding_the_set(pool: Pool, fresh_database: str) -> None:
    sets = VectorSets(pool)
    idle = await sets.ensure(OTHER)
    async with await psycopg.AsyncConnection.connect(fresh_database) as reader:
        assert await lock_for_use(reader, idle.id)  # type: ignore[arg-type]  # a search's hold
        pruning = asyncio.create_task(sets.prune())
        await _until_waiting_on_a_lock(pool)
        assert not pruning.done()
        assert await rows_of(pool, "SELECT to_regclass(%s) AS t", idle.table) != [{"t": None}]
        await reader.commit()  # the search ends
    report = await pruning
    assert [s.id for s in report.dropped] == [idle.id]
    with pytest.raises(VectorSetGoneError):
        await VectorSearch(pool).search(idle, "acme", unit(1, 0, 0, 0), 3)


async def _until_waiting_on_a_lock(pool: Pool) -> None:
    for _ in range(200):
        waiting = await rows_of(
            pool,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()",
        )
        if waiting[0]["n"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("prune never waited for the search's lock")


async def test_delete_document_removes_it_from_every_set_of_that_tenant_only(pool: Pool) -> None:
    store = VectorStore(pool)
    one = [unit(1, 0, 0, 0)]
    await store.write([(SMALL, [document("acme", "d", one), document("acme", "keep", one)])])
    await store.write([(OTHER, [document("acme", "d", one + one)])])
    await store.write([(OTHER, [document("globex", "d-globex", one)])])

    assert await store.delete_document("globex", "d") == 0  # another tenant's id: untouched
    assert await store.delete_document("acme", "d") == 3

    left = await rows_of(pool, "SELECT tenant_id, document_id FROM chunks ORDER BY 2")
    assert left == [
        {"tenant_id": "globex", "document_id": "d-globex"},
        {"tenant_id": "acme", "document_id": "keep"},
    ]


# --- migration 006: the old table's rows move into sets ------------------------------------


async def test_migration_moves_the_old_chunks_into_one_set_per_model(fresh_database: str) -> None:
    folder = resources.files("services.common") / "migrations"
    async with await psycopg.AsyncConnection.connect(fresh_database, autocommit=True) as conn:
        await conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY)")
        for name in sorted(f.name for f in folder.iterdir() if f.name < MIGRATION):
            await conn.execute((folder / name).read_text().encode())
            await conn.execute("INSERT INTO schema_migrations VALUES (%s)", (name,))
        old = [  # (document, chunk, model, tenant, vector)
            ("a1", 0, "all-MiniLM-L6-v2", "acme", "[1,0,0]"),
            ("a1", 1, "all-MiniLM-L6-v2", "acme", "[0,1,0]"),
            ("b1", 0, "all-MiniLM-L6-v2", "globex", "[0,0,1]"),
            ("b1", 0, "text-embedding-3-small", "globex", "[1,0,0,0]"),
        ]
        for doc, index, model, tenant, vector in old:
            await conn.execute(
                "INSERT INTO chunks (document_id, chunk_index, embedding_model, tenant_id, text,"
                " start_char, end_char, token_count, embedding, source_event_id, page, heading)"
                " VALUES (%s, %s, %s, %s, %s, 0, 5, 2, %s, 'e', 3, 'Intro')",
                (doc, index, model, tenant, f"{doc}/{index}", vector),
            )

    assert (await migrate(fresh_database))[0] == MIGRATION  # then the later ones

    pool = await open_pool(fresh_database, max_size=2)
    try:
        sets = await VectorSets(pool).all()
        assert [s.key for s in sets] == [
            VectorSetKey("all-MiniLM-L6-v2", 3),  # the larger first; chunking not recorded
            VectorSetKey("text-embedding-3-small", 4),
        ]
        active = await VectorSets(pool).active(["acme", "globex"])
        assert {t: s.id for t, s in active.items()} == {"acme": sets[0].id, "globex": sets[0].id}
        moved = await rows_of(
            pool,
            "SELECT set_id, embedding_model, document_id, chunk_index, text, page, heading,"
            " embedding::text AS v FROM chunks ORDER BY set_id, document_id, chunk_index",
        )
        assert [(r["set_id"], r["document_id"], r["chunk_index"], r["v"]) for r in moved] == [
            (sets[0].id, "a1", 0, "[1,0,0]"),
            (sets[0].id, "a1", 1, "[0,1,0]"),
            (sets[0].id, "b1", 0, "[0,0,1]"),
            (sets[1].id, "b1", 0, "[1,0,0,0]"),
        ]
        assert {(r["text"], r["page"], r["heading"]) for r in moved} >= {("a1/0", 3, "Intro")}
        [kind] = await rows_of(pool, "SELECT relkind FROM pg_class WHERE relname = 'chunks'")
        assert kind["relkind"] == "v"  # the old table is gone; a view stands in its place
        hits = await VectorSearch(pool).search(sets[0], "acme", [1, 0, 0], 1)
        assert [(h.document_id, h.chunk_index, h.page) for h in hits] == [("a1", 0, 3)]
    finally:
        await pool.close()


async def test_a_new_database_has_the_registry_and_an_empty_view(pool: Pool) -> None:
    assert await VectorSets(pool).all() == []
    assert await rows_of(pool, "SELECT count(*) AS n FROM chunks") == [{"n": 0}]
    found: VectorSet = await VectorSets(pool).ensure(SMALL)
    assert (await VectorSets(pool).by_id(found.id)) == found
