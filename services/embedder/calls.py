"""The embedder's model calls: a call's chunks embedded (one document at a time when the
provider refuses the call), its usage added to its documents and the per-tenant metrics, and
the time the model was busy."""

from __future__ import annotations

import asyncio
import logging
import time

from services.common import metrics
from services.common.embedding.ports import Embedded, EmbeddingProvider, embed_measured
from services.common.errors import ThrottledError
from services.common.logs import ctx
from services.embedder.core.batch import PendingDocument
from services.embedder.core.chunking import Chunk
from services.embedder.core.targets import Target

log = logging.getLogger(__name__)


class ModelCalls:
    """The embed stage's calls to its models, with their usage and the model's busy time."""

    def __init__(self) -> None:
        self.seconds = 0.0  # time with a provider.embed call running, for the log line
        self.answered = False  # a call of this batch got vectors: wait out a spent budget
        self._running = 0
        self._busy_since = 0.0
        self._calls = 0  # model calls made, numbering them for the usage of each document

    async def vectors(
        self, call: list[tuple[PendingDocument[Target], int]], provider: EmbeddingProvider
    ) -> list[PendingDocument[Target]]:
        """Embed one call's chunks (`(document, chunk index)`); return the documents finished.

        A provider refusal (`ValueError`: a 4xx, a bad vector) must not hold the batch hostage:
        the call's documents are then embedded one by one, and each one still refused is
        finished with its error instead of vectors. `RetryableError` propagates (the batch
        goes to the retry topic).
        """
        call = [(doc, i) for doc, i in call if doc.refused is None]
        if not call:
            return []
        self._busy(+1)
        metrics.EMBED_BATCH_SIZE.observe(len(call))
        metrics.EMBED_BATCH_TOKENS.observe(sum(doc.chunks[i].token_count for doc, i in call))
        try:
            measured = await self._measured([doc.chunks[i].text for doc, i in call], provider)
        except ValueError as error:
            log.warning(
                "provider refused a call of %d chunks (%s); embedding its documents one by one",
                len(call),
                error,
                extra=ctx(stage="embed"),
            )
            return await self._one_by_one(call, provider)
        finally:
            self._busy(-1)
        vectors = measured.vectors
        if len(vectors) != len(call):
            raise ValueError(f"the provider returned {len(vectors)} vectors for {len(call)} texts")
        self._account([(doc, doc.chunks[i]) for doc, i in call], measured, provider)
        finished: list[PendingDocument[Target]] = []
        for (doc, i), vector in zip(call, vectors, strict=True):
            if doc.put(i, vector):
                finished.append(doc)
        return finished

    async def _measured(self, texts: list[str], provider: EmbeddingProvider) -> Embedded:
        """One model call, with usage. A spent budget is handed to the consumer (which pauses
        and hands the batch over again) before any call of the batch got vectors; after
        one did, it is waited out here, so the work done is not thrown away."""
        while True:
            try:
                measured = await asyncio.to_thread(embed_measured, provider, texts)
            except ThrottledError as error:
                if not self.answered:
                    raise
                log.info("budget spent mid-batch; waiting %.1fs", error.wait_s)
                await asyncio.sleep(error.wait_s)
                continue
            self.answered = True
            return measured

    def _account(
        self,
        chunks: list[tuple[PendingDocument[Target], Chunk]],
        measured: Embedded,
        provider: EmbeddingProvider,
    ) -> None:
        """Add a call's tokens and requests to its documents and the per-tenant metrics."""
        self._calls += 1
        name = provider.provider_name
        tenants: dict[str, set[int]] = {}
        for k, (doc, chunk) in enumerate(chunks):
            tokens = measured.tokens[k] if measured.tokens else chunk.token_count
            request = measured.requests[k] if k < len(measured.requests) else 0
            doc.tokens += tokens
            doc.requests.add((self._calls, request))
            tenants.setdefault(doc.event.tenant_id, set()).add(request)
            metrics.EMBEDDING_TOKENS.labels(name, doc.event.tenant_id).inc(tokens)
        for tenant, requests in tenants.items():
            metrics.EMBEDDING_REQUESTS.labels(name, tenant).inc(len(requests))

    def _busy(self, change: int) -> None:
        """Count calls in flight; `seconds` adds the time at least one was running."""
        now_ = time.perf_counter()
        if self._running:
            self.seconds += now_ - self._busy_since
        self._busy_since = now_
        self._running += change

    async def _one_by_one(
        self, call: list[tuple[PendingDocument[Target], int]], provider: EmbeddingProvider
    ) -> list[PendingDocument[Target]]:
        indexes: dict[PendingDocument[Target], list[int]] = {}  # by identity, in call order
        for doc, i in call:
            indexes.setdefault(doc, []).append(i)
        finished: list[PendingDocument[Target]] = []
        for doc, mine in indexes.items():
            outcome = await self._one([doc.chunks[i] for i in mine], provider)
            if isinstance(outcome, ValueError):
                doc.refused = outcome
                finished.append(doc)
                continue
            self._account([(doc, doc.chunks[i]) for i in mine], outcome, provider)
            done = [doc.put(i, v) for i, v in zip(mine, outcome.vectors, strict=True)]
            if any(done):
                finished.append(doc)
        return finished

    async def _one(self, chunks: list[Chunk], provider: EmbeddingProvider) -> Embedded | ValueError:
        if not chunks:
            return Embedded(vectors=[], tokens=[], requests=[])
        try:
            return await self._measured([c.text for c in chunks], provider)
        except ValueError as error:
            return error
