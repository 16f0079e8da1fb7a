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
        try:
            await self._embed(deliveries)
        except RetryableError as error:
            await asyncio.gather(
                *(
                    self.retrier.retry_later(
                        d, error.code, error.message, retry_after_s=error.retry_after_s
                    )
                    for d in deliveries
                )
            )

    async def _embed(self, deliveries: list[Delivery]) -> None:
        parsed = [d.event for d in deliveries if isinstance(d.event, DocumentParsed)]
        started = time.perf_counter()
        model_before = self.model_seconds
        await asyncio.gather(
            *(
                send_event(
                    self.producer,
                    topics.JOBS_PROGRESS,
                    StageStarted(stage=Stage.EMBED, **caused_by(p, "embed-started", self.identity)),
                )
                for p in parsed
            )
        )
        texts = await asyncio.gather(*(self._text(p) for p in parsed))
        ready = [(p, t) for p, t in zip(parsed, texts, strict=True) if t is not None]
        delivery_of = {d.event.event_id: d for d in deliveries}
        chunked = await asyncio.to_thread(self._chunk_all, [t for _, t in ready])
        embedded = await self._vectors(chunked)
        documents: list[DocumentChunks] = []
        failures: list[tuple[DocumentParsed, str, str]] = []  # only the document is at fault
        refused: list[tuple[DocumentParsed, str, str]] = []  # dead-lettered: our side gave up
        for (event, _), doc_chunks, vectors in zip(ready, chunked, embedded, strict=True):
            if not doc_chunks:
                failures.append((event, "no_text", "the document has no text to index"))
                continue
            if isinstance(vectors, ValueError):
                message = f"the embedding provider refused this document: {vectors}"
                refused.append((event, EMBEDDING_REJECTED, message))
                continue
            documents.append(
                DocumentChunks(
                    tenant_id=event.tenant_id,
                    document_id=event.document_id,
                    source_event_id=event.event_id,
                    chunks=doc_chunks,
                    vectors=vectors,
                )
            )
        refused += [
            (p, "blob_missing", "the parsed text is missing from the blob store; retry the job")
            for p, t in zip(parsed, texts, strict=True)
            if t is None
        ]
        await self.chunks.replace(self.provider.model_name, documents)
        await asyncio.gather(
            *(self._indexed(p, len(d.chunks)) for p, d in _pair(ready, documents)),
            *(self._fail(p, code, message) for p, code, message in failures),
            *(
                self.retrier.dead_letter(
                    delivery_of[p.event_id], code, message, kind="embed-failed"
                )
                for p, code, message in refused
            ),
        )
        elapsed = time.perf_counter() - started
        flat = [c for doc in documents for c in doc.chunks]
        for _ in documents:
            metrics.STAGE_SECONDS.labels("embed", "ok").observe(elapsed / max(1, len(documents)))
        log.info(
            "indexed %d documents, %d chunks in %.2fs (model %.2fs)",
            len(documents),
            len(flat),
            elapsed,
            self.model_seconds - model_before,
            extra=ctx(stage="embed"),
        )

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


def _pair(
    ready: list[tuple[DocumentParsed, str]], documents: list[DocumentChunks]
) -> list[tuple[DocumentParsed, DocumentChunks]]:
    by_event = {d.source_event_id: d for d in documents}
    return [(p, by_event[p.event_id]) for p, _ in ready if p.event_id in by_event]
