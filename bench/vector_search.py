"""Search at scale: p50/p95 latency and recall@10 of tenant-filtered vector search.

Synthetic 384-d vectors (a mixture of clusters, like sentence embeddings of many topics) in one
vector-set table, shared by six tenants of very different sizes (45 %, 25 %, 15 %, 10 %, 4 %,
1 % of the rows). Each strategy answers the same queries (drawn from the same mixture); recall@10
is measured against the exact top 10 of the tenant's rows, computed in numpy. Latency is the
whole `VectorSearch.search` call from Python (the round trip included). The data and its index
stay in `.run/bench-vectors` and are reused by the next run (the 1M-row index takes long to build).

`python -m bench.vector_search [--sizes 10000,100000,1000000] [--partial]`, or through
`python -m bench.run --only vector_search` (10k and 100k with --quick; all three otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from psycopg import AsyncConnection, sql

from bench.report import Context, Outcome, Row, fmt, log, percentile
from infra.local import REPO_ROOT, postgres
from infra.local.ports import free_port
from services.common.db import Pool, migrate, open_pool
from services.common.vectors.registry import HNSW_EF_CONSTRUCTION, HNSW_M, VectorSets
from services.common.vectors.search import SearchTuning, VectorSearch
from services.common.vectors.sets import VectorSet, VectorSetKey

Matrix = npt.NDArray[np.float32]
DIMS: Final = 384
LATENT: Final = 32  # intrinsic dimension, as sentence embeddings have a few dozen
CLUSTERS: Final = 200  # topics, in the latent space
SPREAD: Final = 0.7  # a point's distance from its topic, per latent dimension (centres: 1)
NOISE: Final = 0.05  # isotropic noise in the 384 dimensions, per dimension
TOP_K: Final = 10
SEED: Final = 20_240_601
CHUNKS_PER_DOCUMENT: Final = 4
TENANTS: Final = (("t45", 0.45), ("t25", 0.25), ("t15", 0.15), ("t10", 0.10), ("t04", 0.04))
SMALLEST: Final = "t01"  # the remaining 1 %
FILLER: Final = "synthetic chunk text " * 20  # ~420 characters, like a short chunk
RUN_DIR: Final = REPO_ROOT / ".run" / "bench-vectors"
P95_TARGET_MS: Final = 20.0
RECALL_TARGET: Final = 0.95
BLOCK: Final = 50_000


@dataclass(frozen=True)
class Strategy:
    """One way to search: forced exact or HNSW, or the service's own choice (`exact` None)."""

    name: str
    tuning: SearchTuning
    exact: bool | None
    partial: bool = False  # per-tenant partial HNSW index (raw SQL, tenant as a literal)


STRATEGIES: Final = (
    Strategy("auto (service defaults)", SearchTuning(), None),
    Strategy("exact", SearchTuning(), True),
    Strategy("hnsw, no iterative scan, ef 100", SearchTuning(iterative_scan="off"), False),
    Strategy("hnsw iterative, ef 40", SearchTuning(ef_search=40), False),
    Strategy("hnsw iterative, ef 100", SearchTuning(ef_search=100), False),
    Strategy("hnsw iterative, ef 200", SearchTuning(ef_search=200), False),
)
PARTIAL: Final = Strategy("per-tenant partial hnsw, ef 100", SearchTuning(), False, partial=True)


def tenant_names() -> list[str]:
    """Every tenant, largest first."""
    return [name for name, _ in TENANTS] + [SMALLEST]


def _shares() -> npt.NDArray[np.float64]:
    shares = [share for _, share in TENANTS]
    return np.array([*shares, 1.0 - sum(shares)])


def _normalised(m: Matrix) -> Matrix:
    unit: Matrix = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    return unit


