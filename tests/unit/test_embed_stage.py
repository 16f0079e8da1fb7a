"""Unit tests of the embed stage's batching: length-sorted model calls, per-document outcomes.

Kafka, Postgres and the model are replaced by recording fakes here; the stage runs against the
real ones in tests/integration/test_openai_provider.py and the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from schemas import topics
from schemas.events import DocumentFailed, DocumentIndexed, DocumentParsed, Origin, Stage, now
from services.common.embedding.tokenizing import WhitespaceTokenizer
from services.common.errors import RetryableError
from services.common.kafka.consumer import ConsumerHealth
from services.common.kafka.isolation import Isolation
from services.common.kafka.records import Delivery
from services.common.kafka.retry import Retrier
from services.common.stage import StagePorts
from services.embedder.core.chunking import ChunkSizes
from services.embedder.stage import EmbedStage
from tests.fixtures.fakes import (
    MemoryBlobStore,
    MemoryChunkStore,
    MemoryDeletedJobs,
    RecordingPublisher,
)

pytestmark = pytest.mark.unit

ORIGIN = Origin(service="embedder", instance="unit")


class FakeProvider:
    """Word tokens; a text's vector is [word count, hash of the text]; refuses `refuse_word`.

    `fail_call`: that call (1-based) raises RetryableError; `pause_s`: each call's duration;
    `glitch_word`: a call with it returns one vector too few (a provider bug one input triggers).
    """

    provider_name = "fake"
    model_name = "fake"
    dimensions = 2
    max_tokens = 8
    batch_size = 16

    def __init__(
        self,
        refuse_word: str = "",
        *,
        concurrency: int = 1,
        fail_call: int = 0,
        pause_s: float = 0.0,
        glitch_word: str = "",
    ) -> None:
        self.tokenizer = WhitespaceTokenizer()
        self.calls: list[list[str]] = []
        self.refuse_word = refuse_word
        self.concurrency = concurrency
        self.fail_call = fail_call
        self.pause_s = pause_s
        self.glitch_word = glitch_word
        self.active = self.most_active = 0
        self.lock = threading.Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        with self.lock:
            self.calls.append(list(texts))
            number = len(self.calls)
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.pause_s)
            if number == self.fail_call:
                raise RetryableError("provider_unavailable", "the provider answered 503")
            if self.refuse_word and any(self.refuse_word in t for t in texts):
                raise ValueError(f"{self.refuse_word!r} is not allowed")
            vectors = [vector(t) for t in texts]
            if self.glitch_word and any(self.glitch_word in t for t in texts):
                return vectors[1:]
            return vectors
        finally:
            with self.lock:
                self.active -= 1


def vector(text: str) -> list[float]:
    return [float(len(text.split())), float(hash(text) % 1000)]


@dataclass
class Harness:
    stage: EmbedStage
    provider: FakeProvider
    blobs: MemoryBlobStore
    chunks: MemoryChunkStore
    publisher: RecordingPublisher

    def parsed(self, text: str, document_id: str | None = None) -> Delivery:
        event = DocumentParsed(
            event_id=uuid.uuid4().hex,
            occurred_at=now(),
            tenant_id="t",
            job_id=uuid.uuid4().hex,
            document_id=document_id or uuid.uuid4().hex,
            text=self.blobs.add(text.encode()),
        )
        return Delivery(topic=topics.DOCUMENTS_PARSED, partition=0, offset=0, event=event)

    def events(self, topic: str) -> list[Any]:
        return self.publisher.events(topic)


def harness(provider: FakeProvider | None = None) -> Harness:
    provider = provider or FakeProvider()
    deleted = MemoryDeletedJobs()
    blobs, publisher = MemoryBlobStore(deleted=deleted), RecordingPublisher()
    chunks = MemoryChunkStore(deleted=deleted)
    ports = StagePorts(blobs, publisher, Retrier(publisher, ORIGIN, Stage.EMBED), deleted)
    stage = EmbedStage(ports, chunks=chunks, provider=provider, sizes=ChunkSizes(8, 0))
    return Harness(stage, provider, blobs, chunks, publisher)


def words(count: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(count))


async def test_model_calls_take_the_batchs_chunks_longest_first() -> None:
    run = harness()
    # 60 documents of 3-40 words: chunks of 8 words and a shorter tail, ~190 chunks in all
    batch = [run.parsed(words(3 + (i * 7) % 38, f"d{i}w")) for i in range(60)]

    await run.stage(batch, {})

    lengths = [len(t.split()) for call in run.provider.calls for t in call]
    assert lengths == sorted(lengths, reverse=True)
    assert all(len(call) <= run.provider.batch_size for call in run.provider.calls)
    assert sum(len(call) for call in run.provider.calls) == sum(
        len(d.chunks) for d in run.chunks.stored
    )
    assert len(run.provider.calls) > 1  # more than one call: storing overlapped embedding


async def test_each_document_is_stored_once_with_its_vectors_in_chunk_order() -> None:
    run = harness()
    batch = [run.parsed(words(5 + 3 * i, f"d{i}w")) for i in range(30)]

    await run.stage(batch, {})

    by_document = {d.document_id: d for d in run.chunks.stored}
    assert len(run.chunks.stored) == len(batch) == len(by_document)
    for delivery in batch:
        assert isinstance(delivery.event, DocumentParsed)
        stored = by_document[delivery.event.document_id]
        assert [c.index for c in stored.chunks] == list(range(len(stored.chunks)))
        assert stored.vectors == [vector(c.text) for c in stored.chunks]
        assert (
            " ".join(c.text for c in stored.chunks) == run.blobs.data(delivery.event.text).decode()
        )
    indexed = run.events(topics.DOCUMENTS_INDEXED)
    assert sorted(e.job_id for e in indexed) == sorted(d.event.job_id for d in batch)
    assert all(isinstance(e, DocumentIndexed) for e in indexed)
    assert {e.document_id: e.chunk_count for e in indexed} == {
        d: len(c.chunks) for d, c in by_document.items()
    }


async def test_a_later_event_for_the_same_document_is_stored_last() -> None:
    run = harness()
    first = run.parsed(words(3, "old"), document_id="doc-1")  # shorter: it would finish last
    second = run.parsed(words(30, "new"), document_id="doc-1")
    other = run.parsed(words(20, "other"))

    await run.stage([first, other, second], {})

    stored = [d for d in run.chunks.stored if d.document_id == "doc-1"]
    assert [d.source_event_id for d in stored] == [first.event.event_id, second.event.event_id]
    assert len(run.events(topics.DOCUMENTS_INDEXED)) == 3


async def test_a_refused_document_is_dead_lettered_and_the_rest_indexed() -> None:
    run = harness(FakeProvider(refuse_word="forbidden"))
    good = [run.parsed(words(20, f"g{i}w")) for i in range(10)]
    bad = run.parsed(words(12, "b") + " forbidden " + words(12, "c"))
    empty = run.parsed("   ")

    await run.stage([*good[:5], bad, empty, *good[5:]], {})

    assert {d.document_id for d in run.chunks.stored} == {d.event.document_id for d in good}
    failed = {e.job_id: e for e in run.events(topics.DOCUMENTS_FAILED)}
    assert set(failed) == {bad.event.job_id, empty.event.job_id}
    assert all(isinstance(e, DocumentFailed) for e in failed.values())
    assert failed[bad.event.job_id].code == "embedding_rejected"
    assert failed[empty.event.job_id].code == "no_text"
    dead = run.events(topics.dlq(topics.DOCUMENTS_PARSED))
    assert [e.job_id for e in dead] == [bad.event.job_id]
    assert len(run.events(topics.DOCUMENTS_INDEXED)) == len(good)


async def test_an_unexpected_error_for_one_document_costs_only_that_document() -> None:
    """The stage raises for the whole batch; the loop's isolation finds the document."""
    run = harness(FakeProvider(glitch_word="glitch"))
    good = [run.parsed(words(6 + i, f"g{i}w")) for i in range(9)]
    bad = run.parsed(words(5, "b") + " glitch")
    batch = [*good[:4], bad, *good[4:]]
    retrier = run.stage.ports.retrier
    runner = Isolation(
        handler=run.stage,
        group="sluice-embedder",
        stage=Stage.EMBED,
        topics_read=(topics.DOCUMENTS_PARSED,),  # no retry topic: straight to the DLQ
        retrier=retrier,
        dead_letters=retrier.dead_letters,
        outages=ConsumerHealth(300),
        in_place_attempts=1,
    )

    with pytest.raises(ValueError, match="vectors for"):
        await run.stage(batch, {})  # what the loop sees first
    await runner.hand_over(batch, {})

    indexed = {e.job_id for e in run.events(topics.DOCUMENTS_INDEXED)}
    assert indexed == {d.event.job_id for d in good}
    failed = run.events(topics.DOCUMENTS_FAILED)
    assert [(e.job_id, e.code) for e in failed] == [(bad.event.job_id, "internal_error")]
    assert "ValueError: the provider returned" in failed[0].message
    assert [e.job_id for e in run.events(topics.dlq(topics.DOCUMENTS_PARSED))] == [bad.event.job_id]


