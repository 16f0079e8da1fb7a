"""The embed stage with the OpenAI-compatible provider, inside a real `ConsumerLoop` on the
session broker and a migrated database, against the local OpenAI-compatible server: retries
through Kafka, dead letters, and a configuration error that pauses instead of failing.

The stage and its `Retrier` use the real `schemas.topics` names, so each test uses its own
tenant, job and document ids and reads back only its own records.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

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
from services.common.embedding.openai_compatible import OpenAICompatibleEmbedder
from services.common.errors import RETRIES_EXHAUSTED
from services.common.kafka import gate
from services.common.kafka.admin import ensure_topics
from services.common.kafka.consumer import ConsumerLoop
from services.common.kafka.producer import KafkaPublisher, make_producer
from services.common.kafka.records import Delivery, Position
from services.common.kafka.retry import Retrier, RetryPolicy
from services.common.stage import StagePorts
from services.embedder.adapters.chunk_store import PostgresChunkStore
from services.embedder.core.chunking import ChunkSizes
from services.embedder.stage import EmbedStage
from tests.fixtures.openai_server import MODEL, OpenAIServer

pytestmark = pytest.mark.integration


@dataclass
class Harness:
    """A running embed stage on the real topics, and readers of what it produced."""

    pool: Pool
    publisher: KafkaPublisher
    tenant: str
    reader: AIOKafkaConsumer
    consumer: ConsumerLoop
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
        yield Harness(
            pool=pool, publisher=publisher, tenant=tenant, reader=reader, consumer=consumer
        )
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)
        await reader.stop()
        await producer.stop()
        await pool.close()


StartStage = Callable[..., contextlib.AbstractAsyncContextManager[Harness]]


@pytest.fixture
def stage(
    kafka_bootstrap: str,
    fresh_database: str,
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
    unique_suffix: str,
) -> StartStage:
    """`stage(policy, provider=None)`: `running_stage` on the session Kafka and a fresh
    database, with a provider on the local server unless one is given."""

    def start(
        policy: RetryPolicy, provider: OpenAICompatibleEmbedder | None = None
    ) -> contextlib.AbstractAsyncContextManager[Harness]:
        provider = provider or make_embedder()
        return running_stage(kafka_bootstrap, fresh_database, provider, policy, unique_suffix)

    return start


TEXT = " ".join(
    f"Sentence {i} explains how the embedder retries a rate-limited provider call."
    for i in range(12)
)


async def test_429s_retry_through_kafka_honouring_retry_after_then_index_once(
    openai_server: OpenAIServer, stage: StartStage
) -> None:
    openai_server.fail_next(2, "429", retry_after=1)
    policy = RetryPolicy(max_retries=5, base_s=0.2, cap_s=0.4)  # backoff well under Retry-After
    async with stage(policy) as run:
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
    for scheduled in retries:  # Retry-After (1 s) beat the policy's 0.2-0.4 s backoff
        # (occurred_at is stamped after the retry record was sent, so a little under 1 s)
        wait = (scheduled.not_before - scheduled.occurred_at).total_seconds()
        assert wait > policy.cap_s
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
    openai_server: OpenAIServer, stage: StartStage
) -> None:
    openai_server.fail_next(10, "503")
    policy = RetryPolicy(max_retries=1, base_s=0.2, cap_s=0.2)
    async with stage(policy) as run:
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
    openai_server: OpenAIServer, stage: StartStage
) -> None:
    openai_server.refuse_word = "forbidden"
    policy = RetryPolicy(max_retries=1, base_s=0.2, cap_s=0.2)
    async with stage(policy) as run:
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


@pytest.fixture
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probe a paused stage every 0.2-0.5 s instead of 1-30 s."""
    monkeypatch.setattr(gate, "PROBE_BACKOFF_S", 0.2)
    monkeypatch.setattr(gate, "PROBE_BACKOFF_MAX_S", 0.5)


@pytest.mark.usefixtures("quick_probes")
async def test_a_wrong_key_pauses_the_stage_and_the_right_key_resumes_it_with_none_failed(
    openai_server: OpenAIServer,
    stage: StartStage,
    make_embedder: Callable[..., OpenAICompatibleEmbedder],
) -> None:
    provider = make_embedder()  # holds the test key
    openai_server.api_key = "sk-rotated"  # the provider now refuses it: every call 401s
    policy = RetryPolicy(max_retries=1, base_s=0.2, cap_s=0.2)
    async with stage(policy, provider) as run:
        documents = [await run.parsed(f"{TEXT} Document {i}.") for i in range(5)]
        deadline = time.monotonic() + 60
        while sum(r.status == 401 for r in openai_server.embedding_requests) < 3:
            assert time.monotonic() < deadline, "the stage never called the provider"
            await run.read(0.2)
        ready, detail = run.consumer.health.ready()
        assert not ready
        assert detail.startswith("paused: provider_auth:") and "401" in detail
        for _ in range(5):  # paused: nothing is failed, retried or dead-lettered meanwhile
            await run.read(0.3)
        assert [t for t, *_ in run.seen if t != topics.JOBS_PROGRESS] == []
        assert not any(isinstance(e, RetryScheduled) for _, e, _, _ in run.seen)

        openai_server.api_key = provider.options.api_key  # the operator sets the right key
        await run.wait_for(
            lambda: all(
                run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, d.job_id) for d in documents
            )
        )
        for _ in range(3):
            await run.read(0.3)
        assert run.consumer.health.ready()[0]

    for document in documents:
        (indexed,) = run.events(topics.DOCUMENTS_INDEXED, DocumentIndexed, document.job_id)
        assert indexed.usage is not None and indexed.usage.tokens > 0
        assert indexed.usage.provider == "openai" and indexed.usage.requests >= 1
    assert [e for t, e, _, _ in run.seen if t == topics.DOCUMENTS_FAILED] == []
    assert [e for t, e, _, _ in run.seen if t == topics.dlq(topics.DOCUMENTS_PARSED)] == []
    assert not any(isinstance(e, RetryScheduled) for _, e, _, _ in run.seen)
    statuses = [r.status for r in openai_server.embedding_requests]
    assert statuses[-1] == 200 and set(statuses) == {200, 401}