class Corpus:
    """The synthetic rows of one size: vectors, their tenants, queries (all seeded).

    Topics are Gaussian centres in a 32-d latent space; a point is its topic's centre plus
    Gaussian spread, mapped to 384-d by one fixed random matrix, plus a little isotropic
    noise, then normalised. Like real sentence embeddings (and unlike uniform random
    vectors, whose nearest neighbours are near-ties of no meaning) the vectors have a low
    intrinsic dimension and a neighbourhood structure that ranks clearly.
    """

    def __init__(self, size: int, queries_per_tenant: int) -> None:
        rng = np.random.default_rng(SEED)
        self.centres = rng.standard_normal((CLUSTERS, LATENT)).astype(np.float32)
        self.mapping = rng.standard_normal((LATENT, DIMS)).astype(np.float32) / np.sqrt(LATENT)
        documents = -(-size // CHUNKS_PER_DOCUMENT)
        owner = rng.choice(len(_shares()), size=documents, p=_shares())
        self.tenants = np.repeat(owner, CHUNKS_PER_DOCUMENT)[:size]
        self.size = size
        self.vectors = np.empty((size, DIMS), dtype=np.float32)
        for start in range(0, size, BLOCK):
            stop = min(size, start + BLOCK)
            self.vectors[start:stop] = self._points(rng, stop - start)
        self.queries = {t: self._points(rng, queries_per_tenant) for t in tenant_names()}

    def _points(self, rng: np.random.Generator, n: int) -> Matrix:
        latent = self.centres[rng.integers(0, CLUSTERS, n)]
        latent = latent + rng.standard_normal((n, LATENT)).astype(np.float32) * SPREAD
        noise = rng.standard_normal((n, DIMS)).astype(np.float32) * NOISE
        return _normalised(latent @ self.mapping + noise)

    def rows_of(self, tenant: str) -> npt.NDArray[np.intp]:
        """Row numbers of the tenant's chunks."""
        return np.flatnonzero(self.tenants == tenant_names().index(tenant))

    def truth(self, tenant: str) -> list[set[tuple[str, int]]]:
        """The exact top 10 (document id, chunk index) of each of the tenant's queries."""
        rows = self.rows_of(tenant)
        similarity = self.queries[tenant] @ self.vectors[rows].T
        best = np.argsort(-similarity, axis=1)[:, :TOP_K]
        return [{_address(int(rows[i])) for i in found} for found in best]


def _address(row: int) -> tuple[str, int]:
    return f"d{row // CHUNKS_PER_DOCUMENT}", row % CHUNKS_PER_DOCUMENT


def _copy_rows(corpus: Corpus) -> Iterator[bytes]:
    """The corpus as PostgreSQL binary COPY data (header, tuples, trailer)."""
    yield b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
    names = [n.encode() for n in tenant_names()]
    filler = FILLER.encode()
    vector_head = struct.pack("!hh", DIMS, 0)
    for start in range(0, corpus.size, BLOCK):
        big_endian = corpus.vectors[start : start + BLOCK].astype(">f4")
        parts = []
        for offset, vector in enumerate(big_endian):
            row = start + offset
            document, index = _address(row)
            fields = (
                names[corpus.tenants[row]],
                document.encode(),
                struct.pack("!i", index),
                filler,
                struct.pack("!i", 0),
                struct.pack("!i", len(filler)),
                struct.pack("!i", 100),
                vector_head + vector.tobytes(),
                b"bench",
            )
            parts.append(struct.pack("!h", len(fields)))
            parts.extend(struct.pack("!i", len(f)) + f for f in fields)
        yield b"".join(parts)
    yield struct.pack("!h", -1)


async def _load(url: str, vector_set: VectorSet, corpus: Corpus) -> None:
    """Fill the set's table with the corpus (unless it holds it already), then build HNSW."""
    table = sql.Identifier(vector_set.table)
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        row = await cur.fetchone()
        indexed = await conn.execute(
            "SELECT 1 FROM pg_indexes WHERE indexname = %s", (f"{vector_set.table}_hnsw",)
        )
        if row and row[0] == corpus.size and await indexed.fetchone():
            log(f"vector_search: {vector_set.table} already holds {corpus.size:,} rows")
            return
        started = time.monotonic()
        await conn.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{vector_set.table}_hnsw"))
        )
        await conn.execute(sql.SQL("TRUNCATE {}").format(table))
        columns = sql.SQL(
            "tenant_id, document_id, chunk_index, text, start_char, end_char, token_count,"
            " embedding, source_event_id"
        )
        async with (
            conn.cursor() as cursor,
            cursor.copy(
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, columns)
            ) as copy,
        ):
            for data in _copy_rows(corpus):
                await copy.write(data)
        log(f"vector_search: loaded {corpus.size:,} rows in {time.monotonic() - started:.0f}s")
        started = time.monotonic()
        await conn.execute("SET maintenance_work_mem = '3GB'")
        await conn.execute("SET max_parallel_maintenance_workers = 1")
        await conn.execute(
            sql.SQL(
                "CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops)"
                " WITH (m = {}, ef_construction = {})"
            ).format(
                sql.Identifier(f"{vector_set.table}_hnsw"),
                table,
                sql.Literal(HNSW_M),
                sql.Literal(HNSW_EF_CONSTRUCTION),
            )
        )
        await conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        log(f"vector_search: HNSW index built in {(time.monotonic() - started) / 60:.1f} min")