async def test_calls_run_side_by_side_up_to_the_providers_concurrency() -> None:
    run = harness(FakeProvider(concurrency=3, pause_s=0.02))
    batch = [run.parsed(words(10 + i % 25, f"d{i}w")) for i in range(40)]

    await run.stage(batch, {})

    sizes = [len(call) for call in run.provider.calls]
    assert run.provider.most_active == 3
    assert len(sizes) % 3 == 0  # the last calls of the batch fill every lane
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= run.provider.batch_size
    assert sorted(d.document_id for d in run.chunks.stored) == sorted(
        d.event.document_id for d in batch
    )
    assert len(run.events(topics.DOCUMENTS_INDEXED)) == len(batch)


async def test_a_retryable_error_mid_batch_retries_only_what_was_not_stored() -> None:
    run = harness(FakeProvider(concurrency=2, fail_call=5, pause_s=0.01))
    batch = [run.parsed(words(4 + (i * 5) % 30, f"d{i}w")) for i in range(30)]

    await run.stage(batch, {})

    stored = {d.document_id for d in run.chunks.stored}
    retried = {e.document_id for e in run.events(topics.retry(topics.DOCUMENTS_PARSED))}
    indexed = {e.document_id for e in run.events(topics.DOCUMENTS_INDEXED)}
    assert stored and retried  # the error came mid-batch: some documents were already done
    assert stored == indexed
    assert stored.isdisjoint(retried)
    assert stored | retried == {d.event.document_id for d in batch}


