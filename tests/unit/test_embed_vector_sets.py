"""Unit tests of where the embed stage writes: the tenant's active vector set, the set a
reprocess job names (another model or chunking), and the clear failures when it cannot.

The store and the models are in-memory fakes; tests/integration/test_vector_sets.py runs the
real Postgres store and tests/e2e/test_reprocess.py the whole pipeline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from schemas import topics
from schemas.events import (
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    Origin,
    Stage,
    Usage,
    VectorSetRef,
    now,
)
from services.common.embedding.models import ModelShelf
from services.common.embedding.tokenizing import WhitespaceTokenizer
from services.common.kafka.records import Delivery
from services.common.kafka.retry import Retrier
from services.common.stage import StagePorts
from services.common.vectors.sets import VectorSetKey
from services.embedder.core.chunking import ChunkSizes
from services.embedder.stage import EmbedStage
from tests.fixtures.fakes import MemoryBlobStore, MemoryChunkStore, RecordingPublisher

pytestmark = pytest.mark.unit

TEXT = " ".join(f"w{i}" for i in range(20))  # 20 one-word tokens


@dataclass
class WordModel:
    """A provider of one-word tokens whose vectors say which model made them."""

    model_name: str
    dimensions: int = 2
    max_tokens: int = 8
    batch_size: int = 16
    concurrency: int = 1
    provider_name: str = "word"  # what `usage` names it
    tokenizer: WhitespaceTokenizer = field(default_factory=WhitespaceTokenizer)
    calls: list[list[str]] = field(default_factory=list)

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(texts)
        return [[float(len(self.model_name))] * self.dimensions for _ in texts]


@dataclass
class Run:
    stage: EmbedStage
    chunks: MemoryChunkStore
    blobs: MemoryBlobStore
    publisher: RecordingPublisher

    def parsed(self, tenant: str = "t", vector_set: VectorSetRef | None = None) -> Delivery:
        event = DocumentParsed(
            event_id=uuid.uuid4().hex,
            occurred_at=now(),
            tenant_id=tenant,
            job_id=uuid.uuid4().hex,
            document_id=uuid.uuid4().hex,
            text=self.blobs.add(TEXT.encode()),
            vector_set=vector_set,
        )
        return Delivery(topic=topics.DOCUMENTS_PARSED, partition=0, offset=0, event=event)

    def stored(self, delivery: Delivery) -> tuple[VectorSetKey, list[int]]:
        """The set a document went to and its chunks' token counts."""
        [document] = [d for d in self.chunks.stored if d.source_event_id == delivery.event.event_id]
        return document.target, [c.token_count for c in document.chunks]

    def outcome(self, delivery: Delivery) -> DocumentIndexed | DocumentFailed:
        sent = self.publisher.events(topics.DOCUMENTS_INDEXED)
        sent += self.publisher.events(topics.DOCUMENTS_FAILED)
        [event] = [e for e in sent if e.job_id == delivery.event.job_id]
        assert isinstance(event, DocumentIndexed | DocumentFailed)
        return event


def run_with(default: WordModel, *others: WordModel) -> Run:
    blobs, chunks, publisher = MemoryBlobStore(), MemoryChunkStore(), RecordingPublisher()
    ports = StagePorts(
        blobs,
        publisher,
        Retrier(publisher, Origin("embedder", "unit"), Stage.EMBED),
        chunks.deleted,
    )
    shelf = ModelShelf(None, default=default)
    for model in others:
        shelf._loaded[model.model_name] = model  # loaded already, as after a first use
    stage = EmbedStage(
        ports, chunks=chunks, provider=default, sizes=ChunkSizes(256, 2), models=shelf
    )
    return Run(stage, chunks, blobs, publisher)


async def test_a_tenant_without_a_set_gets_the_configured_model_and_chunking() -> None:
    run = run_with(WordModel("base"))
    first = run.parsed()

    await run.stage([first], {})

    # 256/2 fitted to the model's 8 tokens: chunks of 8, overlap 2
    assert run.stored(first) == (VectorSetKey("base", 2, 8, 2), [8, 8, 8])
    indexed = run.outcome(first)
    assert isinstance(indexed, DocumentIndexed)
    assert indexed.vector_set == VectorSetRef("base", 8, 2)
    assert run.chunks.active["t"] == VectorSetKey("base", 2, 8, 2)


