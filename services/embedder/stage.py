"""The embed stage: DocumentParsed in, chunks + vectors stored, DocumentIndexed out."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import msgspec

from schemas import topics
from schemas.events import DocumentIndexed, DocumentParsed, Usage, caused_by
from schemas.layout import Layout, decode_layout
from services.common import metrics
from services.common.embedding.models import ModelShelf, ModelUnavailableError
from services.common.embedding.ports import EmbeddingProvider
from services.common.errors import BLOB_MISSING, BlobNotFoundError, RetryableError
from services.common.kafka.records import Delivery, Position
from services.common.logs import ctx
from services.common.stage import StagePorts, skipped_deleted
from services.embedder.calls import ModelCalls
from services.embedder.core.batch import PendingDocument, model_calls, rounds
from services.embedder.core.chunking import Chunk, ChunkSizes, chunk_text
from services.embedder.core.citations import cite
from services.embedder.core.ports import ChunkStore, DocumentChunks, ModelSource
from services.embedder.core.targets import Target, TargetError, target_for, wanted_model

log = logging.getLogger(__name__)

EMBEDDING_REJECTED = "embedding_rejected"
NO_TEXT = "no_text"


@dataclass(frozen=True)
class _Round:
    """A round's bookkeeping: each event's delivery, the events whose outcome is durable
    (the batch's, across its rounds), and when the round started."""

    delivery_of: dict[str, Delivery]
    stored: set[str]
    started: float = field(default_factory=time.perf_counter)


class EmbedStage:
    """Batch handler for the embedder's consumer loop; batches model calls across documents."""

    def __init__(
        self,
        ports: StagePorts,
        *,
        chunks: ChunkStore,
        provider: EmbeddingProvider,
        sizes: ChunkSizes,
        models: ModelSource | None = None,
    ) -> None:
        self.configured = sizes  # fitted to each model's limit when used
        self.ports = ports
        self.chunks = chunks
        self.provider = provider  # the configured model: tenants without a vector set get it
        self.models = models or ModelShelf(None, default=provider)
        self.calls = ModelCalls()

    async def __call__(self, batch: list[Delivery], positions: dict[Position, int]) -> None:
        """Embed every parsed document in the batch; effects are durable before returning."""
        deliveries = [d for d in batch if isinstance(d.event, DocumentParsed)]
        if not deliveries:
            return
        deleted = await self.ports.skip_deleted([d.event for d in deliveries])
        deliveries = [d for d in deliveries if d.event.event_id not in deleted]
        stored: set[str] = set()  # event ids whose outcome is already durable
        self.calls.answered = False
        try:
            for round_ in rounds(deliveries, lambda d: d.event.document_id):
                await self._embed(round_, stored)
        except RetryableError as error:
            await asyncio.gather(
                *(
                    self.ports.retrier.retry_later(
                        d, error.code, error.message, retry_after_s=error.retry_after_s
                    )
                    for d in deliveries
                    if d.event.event_id not in stored
                )
            )

    async def _embed(self, deliveries: list[Delivery], stored: set[str]) -> None:
        """Chunk, embed and store documents (each document at most once in `deliveries`)."""
        parsed = [d.event for d in deliveries if isinstance(d.event, DocumentParsed)]
        round_ = _Round({d.event.event_id: d for d in deliveries}, stored)
        model_before = self.calls.seconds
        announced = asyncio.gather(*(self.ports.started(p) for p in parsed))
        indexed = 0
        chunked: list[list[Chunk]] = []
        try:
            texts, layouts, targets = await asyncio.gather(
                asyncio.gather(*(self._text(p) for p in parsed)),
                asyncio.gather(*(self._layout(p) for p in parsed)),
                self._targets(parsed),
            )
            ready = [
                (p, t, lay, target)
                for p, t, lay, target in zip(parsed, texts, layouts, targets, strict=True)
                if t is not None and isinstance(target, Target)
            ]
            chunked = await asyncio.to_thread(
                self._chunk_all, [(t, lay, g) for _, t, lay, g in ready]
            )
            await announced  # every StageStarted is acknowledged before any outcome
            refused = await self._refuse(parsed, texts, targets, round_)
            _observe("failed", round_.started, refused)
            documents = [
                PendingDocument(p, c, target)
                for (p, _, _, target), c in zip(ready, chunked, strict=True)
            ]
            by_model: dict[str, list[PendingDocument[Target]]] = {}
            for document in documents:
                by_model.setdefault(document.target.provider.model_name, []).append(document)
            for group in by_model.values():
                indexed += await self._embed_and_store(group, round_)
        finally:
            if not announced.done():
                announced.cancel()
        elapsed = time.perf_counter() - round_.started
        log.info(
            "indexed %d documents, %d chunks in %.2fs (model %.2fs)",
            indexed,
            sum(len(c) for c in chunked),
            elapsed,
            self.calls.seconds - model_before,
            extra=ctx(stage="embed"),
        )

    async def _targets(self, parsed: list[DocumentParsed]) -> list[Target | TargetError]:
        """Each document's vector set, model and chunking (or why it has none here)."""
        tenants = {p.tenant_id for p in parsed if p.vector_set is None}
        active = await self.chunks.active_sets(tenants) if tenants else {}
        targets: list[Target | TargetError] = []
        for event in parsed:
            tenant_set = None if event.vector_set is not None else active.get(event.tenant_id)
            model = wanted_model(event, tenant_set, self.provider.model_name)
            try:
                provider = await self.models.get(model)
                targets.append(target_for(event, tenant_set, provider, self.configured))
            except ModelUnavailableError as error:
                targets.append(TargetError(error.code, str(error)))
            except TargetError as error:
                targets.append(error)
        return targets

    async def _refuse(
        self,
        parsed: list[DocumentParsed],
        texts: list[str | None],
        targets: list[Target | TargetError],
        round_: _Round,
    ) -> int:
        """Dead-letter documents whose text is gone (skip those deleted meanwhile: not a
        failure); fail those whose vector set cannot be written here (a model this deployment
        lacks, a chunking the model cannot take); return how many were refused."""
        missing = [p for p, t in zip(parsed, texts, strict=True) if t is None]
        gone = await self.ports.skip_deleted(missing)  # deleted meanwhile: not a failure
        round_.stored.update(gone)
        missing = [p for p in missing if p.event_id not in gone]
        unwritable = [
            (p, target)
            for p, t, target in zip(parsed, texts, targets, strict=True)
            if t is not None and isinstance(target, TargetError)
        ]
        await asyncio.gather(
            *(
                self.ports.retrier.dead_letter(
                    round_.delivery_of[p.event_id],
                    BLOB_MISSING,
                    "the parsed text is missing from the blob store; retry the job",
                    kind="embed-failed",
                )
                for p in missing
            ),
            *(self.ports.fail(p, error.code, error.message) for p, error in unwritable),
        )
        round_.stored.update(p.event_id for p in missing)
        round_.stored.update(p.event_id for p, _ in unwritable)
        return len(missing) + len(unwritable)

    async def _embed_and_store(
        self,
        documents: list[PendingDocument[Target]],
        round_: _Round,
    ) -> int:
        """Embed the documents' chunks and store each document once its last chunk has a vector.

        The chunks go to the model longest first, `provider.batch_size` per call and
        `provider.concurrency` calls at a time, so texts of like length share a padded pass.
        Storing (pgvector upserts, then the events) runs beside the model calls, one store at
        a time, so the model is not left idle while the database and Kafka answer. Returns the
        number of documents indexed.
        """
        provider = documents[0].target.provider  # one model per group
        calls = model_calls(documents, provider.batch_size, provider.concurrency)
        finished = [d for d in documents if d.done]  # no chunks: nothing to embed
        running: set[asyncio.Task[list[PendingDocument[Target]]]] = set()
        storing: asyncio.Task[int] | None = None
        indexed = 0

        async def collect(*, all_: bool = False) -> None:
            """Take the next finished call's documents; start the next store when none runs."""
            nonlocal running, storing, indexed
            if running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                errors = [e for e in (task.exception() for task in done) if e is not None]
                if errors:
                    raise errors[0]
                for task in done:
                    finished.extend(task.result())
            if storing is not None and (storing.done() or all_):
                indexed += await storing
                storing = None
            if storing is None and finished:
                storing = asyncio.create_task(self._store(list(finished), round_))
                finished.clear()

        try:
            for call in calls:
                while len(running) >= provider.concurrency:
                    await collect()
                running.add(asyncio.create_task(self.calls.vectors(call, provider)))
            while running:
                await collect()
            while storing is not None or finished:
                await collect(all_=True)
        finally:  # on an error, let the calls and the store in flight finish; store no more
            await asyncio.gather(*running, return_exceptions=True)
            if storing is not None:
                await asyncio.gather(storing, return_exceptions=True)
        return indexed

    async def _store(
        self,
        finished: list[PendingDocument[Target]],
        round_: _Round,
    ) -> int:
        """Upsert finished documents' chunks (one transaction), then announce each; # indexed.

        Each document's stage time is observed here, when its outcome is durable: the time
        since its round started, not the batch's average (documents finish at their own pace).
        """
        documents: list[tuple[PendingDocument[Target], DocumentChunks]] = []
        failures: list[tuple[DocumentParsed, str]] = []  # only the document is at fault
        refused: list[tuple[DocumentParsed, str]] = []  # dead-lettered: our side gave up
        for doc in finished:
            event = doc.event
            if not doc.chunks:
                failures.append((event, "the document has no text to index"))
            elif doc.refused is not None:
                refused.append(
                    (event, f"the embedding provider refused this document: {doc.refused}")
                )
            else:
                chunks = DocumentChunks(
                    tenant_id=event.tenant_id,
                    document_id=event.document_id,
                    source_event_id=event.event_id,
                    chunks=doc.chunks,
                    vectors=doc.embedded(),
                    target=doc.target.key,
                    job_id=event.job_id,
                )
                documents.append((doc, chunks))
        deleted = await self.chunks.replace([d for _, d in documents])
        for doc, _ in documents:
            if doc.event.event_id in deleted:
                skipped_deleted(self.ports.stage, doc.event)
        documents = [(doc, d) for doc, d in documents if doc.event.event_id not in deleted]
        await asyncio.gather(
            *(self._indexed(doc, len(d.chunks)) for doc, d in documents),
            *(self.ports.fail(event, NO_TEXT, message) for event, message in failures),
            *(
                self.ports.retrier.dead_letter(
                    round_.delivery_of[event.event_id],
                    EMBEDDING_REJECTED,
                    message,
                    kind="embed-failed",
                )
                for event, message in refused
            ),
        )
        round_.stored.update(doc.event.event_id for doc in finished)
        _observe("ok", round_.started, len(documents))
        _observe("failed", round_.started, len(failures) + len(refused))
        retrier = self.ports.retrier
        for doc, _ in documents:
            retrier.finished(round_.delivery_of[doc.event.event_id].retries, succeeded=True)
        for event, _ in failures:
            retrier.finished(round_.delivery_of[event.event_id].retries, succeeded=False)
        return len(documents)

    def _chunk_all(self, work: list[tuple[str, Layout | None, Target]]) -> list[list[Chunk]]:
        """Each text cut with its target's tokenizer and sizes, pages and headings cited."""
        return [
            cite(
                chunk_text(
                    text,
                    target.provider.tokenizer,
                    max_tokens=target.sizes.max_tokens,
                    overlap_tokens=target.sizes.overlap_tokens,
                ),
                layout,
            )
            for text, layout, target in work
        ]

    async def _text(self, event: DocumentParsed) -> str | None:
        try:
            return (await self.ports.blobs.get(event.text)).decode("utf-8", errors="replace")
        except BlobNotFoundError:
            return None

    async def _layout(self, event: DocumentParsed) -> Layout | None:
        """The document's layout; None when it has none (a v1 event, a format without pages or
        headings) or when its blob is missing or unreadable: that costs citations, not the job.
        """
        if event.layout is None:
            return None
        try:
            return decode_layout(await self.ports.blobs.get(event.layout))
        except (BlobNotFoundError, msgspec.DecodeError) as error:
            log.warning(
                "layout blob %s unusable (%s): chunks get no page or heading",
                event.layout.sha256,
                error,
                extra=ctx(job_id=event.job_id, document_id=event.document_id, stage="embed"),
            )
            return None

    async def _indexed(self, doc: PendingDocument[Target], count: int) -> None:
        event, provider = doc.event, doc.target.provider
        usage = Usage(
            provider=provider.provider_name,
            model=provider.model_name,
            tokens=doc.tokens,
            requests=len(doc.requests),
        )
        indexed = DocumentIndexed(
            chunk_count=count,
            embedding_model=provider.model_name,
            dimensions=provider.dimensions,
            usage=usage,
            vector_set=doc.target.ref,
            **caused_by(event, "indexed", self.ports.origin),
        )
        await self.ports.publisher.publish(topics.DOCUMENTS_INDEXED, indexed)


def _observe(outcome: str, started: float, documents: int) -> None:
    """`documents` finished the embed stage now with `outcome`, after starting at `started`."""
    elapsed = time.perf_counter() - started
    for _ in range(documents):
        metrics.STAGE_SECONDS.labels("embed", outcome).observe(elapsed)