async def test_a_deleted_documents_parsed_text_is_skipped_and_the_rest_indexed() -> None:
    run = harness()
    deleted, kept = run.parsed(words(20, "d")), run.parsed(words(20, "k"))
    run.chunks.deleted.jobs.add(deleted.event.job_id)

    await run.stage([deleted, kept], {})

    assert [d.job_id for d in run.chunks.stored] == [kept.event.job_id]
    assert {s.event.job_id for s in run.publisher.sent} == {kept.event.job_id}, "nothing for it"
    assert len(run.provider.calls[0]) == 3, "only the kept document's chunks were embedded"


async def test_a_document_deleted_while_it_is_embedded_is_not_stored_or_announced() -> None:
    run = harness(FakeProvider(pause_s=0.05))
    record = run.parsed(words(20, "d"))
    embedding = asyncio.create_task(run.stage([record], {}))
    await asyncio.sleep(0.02)
    run.chunks.deleted.jobs.add(record.event.job_id)  # after the stage's first look

    await embedding

    assert run.provider.calls, "it was embedded: the deletion came later"
    assert run.chunks.stored == []
    assert run.events(topics.DOCUMENTS_INDEXED) == []
    assert run.events(topics.DOCUMENTS_FAILED) == []


async def test_missing_text_of_a_deleted_document_is_a_skip_not_a_dead_letter() -> None:
    run = harness()
    record = run.parsed(words(20, "d"))
    run.blobs.missing.add(record.event.text.sha256)  # type: ignore[union-attr]
    run.chunks.deleted.jobs.add(record.event.job_id)

    await run.stage([record], {})

    assert run.publisher.sent == []
