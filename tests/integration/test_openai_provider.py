"""The OpenAI-compatible provider against a real local HTTP server speaking the embeddings API.

The provider tests need no Kafka or Postgres. The stage tests run an `EmbedStage` inside a real
`ConsumerLoop` on the session broker and a migrated database: the stage and its `Retrier` use
the real `schemas.topics` names, so each test uses its own tenant, job and document ids and
reads back only its own records.
"""

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.local.ports import free_port
from schemas import codec, topics
from schemas.events import (
    AnyEvent,
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    Origin,
    RetryScheduled,
    Stage,
)
from services.common.blobstore import PostgresBlobStore
from services.common.db import Pool, migrate, open_pool
from services.common.deletions import PostgresDeletedJobs
from services.common.embedding.models import ModelShelf
from services.common.embedding.openai_compatible import OpenAICompatibleEmbedder
from services.common.errors import RETRIES_EXHAUSTED, RetryableError
from services.common.kafka.admin import ensure_topics
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.producer import KafkaPublisher, make_producer
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier, RetryPolicy
from services.common.stage import StagePorts
from services.common.vectors.search import VectorHit
from services.common.vectors.sets import VectorSet, VectorSetKey
from services.embedder.adapters.chunk_store import PostgresChunkStore
from services.embedder.core.chunking import ChunkSizes
from services.embedder.stage import EmbedStage
from services.status.search import SearchService, SearchUnavailableError
from tests.fixtures.openai_server import OpenAIServer, hashed_vector

pytestmark = pytest.mark.integration

MODEL = "test-embed-small"


@pytest.fixture
def make_embedder(openai_server: OpenAIServer) -> Iterator[Callable[..., OpenAICompatibleEmbedder]]:
    """`make_embedder(**overrides)`: a provider pointed at the local server, closed after."""
    made: list[OpenAICompatibleEmbedder] = []

    def make(**overrides: Any) -> OpenAICompatibleEmbedder:
        options: dict[str, Any] = {
            "base_url": openai_server.base_url,
            "api_key": openai_server.api_key,
            "model": MODEL,
            "dimensions": openai_server.dimensions,
        }
        options.update(overrides)
        embedder = OpenAICompatibleEmbedder(**options)
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        embedder.close()


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- the provider over HTTP ---------------------------------------------------------------


def test_embeds_in_order_normalised_and_similar_texts_are_close(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    texts = ["kafka topics and partitions", "partitions of kafka topics", "a recipe for bread"]
    vectors = make_embedder().embed(texts)

    assert len(vectors) == 3
    for text, vector in zip(texts, vectors, strict=True):
        assert len(vector) == openai_server.dimensions
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-9)
        raw = hashed_vector(text, openai_server.dimensions)
        norm = math.sqrt(math.fsum(v * v for v in raw))
        assert vector == pytest.approx([v / norm for v in raw])  # reordered by `index`
    assert _cosine(vectors[0], vectors[1]) > 0.7 > _cosine(vectors[0], vectors[2])
    (request,) = openai_server.embedding_requests
    assert request.model == MODEL
    assert request.inputs == texts