async def _partial_indexes(url: str, vector_set: VectorSet, tenants: list[str]) -> None:
    """One partial HNSW index per tenant in `tenants` (kept for the next run)."""
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET maintenance_work_mem = '3GB'")
        await conn.execute("SET max_parallel_maintenance_workers = 1")
        for tenant in tenants:
            started = time.monotonic()
            await conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops)"
                    " WITH (m = {}, ef_construction = {}) WHERE tenant_id = {}"
                ).format(
                    sql.Identifier(f"{vector_set.table}_hnsw_{tenant}"),
                    sql.Identifier(vector_set.table),
                    sql.Literal(HNSW_M),
                    sql.Literal(HNSW_EF_CONSTRUCTION),
                    sql.Literal(tenant),
                )
            )
            log(f"vector_search: partial index for {tenant}: {time.monotonic() - started:.0f}s")


async def _partial_search(
    pool: Pool, vector_set: VectorSet, tenant: str, vector: Matrix, tuning: SearchTuning
) -> list[tuple[str, int]]:
    """Top 10 through the tenant's partial index: the tenant is a literal in the SQL, as the
    planner must see it to prove the index's predicate."""
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    query = sql.SQL(
        "SELECT document_id, chunk_index FROM {} WHERE tenant_id = {}"
        " ORDER BY embedding <=> %s::vector LIMIT {}"
    ).format(sql.Identifier(vector_set.table), sql.Literal(tenant), sql.Literal(TOP_K))
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('hnsw.ef_search', %s, true)", (str(tuning.ef_search),)
        )
        cur = await conn.execute(query, (literal,), prepare=False)
        return [(r["document_id"], r["chunk_index"]) for r in await cur.fetchall()]


@dataclass
class Measured:
    """Latencies (ms) and recalls of one strategy over every query of some tenants."""

    latencies: list[float]
    recalls: list[float]
    by_tenant: dict[str, float]


async def _measure(
    pool: Pool, vector_set: VectorSet, corpus: Corpus, strategy: Strategy, tenants: list[str]
) -> Measured:
    search = VectorSearch(pool, strategy.tuning)
    measured = Measured([], [], {})
    for tenant in tenants:
        truth = corpus.truth(tenant)
        recalls = []
        for query, expected in zip(corpus.queries[tenant], truth, strict=True):
            started = time.perf_counter()
            if strategy.partial:
                found = set(await _partial_search(pool, vector_set, tenant, query, strategy.tuning))
            else:
                hits = await search.search(
                    vector_set, tenant, query.tolist(), TOP_K, exact=strategy.exact
                )
                found = {(h.document_id, h.chunk_index) for h in hits}
            measured.latencies.append((time.perf_counter() - started) * 1000)
            recalls.append(len(found & expected) / TOP_K)
        measured.recalls += recalls
        measured.by_tenant[tenant] = float(np.mean(recalls))
    return measured