async def test_an_upload_goes_to_the_tenants_active_set_with_its_chunking() -> None:
    run = run_with(WordModel("base"))
    run.chunks.active["t"] = VectorSetKey("base", 2, 5, 0)
    upload = run.parsed()

    await run.stage([upload], {})

    assert run.stored(upload) == (VectorSetKey("base", 2, 5, 0), [5, 5, 5, 5])


async def test_a_set_moved_from_before_vector_sets_keeps_its_key_and_the_configured_sizes() -> None:
    run = run_with(WordModel("base"))
    legacy = VectorSetKey("base", 2)  # chunking not recorded
    run.chunks.active["t"] = legacy
    upload = run.parsed()

    await run.stage([upload], {})

    assert run.stored(upload) == (legacy, [8, 8, 8])


async def test_a_reprocess_job_writes_the_set_it_names_beside_the_active_one() -> None:
    run = run_with(WordModel("base"))
    run.chunks.active["t"] = VectorSetKey("base", 2, 8, 2)
    reprocess = run.parsed(vector_set=VectorSetRef("base", 4, 0))
    upload = run.parsed()

    await run.stage([reprocess, upload], {})

    assert run.stored(reprocess) == (VectorSetKey("base", 2, 4, 0), [4, 4, 4, 4, 4])
    assert run.stored(upload) == (VectorSetKey("base", 2, 8, 2), [8, 8, 8])
    assert run.chunks.active["t"] == VectorSetKey("base", 2, 8, 2)  # not switched


async def test_each_document_is_embedded_by_the_model_of_its_set() -> None:
    base, other = WordModel("base"), WordModel("other-model", dimensions=3, max_tokens=6)
    run = run_with(base, other)
    reprocess = run.parsed(vector_set=VectorSetRef("other-model", 6, 0))
    upload = run.parsed()

    await run.stage([reprocess, upload], {})

    key, counts = run.stored(reprocess)
    assert (key, counts) == (VectorSetKey("other-model", 3, 6, 0), [6, 6, 6, 2])
    [document] = [d for d in run.chunks.stored if d.target == key]
    assert document.vectors == [[11.0, 11.0, 11.0]] * 4  # made by "other-model"
    assert sum(len(c) for c in other.calls) == 4
    assert sum(len(c) for c in base.calls) == 3
    indexed = run.outcome(reprocess)
    assert isinstance(indexed, DocumentIndexed)
    assert (indexed.embedding_model, indexed.dimensions) == ("other-model", 3)
    # usage (additive beside vector_set) names the set's model: 6+6+6+2 tokens in one call
    assert indexed.vector_set == VectorSetRef("other-model", 6, 0)
    assert indexed.usage == Usage(provider="word", model="other-model", tokens=20, requests=1)


async def test_a_model_this_deployment_lacks_fails_the_job_with_a_clear_code() -> None:
    run = run_with(WordModel("base"))
    missing = run.parsed(vector_set=VectorSetRef("text-embedding-3-large", 256, 32))
    fine = run.parsed()

    await run.stage([missing, fine], {})

    failed = run.outcome(missing)
    assert isinstance(failed, DocumentFailed)
    assert failed.code == "embedding_model_unavailable"
    assert "text-embedding-3-large" in failed.message
    assert "base" in failed.message  # what is available
    assert isinstance(run.outcome(fine), DocumentIndexed)
    assert [d.source_event_id for d in run.chunks.stored] == [fine.event.event_id]


@pytest.mark.parametrize(
    ("tokens", "overlap", "why"),
    [(9, 0, "1 to 8"), (0, 0, "1 to 8"), (8, 5, "half the chunk size (4)")],
)
async def test_a_chunking_the_model_cannot_take_fails_the_job(
    tokens: int, overlap: int, why: str
) -> None:
    run = run_with(WordModel("base"))
    bad = run.parsed(vector_set=VectorSetRef("base", tokens, overlap))

    await run.stage([bad], {})

    failed = run.outcome(bad)
    assert isinstance(failed, DocumentFailed)
    assert failed.code == "invalid_vector_set"
    assert why in failed.message
    assert run.chunks.stored == []


async def test_an_active_set_of_other_dimensions_fails_instead_of_storing() -> None:
    run = run_with(WordModel("base"))
    run.chunks.active["t"] = VectorSetKey("base", 384, 8, 2)
    upload = run.parsed()

    await run.stage([upload], {})

    failed = run.outcome(upload)
    assert isinstance(failed, DocumentFailed)
    assert failed.code == "invalid_vector_set"
    assert "384-d" in failed.message