def test_batches_130_texts_into_3_requests_of_at_most_64(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    texts = [f"document number {i} about topic {i % 7}" for i in range(130)]
    vectors = make_embedder(batch_size=64).embed(texts)

    assert [len(r.inputs) for r in openai_server.embedding_requests] == [64, 64, 2]
    assert [t for r in openai_server.embedding_requests for t in r.inputs] == texts
    assert len(vectors) == 130
    single = make_embedder().embed([texts[100]])[0]
    assert vectors[100] == pytest.approx(single)


def test_no_texts_make_no_request(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    assert make_embedder().embed([]) == []
    assert openai_server.embedding_requests == []


def test_a_429_is_retryable_with_the_providers_retry_after(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    openai_server.fail_next(1, "429", retry_after=1)
    embedder = make_embedder()

    with pytest.raises(RetryableError) as caught:
        embedder.embed(["hello world"])

    assert caught.value.code == "provider_rate_limited"
    assert caught.value.retry_after_s == 1
    assert "retry after 1s" in caught.value.message
    assert "Rate limit reached" in caught.value.message
    assert len(openai_server.embedding_requests) == 1  # the client itself never retried
    assert len(embedder.embed(["hello world"])) == 1


def test_a_503_is_retryable_without_a_wait_hint(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    openai_server.fail_next(1, "503")

    with pytest.raises(RetryableError) as caught:
        make_embedder().embed(["hello world"])

    assert caught.value.code == "provider_unavailable"
    assert caught.value.retry_after_s is None
    assert "503" in caught.value.message
    assert len(openai_server.embedding_requests) == 1


def test_a_hang_past_the_timeout_is_retryable(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    openai_server.fail_next(1, "hang")
    started = time.monotonic()

    with pytest.raises(RetryableError) as caught:
        make_embedder(timeout_s=0.5).embed(["hello world"])

    assert caught.value.code == "provider_unavailable"
    assert time.monotonic() - started < 3
    assert len(openai_server.embedding_requests) == 1


def test_an_unreachable_server_is_retryable() -> None:
    embedder = OpenAICompatibleEmbedder(
        base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", model=MODEL, dimensions=8
    )
    try:
        with pytest.raises(RetryableError) as caught:
            embedder.embed(["hello"])
    finally:
        embedder.close()
    assert caught.value.code == "provider_unavailable"


def test_a_401_is_not_retryable_and_carries_the_providers_message(
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
) -> None:
    with pytest.raises(ValueError, match="Incorrect API key provided") as caught:
        make_embedder(api_key="sk-wrong").embed(["hello world"])
    assert not isinstance(caught.value, RetryableError)
    assert "401" in str(caught.value)


def test_a_404_for_a_wrong_base_url_is_not_retryable(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    wrong = openai_server.base_url.removesuffix("/v1") + "/v2"
    with pytest.raises(ValueError, match="404"):
        make_embedder(base_url=wrong).embed(["hello world"])


def test_a_dimension_mismatch_is_not_retryable(
    openai_server: OpenAIServer, make_embedder: Callable[..., OpenAICompatibleEmbedder]
) -> None:
    embedder = make_embedder(dimensions=openai_server.dimensions * 2)
    with pytest.raises(ValueError, match=r"returned 32-dim vectors, but 64 are configured"):
        embedder.embed(["hello world"])


def test_chunk_budget_is_a_conservative_share_of_the_token_limit(
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
) -> None:
    embedder = make_embedder(max_tokens=512)
    assert embedder.max_tokens == 384
    assert embedder.tokenizer.token_spans("two words") == [(0, 3), (4, 9)]
    assert embedder.model_name == MODEL


async def test_status_search_loads_the_same_provider_and_a_429_is_a_503(
    openai_server: OpenAIServer,
) -> None:
    options = {
        "openai_base_url": openai_server.base_url,
        "openai_api_key": openai_server.api_key,
        "openai_model": MODEL,
        "openai_dimensions": openai_server.dimensions,
    }
    searched = VectorSet(
        id=1,
        key=VectorSetKey(MODEL, openai_server.dimensions, 256, 32),
        table="chunks_unused",
        created_at=datetime.now(UTC),
    )

    class OneSet:
        """The tenant searches a set of the OpenAI model; no chunk is ever ranked."""

        async def active(self, tenant_ids: Collection[str]) -> dict[str, VectorSet]:
            return dict.fromkeys(tenant_ids, searched)

        async def search(
            self, vector_set: VectorSet, tenant_id: str, vector: Sequence[float], top_k: int
        ) -> list[VectorHit]:
            raise AssertionError("a query that could not be embedded ranks nothing")

    search = SearchService(OneSet(), OneSet(), ModelShelf("openai", options))
    await search.load()
    assert search.load_error is None
    assert search.model_name == MODEL
    openai_server.fail_next(1, "429")

    with pytest.raises(SearchUnavailableError, match="provider_rate_limited"):
        await search.search("tenant", "what is kafka", 5)
    assert [r.inputs for r in openai_server.embedding_requests] == [["what is kafka"]]
    assert isinstance(search.provider, OpenAICompatibleEmbedder)
    search.provider.close()


# --- the retry path through Kafka, at the stage level -------------------------------------


@dataclass
class Harness:
    """A running embed stage on the real topics, and readers of what it produced."""

    pool: Pool
    publisher: KafkaPublisher
    tenant: str
    reader: AIOKafkaConsumer
    seen: list[tuple[str, AnyEvent, dict[str, str], bytes | None]] = field(default_factory=list)

    async def parsed(self, text: str) -> DocumentParsed:
        """Store `text` as a blob and produce a DocumentParsed for it."""
        ref = await PostgresBlobStore(self.pool).put(text.encode(), "text/plain; charset=utf-8")
        event = DocumentParsed(
            event_id=str(uuid.uuid4()),
            occurred_at=datetime.now(UTC),
            tenant_id=self.tenant,
            job_id=str(uuid.uuid4()),
            document_id=str(uuid.uuid4()),
            text=ref,
            char_count=len(text),
        )
        await self.publisher.publish(topics.DOCUMENTS_PARSED, event)
        return event

    async def wait_for(self, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Read our output topics until `done()` holds."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; saw {[(t, e) for t, e, _, _ in self.seen]}")
            await self.read(0.2)

    async def read(self, seconds: float) -> None:
        """Read our tenant's records from the output topics for about `seconds`."""
        polled = await self.reader.getmany(timeout_ms=int(seconds * 1000))
        for record in (r for batch in polled.values() for r in batch):
            headers = {k: bytes(v).decode() for k, v in record.headers or ()}
            try:
                event = codec.decode(record.value)
            except codec.EventDecodeError:
                continue
            if event.tenant_id == self.tenant:
                self.seen.append((record.topic, event, headers, record.key))

    def events(self, topic: str, kind: type[Any], job_id: str) -> list[Any]:
        """Events of one type on one topic for one job, in read order."""
        return [
            e
            for t, e, _, _ in self.seen
            if t == topic and isinstance(e, kind) and e.job_id == job_id
        ]


async def _partitions(bootstrap: str, names: list[str]) -> list[TopicPartition]:
    """Every partition of `names` once each has a leader (the topics may be brand new)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            described = await admin.describe_topics(names)
            found = {
                d["topic"]: [p["partition"] for p in d.get("partitions", []) if p["leader"] >= 0]
                for d in described
            }
            if all(found.get(t) for t in names):
                return [TopicPartition(t, p) for t in names for p in sorted(found[t])]
            if time.monotonic() > deadline:
                raise TimeoutError(f"partitions with a leader after 30s: {found}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def running_stage(
    kafka_bootstrap: str,
    database_url: str,
    provider: OpenAICompatibleEmbedder,
    policy: RetryPolicy,
    suffix: str,
) -> AsyncIterator[Harness]:
    """Run an EmbedStage in a ConsumerLoop (own group) over the real embedder topics."""
    await ensure_topics(kafka_bootstrap, topics.ALL_TOPICS)
    await migrate(database_url)
    pool = await open_pool(database_url, max_size=4, name="test-openai-stage")
    producer = make_producer(kafka_bootstrap, f"test-embed-{suffix}")
    await producer.start()
    publisher = KafkaPublisher(producer)
    origin = Origin(service="embedder", instance=f"test-{suffix}")
    tenant = f"tenant-{suffix}"
    read = [
        topics.JOBS_PROGRESS,
        topics.DOCUMENTS_INDEXED,
        topics.DOCUMENTS_FAILED,
        topics.dlq(topics.DOCUMENTS_PARSED),
    ]
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await reader.start()
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        partitions = await _partitions(kafka_bootstrap, read)
        reader.assign(partitions)
        await reader.seek_to_end(*partitions)
        for tp in partitions:
            await reader.position(tp)  # pin "the end before the test" now
        retrier = Retrier(publisher, origin, Stage.EMBED, policy)
        stage = EmbedStage(
            StagePorts(PostgresBlobStore(pool), publisher, retrier, PostgresDeletedJobs(pool)),
            chunks=PostgresChunkStore(pool),
            provider=provider,
            sizes=ChunkSizes(24, 4),
        )

        async def ours(batch: list[Delivery], positions: dict[Position, int]) -> None:
            # The topics are shared with other tests on this broker: hand over only ours.
            await stage([d for d in batch if d.event.tenant_id == tenant], positions)

        consumer = ConsumerLoop(
            bootstrap=kafka_bootstrap,
            group_id=f"test-embedder-{suffix}",
            topics=[topics.DOCUMENTS_PARSED, topics.retry(topics.DOCUMENTS_PARSED)],
            handler=ours,
            publisher=publisher,
            origin=origin,
            stage=Stage.EMBED,
            max_records=16,
        )
        task = asyncio.create_task(consumer.run(stop))
        yield Harness(pool=pool, publisher=publisher, tenant=tenant, reader=reader)
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)
        await reader.stop()
        await producer.stop()
        await pool.close()


TEXT = " ".join(
    f"Sentence {i} explains how the embedder retries a rate-limited provider call."
    for i in range(12)
)


async def test_429s_retry_through_kafka_honouring_retry_after_then_index_once(
    kafka_bootstrap: str,
    fresh_database: str,
    openai_server: OpenAIServer,
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
    unique_suffix: str,
) -> None:
    openai_server.fail_next(2, "429", retry_after=1)
    policy = RetryPolicy(max_retries=5, base_s=0.2, cap_s=0.4)  # backoff well under Retry-After
    provider = make_embedder()
    async with running_stage(
        kafka_bootstrap, fresh_database, provider, policy, unique_suffix
    ) as run:
        parsed = await run.parsed(TEXT)
        await run.wait_for(
            lambda: bool(run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, parsed.job_id))
        )
        for _ in range(5):  # anything produced late (a duplicate) would show up now
            await run.read(0.3)
        async with run.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT chunk_index, embedding_model, count(*) AS n FROM chunks"
                " WHERE document_id = %s GROUP BY chunk_index, embedding_model"
                " ORDER BY chunk_index",
                (parsed.document_id,),
            )
            rows = await cur.fetchall()

    retries = run.events(topics.JOBS_PROGRESS, RetryScheduled, parsed.job_id)
    indexed = run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, parsed.job_id)
    assert [(r.retry, r.code, r.stage) for r in retries] == [
        (1, "provider_rate_limited", Stage.EMBED),
        (2, "provider_rate_limited", Stage.EMBED),
    ]
    for scheduled in retries:  # Retry-After (1 s) beat the policy's 0.1-0.4 s backoff
        wait = (scheduled.not_before - scheduled.occurred_at).total_seconds()
        assert wait >= 0.95
    assert len(indexed) == 1
    assert indexed[0].embedding_model == MODEL
    assert indexed[0].dimensions == openai_server.dimensions
    assert run.events(topics.DOCUMENTS_FAILED, DocumentFailed, parsed.job_id) == []
    assert len(rows) == indexed[0].chunk_count > 1
    assert [r["chunk_index"] for r in rows] == list(range(len(rows)))
    assert {(r["embedding_model"], r["n"]) for r in rows} == {(MODEL, 1)}

    calls = openai_server.embedding_requests
    assert [c.status for c in calls] == [429, 429, 200]
    assert calls[2].at - calls[1].at >= 0.95  # the second retry waited out Retry-After
    assert calls[1].at - calls[0].at >= 0.95


async def test_exhausted_retries_dead_letter_the_record_and_fail_the_job(
    kafka_bootstrap: str,
    fresh_database: str,
    openai_server: OpenAIServer,
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
    unique_suffix: str,
) -> None:
    openai_server.fail_next(10, "503")
    policy = RetryPolicy(max_retries=1, base_s=0.2, cap_s=0.2)
    async with running_stage(
        kafka_bootstrap, fresh_database, make_embedder(), policy, unique_suffix
    ) as run:
        parsed = await run.parsed(TEXT)
        dlq = topics.dlq(topics.DOCUMENTS_PARSED)

        def dead_lettered() -> bool:
            failed = run.events(topics.DOCUMENTS_FAILED, DocumentFailed, parsed.job_id)
            letters = [e for t, e, _, _ in run.seen if t == dlq and e.job_id == parsed.job_id]
            return bool(failed and letters)

        await run.wait_for(dead_lettered)
        async with run.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM chunks WHERE document_id = %s", (parsed.document_id,)
            )
            stored = await cur.fetchone()

    retries = run.events(topics.JOBS_PROGRESS, RetryScheduled, parsed.job_id)
    (failed,) = run.events(topics.DOCUMENTS_FAILED, DocumentFailed, parsed.job_id)
    (letter,) = [(h, k) for t, e, h, k in run.seen if t == dlq and e.job_id == parsed.job_id]
    headers, key = letter
    assert [(r.retry, r.code) for r in retries] == [(1, "provider_unavailable")]
    assert failed.code == RETRIES_EXHAUSTED
    assert failed.stage == Stage.EMBED
    assert failed.retryable
    assert "provider_unavailable" in failed.message
    assert headers["sluice.error.code"] == RETRIES_EXHAUSTED
    assert headers["sluice.error.message"].startswith("provider_unavailable:")
    assert headers["sluice.original.topic"] == topics.retry(topics.DOCUMENTS_PARSED)
    assert headers["sluice.attempts"] == "2"
    assert key == parsed.document_id.encode()
    assert stored is not None and stored["n"] == 0
    assert [c.status for c in openai_server.embedding_requests] == [503, 503]


async def test_a_refused_document_is_dead_lettered_and_failed_without_blocking_its_batch(
    kafka_bootstrap: str,
    fresh_database: str,
    openai_server: OpenAIServer,
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
    unique_suffix: str,
) -> None:
    openai_server.refuse_word = "forbidden"
    policy = RetryPolicy(max_retries=1, base_s=0.2, cap_s=0.2)
    async with running_stage(
        kafka_bootstrap, fresh_database, make_embedder(), policy, unique_suffix
    ) as run:
        good = await run.parsed(TEXT)
        bad = await run.parsed(TEXT + " This sentence holds a forbidden word.")
        later = await run.parsed(TEXT + " A later document.")
        dlq = topics.dlq(topics.DOCUMENTS_PARSED)

        def settled() -> bool:
            return bool(
                run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, good.job_id)
                and run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, later.job_id)
                and run.events(topics.DOCUMENTS_FAILED, DocumentFailed, bad.job_id)
                and any(t == dlq and e.job_id == bad.job_id for t, e, _, _ in run.seen)
            )

        await run.wait_for(settled)
        for _ in range(3):  # a duplicate or a late retry would show up now
            await run.read(0.3)
        async with run.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT document_id, count(*) AS n FROM chunks WHERE document_id = ANY(%s)"
                " GROUP BY document_id",
                ([good.document_id, bad.document_id, later.document_id],),
            )
            stored = {r["document_id"]: r["n"] for r in await cur.fetchall()}

    (failed,) = run.events(topics.DOCUMENTS_FAILED, DocumentFailed, bad.job_id)
    (headers,) = [h for t, e, h, _ in run.seen if t == dlq and e.job_id == bad.job_id]
    assert failed.code == "embedding_rejected"
    assert failed.stage == Stage.EMBED
    assert not failed.retryable
    assert "'forbidden' is not allowed" in failed.message
    assert "400" in failed.message
    assert headers["sluice.error.code"] == "embedding_rejected"
    assert headers["sluice.error.stage"] == "embed"
    assert headers["sluice.original.topic"] == topics.DOCUMENTS_PARSED
    assert run.events(topics.JOBS_PROGRESS, RetryScheduled, bad.job_id) == []  # not retried
    assert len(run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, good.job_id)) == 1
    assert len(run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, later.job_id)) == 1
    assert bad.document_id not in stored
    assert stored[good.document_id] > 1 and stored[later.document_id] > 1
    assert [e for t, e, _, _ in run.seen if t == dlq] == [
        e for t, e, _, _ in run.seen if t == dlq and e.job_id == bad.job_id
    ]