async def _bench_size(url: str, size: int, queries: int, out: Outcome, *, partial: bool) -> None:
    corpus = Corpus(size, queries)
    pool = await open_pool(url, max_size=2, name="bench-vectors")
    try:
        sets = VectorSets(pool)
        vector_set = await sets.ensure(VectorSetKey(f"bench-synthetic-{size}", DIMS, 256, 32))
        await _load(url, vector_set, corpus)
        tenants = tenant_names()
        big = [t for t in tenants if len(corpus.rows_of(t)) >= SearchTuning().exact_below]
        strategies = list(STRATEGIES)
        if partial and big:
            await _partial_indexes(url, vector_set, big)
            strategies.append(PARTIAL)
        search = VectorSearch(pool)
        for tenant in tenants:  # warm the caches: the index and heap pages, the row counts
            for query in corpus.queries[tenant][:5]:
                await search.search(vector_set, tenant, query.tolist(), TOP_K)
        for strategy in strategies:
            chosen = big if strategy.partial else tenants
            result = await _measure(pool, vector_set, corpus, strategy, chosen)
            p95 = percentile(result.latencies, 95)
            recall = float(np.mean(result.recalls))
            goal = strategy.name.startswith("auto")
            label = f"{size:,} rows, {strategy.name}"
            out.add(Row(f"{label}: p50", [percentile(result.latencies, 50)], "ms"))
            out.add(
                Row(
                    f"{label}: p95",
                    [p95],
                    "ms",
                    target=f"< {P95_TARGET_MS:g} ms" if goal and size >= 1_000_000 else "",
                    ok=(p95 < P95_TARGET_MS) if goal and size >= 1_000_000 else None,
                )
            )
            out.add(
                Row(
                    f"{label}: recall@10",
                    [recall],
                    "",
                    target=f">= {RECALL_TARGET:g}" if goal else "",
                    ok=(recall >= RECALL_TARGET) if goal else None,
                )
            )
            worst = min(result.by_tenant.items(), key=lambda item: item[1])
            out.notes.append(
                f"{label}: recall@10 per tenant "
                + ", ".join(
                    f"{t} ({len(corpus.rows_of(t)):,} rows) {fmt(r)}"
                    for t, r in result.by_tenant.items()
                )
                + f"; worst {worst[0]}"
            )
    finally:
        await pool.close()


def _server(shared_buffers: str) -> Any:
    """The bench's own PostgreSQL in RUN_DIR (kept between runs), with bigger buffers."""
    postgres.SETTINGS = {**postgres.SETTINGS, "shared_buffers": shared_buffers}
    runner = postgres.PostgresRunner(RUN_DIR / "pgdata", free_port(), RUN_DIR / "postgres.log")
    runner.start()
    runner.wait_ready()
    return runner


def run(ctx: Context, sizes: tuple[int, ...] | None = None, *, partial: bool = False) -> Outcome:
    """Measure every size (10k and 100k with --quick, 1M too otherwise)."""
    sizes = sizes or ((10_000, 100_000) if ctx.quick else (10_000, 100_000, 1_000_000))
    queries = 20 if ctx.quick else 50
    out = Outcome("vector_search")
    out.notes.append(
        f"synthetic {DIMS}-d unit vectors of intrinsic dimension {LATENT}: {CLUSTERS} topic"
        f" centres (N(0,1) in {LATENT}-d), each row a centre plus N(0,{SPREAD:g}²) spread,"
        f" mapped to {DIMS}-d by a fixed random matrix, plus N(0,{NOISE:g}²) noise per"
        " dimension, normalised; six tenants share one vector-set"
        " table (45/25/15/10/4/1 % of the rows, documents of 4 chunks); per size and strategy"
        f" {queries} queries per tenant from the same mixture; recall@10 against the exact top"
        f" 10 of the tenant's rows (numpy); HNSW m={HNSW_M}, ef_construction="
        f"{HNSW_EF_CONSTRUCTION}, cosine; PostgreSQL with shared_buffers 2GB; latency is the"
        " whole VectorSearch.search call from Python"
    )
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    runner = _server("2GB")
    try:
        url = runner.url()
        asyncio.run(migrate(url))
        for size in sizes:
            log(f"vector_search: {size:,} rows")
            asyncio.run(_bench_size(url, size, queries, out, partial=partial))
    finally:
        runner.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run standalone (prints the rows; bench.run appends them to docs/benchmarks.md)."""
    parser = argparse.ArgumentParser(prog="python -m bench.vector_search", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated row counts")
    parser.add_argument("--partial", action="store_true", help="also per-tenant partial indexes")
    parser.add_argument("--quick", action="store_true", help="20 queries per tenant, not 50")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    outcome = run(Context(quick=args.quick), sizes, partial=args.partial)
    for note in outcome.notes:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
