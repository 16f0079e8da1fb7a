"""The embed stage: DocumentParsed in, chunks + vectors stored, DocumentIndexed out."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer

from schemas import topics
from schemas.events import (
    DocumentFailed,
    DocumentIndexed,
    DocumentParsed,
    Producer,
    Stage,
    StageStarted,
    caused_by,
)
from services.common import metrics
from services.common.blobstore import BlobNotFoundError, PostgresBlobStore
from services.common.kafka import Delivery, Position, send_event
from services.common.logs import ctx
from services.common.retry import Retrier, RetryableError
from services.embedder.adapters.chunk_store import ChunkStore, DocumentChunks
from services.embedder.core.chunking import Chunk, chunk_text
from services.embedder.core.ports import EmbeddingProvider

log = logging.getLogger(__name__)

EMBEDDING_REJECTED = "embedding_rejected"
GROUP_CHUNKS = 96  # chunks per model call; storing one group overlaps embedding the next


class EmbedStage:
    """Batch handler for the embedder's consumer loop; batches model calls across documents."""

    def __init__(
        self,
        *,
        blobs: PostgresBlobStore,
        chunks: ChunkStore,
        producer: AIOKafkaProducer,
        provider: EmbeddingProvider,
        identity: Producer,
        retrier: Retrier,
        chunk_tokens: int,
        chunk_overlap: int,
    ) -> None:
        self.blobs = blobs
        self.chunks = chunks
        self.producer = producer
        self.provider = provider
        self.identity = identity
        self.retrier = retrier
        self.chunk_tokens = min(chunk_tokens, provider.max_tokens)
        self.chunk_overlap = min(chunk_overlap, self.chunk_tokens // 2)
        self.model_seconds = 0.0  # time spent in provider.embed, for the batch log line

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None:
        """Embed every parsed document in the batch; effects are durable before returning."""
        deliveries = [d for d in batch if isinstance(d.event, DocumentParsed)]
        if not deliveries:
            return
        stored: set[str] = set()  # event ids whose outcome is already durable
        try:
            await self._embed(deliveries, stored)
        except RetryableError as error:
            await asyncio.gather(
                *(
                    self.retrier.retry_later(
                        d, error.code, error.message, retry_after_s=error.retry_after_s
                    )
                    for d in deliveries
                    if d.event.event_id not in stored
                )
            )

    async def _embed(self, deliveries: list[Delivery], stored: set[str]) -> None:
        """Chunk, embed and store the batch, in groups of documents.

        Storing a group (pgvector upserts, events) overlaps the model call for the next group,
        so the model is not left idle while the database and Kafka answer.
        """
        parsed = [d.event for d in deliveries if isinstance(d.event, DocumentParsed)]
        started = time.perf_counter()
        model_before = self.model_seconds
        announced = asyncio.gather(
            *(
                send_event(
                    self.producer,
                    topics.JOBS_PROGRESS,
                    StageStarted(stage=Stage.EMBED, **caused_by(p, "embed-started", self.identity)),
                )
                for p in parsed
            )
        )
        delivery_of = {d.event.event_id: d for d in deliveries}
        storing: asyncio.Task[int] | None = None
        indexed = chunk_total = 0
        try:
            texts = await asyncio.gather(*(self._text(p) for p in parsed))
            ready = [(p, t) for p, t in zip(parsed, texts, strict=True) if t is not None]
            chunked = await asyncio.to_thread(self._chunk_all, [t for _, t in ready])
            await announced  # every StageStarted is acknowledged before any outcome
            missing = [p for p, t in zip(parsed, texts, strict=True) if t is None]
            await asyncio.gather(
                *(
                    self.retrier.dead_letter(
                        delivery_of[p.event_id],
                        "blob_missing",
                        "the parsed text is missing from the blob store; retry the job",
                        kind="embed-failed",
                    )
                    for p in missing
                )
            )
            stored.update(p.event_id for p in missing)
            for group in _groups(ready, chunked, GROUP_CHUNKS):
                embedded = await self._vectors([c for _, c in group])
                if storing is not None:
                    indexed += await storing
                storing = asyncio.create_task(self._store(group, embedded, delivery_of, stored))
                chunk_total += sum(len(c) for _, c in group)
            if storing is not None:
                indexed += await storing
                storing = None
        finally:
            if not announced.done():
                announced.cancel()
            if storing is not None:  # an error mid-batch: let the group being stored finish
                await asyncio.gather(storing, return_exceptions=True)
        elapsed = time.perf_counter() - started
        for _ in range(indexed):
            metrics.STAGE_SECONDS.labels("embed", "ok").observe(elapsed / max(1, indexed))
        log.info(
            "indexed %d documents, %d chunks in %.2fs (model %.2fs)",
            indexed,
            chunk_total,
            elapsed,
            self.model_seconds - model_before,
            extra=ctx(stage="embed"),
        )

    async def _store(
        self,
        group: list[tuple[DocumentParsed, list[Chunk]]],
        embedded: list[list[list[float]] | ValueError],
        delivery_of: dict[str, Delivery],
        stored: set[str],
    ) -> int:
        """Upsert a group's chunks (one transaction), then announce each outcome; # indexed."""
        documents: list[tuple[DocumentParsed, DocumentChunks]] = []
        failures: list[tuple[DocumentParsed, str]] = []  # only the document is at fault
        refused: list[tuple[DocumentParsed, str]] = []  # dead-lettered: our side gave up
        for (event, doc_chunks), vectors in zip(group, embedded, strict=True):
            if not doc_chunks:
                failures.append((event, "the document has no text to index"))
            elif isinstance(vectors, ValueError):
                refused.append((event, f"the embedding provider refused this document: {vectors}"))
            else:
                chunks = DocumentChunks(
                    tenant_id=event.tenant_id,
                    document_id=event.document_id,
                    source_event_id=event.event_id,
                    chunks=doc_chunks,
                    vectors=vectors,
                )
                documents.append((event, chunks))
        await self.chunks.replace(self.provider.model_name, [d for _, d in documents])
        await asyncio.gather(
            *(self._indexed(event, len(d.chunks)) for event, d in documents),
            *(self._fail(event, "no_text", message) for event, message in failures),
            *(
                self.retrier.dead_letter(
                    delivery_of[event.event_id], EMBEDDING_REJECTED, message, kind="embed-failed"
                )
                for event, message in refused
            ),
        )
        stored.update(event.event_id for event, _ in group)
        return len(documents)

    async def _vectors(self, chunked: list[list[Chunk]]) -> list[list[list[float]] | ValueError]:
        """Vectors per document, from one provider call for the whole batch.

        A provider refusal (`ValueError`: a 4xx, a bad vector) must not hold the batch hostage:
        the documents are then embedded one by one, and each one still refused gets its error
        instead of vectors. `RetryableError` propagates (the batch goes to the retry topic).
        """
        flat = [c.text for doc in chunked for c in doc]
        if not flat:
            return [[] for _ in chunked]
        started = time.perf_counter()
        try:
            vectors = await asyncio.to_thread(self.provider.embed, flat)
        except ValueError as error:
            log.warning(
                "provider refused a batch of %d documents (%s); embedding them one by one",
                len(chunked),
                error,
                extra=ctx(stage="embed"),
            )
            return [await self._one(doc) for doc in chunked]
        self.model_seconds += time.perf_counter() - started
        out: list[list[list[float]] | ValueError] = []
        at = 0
        for doc in chunked:
            out.append(vectors[at : at + len(doc)])
            at += len(doc)
        return out

    async def _one(self, chunks: list[Chunk]) -> list[list[float]] | ValueError:
        if not chunks:
            return []
        try:
            return await asyncio.to_thread(self.provider.embed, [c.text for c in chunks])
        except ValueError as error:
            return error

    def _chunk_all(self, texts: list[str]) -> list[list[Chunk]]:
        return [
            chunk_text(
                t,
                self.provider.tokenizer,
                max_tokens=self.chunk_tokens,
                overlap_tokens=self.chunk_overlap,
            )
            for t in texts
        ]

    async def _text(self, event: DocumentParsed) -> str | None:
        try:
            return (await self.blobs.get(event.text)).decode("utf-8", errors="replace")
        except BlobNotFoundError:
            return None

    async def _indexed(self, event: DocumentParsed, count: int) -> None:
        indexed = DocumentIndexed(
            chunk_count=count,
            embedding_model=self.provider.model_name,
            dimensions=self.provider.dimensions,
            **caused_by(event, "indexed", self.identity),
        )
        await send_event(self.producer, topics.DOCUMENTS_INDEXED, indexed)

    async def _fail(self, event: DocumentParsed, code: str, message: str) -> None:
        failed = DocumentFailed(
            stage=Stage.EMBED,
            code=code,
            message=message,
            **caused_by(event, "embed-failed", self.identity),
        )
        await send_event(self.producer, topics.DOCUMENTS_FAILED, failed)
        metrics.JOBS_FAILED.labels("embed", code).inc()
        log.warning(
            "embed failed: %s",
            code,
            extra=ctx(job_id=event.job_id, document_id=event.document_id, stage="embed"),
        )


def _groups(
    ready: list[tuple[DocumentParsed, str]], chunked: list[list[Chunk]], size: int
) -> list[list[tuple[DocumentParsed, list[Chunk]]]]:
    """Consecutive documents in groups of at least `size` chunks (the last may be smaller)."""
    groups: list[list[tuple[DocumentParsed, list[Chunk]]]] = []
    current: list[tuple[DocumentParsed, list[Chunk]]] = []
    count = 0
    for (event, _), chunks in zip(ready, chunked, strict=True):
        current.append((event, chunks))
        count += len(chunks)
        if count >= size:
            groups.append(current)
            current, count = [], 0
    if current:
        groups.append(current)
    return groups
