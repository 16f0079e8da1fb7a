"""Reprocess a tenant's documents into a new vector set, switch its search to a set, prune the
sets no tenant uses (the admin operations behind `sluice reprocess|activate|prune`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Final

from schemas import topics
from schemas.events import BlobRef, DocumentUploaded, Origin, VectorSetRef, now, uuid7
from services.common.db import Pool
from services.common.embedding.models import ModelShelf, ModelUnavailableError
from services.common.errors import RefusedError
from services.common.ports import EventPublisher
from services.common.vectors.admin import (
    Activation,
    KeptSet,
    Pruning,
    Reprocessing,
    ReprocessJob,
    TenantSet,
    TenantSets,
)
from services.common.vectors.registry import VectorSets
from services.common.vectors.sets import VectorSet, VectorSetKey, VectorSetView, chunking_problem
from services.common.vectors.store import VectorSetGoneError, VectorStore

PUBLISH_AT_ONCE: Final = 64  # events in flight while a reprocess publishes its jobs


class VectorSetRefusedError(RefusedError):
    """An admin request on vector sets that cannot be done; the detail says what to do."""

    TITLES: Final = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Content"}

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, self.TITLES[status], detail)


class VectorSetAdmin:
    """The admin operations on vector sets (the caller checks scopes and writes the audit)."""

    def __init__(
        self,
        pool: Pool,
        publisher: EventPublisher,
        origin: Origin,
        models: ModelShelf,
        default_chunking: tuple[int, int],
    ) -> None:
        self.pool = pool
        self.sets = VectorSets(pool)
        self.store = VectorStore(pool, self.sets)
        self.publisher = publisher
        self.origin = origin
        self.models = models
        self.default_chunking = default_chunking

    async def target(
        self, tenant_id: str, model: str, chunk_tokens: int | None, chunk_overlap: int | None
    ) -> VectorSetKey:
        """The set a reprocess writes: `model` with the chunking given, else the chunking of
        the tenant's active set, else the configured one (fitted to the model)."""
        provider = await self._provider(model)
        active = (await self.sets.active([tenant_id])).get(tenant_id)
        tokens, overlap = self.default_chunking
        if active is not None and active.key.chunk_tokens is not None:
            tokens, overlap = active.key.chunk_tokens, active.key.chunk_overlap or 0
        if chunk_tokens is None:
            tokens = min(tokens, provider.max_tokens)
            overlap = min(overlap, tokens // 2)
        else:
            tokens = chunk_tokens
        if chunk_overlap is not None:
            overlap = chunk_overlap
        problem = chunking_problem(tokens, overlap, provider.max_tokens)
        if problem is not None:
            raise VectorSetRefusedError(422, f"{model} cannot be used with {problem}")
        return VectorSetKey(model, provider.dimensions, tokens, overlap)

    async def reprocess(
        self,
        tenant_id: str,
        key: VectorSetKey,
        *,
        document_id: str | None = None,
        since: datetime | None = None,
    ) -> Reprocessing:
        """Send the tenant's documents (one, or those uploaded since `since`) through parse
        and embed again as new jobs writing set `key`, beside the sets that exist."""
        documents = await self._documents(tenant_id, document_id, since)
        if document_id is not None and not documents:
            raise VectorSetRefusedError(404, f"no document {document_id} for {tenant_id}")
        vector_set = await self.sets.ensure(key)
        ref = VectorSetRef(key.model, key.chunk_tokens or 0, key.chunk_overlap or 0)
        events = [_uploaded(tenant_id, row, ref, self.origin) for row in documents]
        recorded = await self.sets.record_jobs(
            vector_set.id, tenant_id, {e.job_id: e.document_id for e in events}
        )
        events = [e for e in events if e.job_id in recorded]  # the others were deleted since
        sent: set[str] = set()
        gate = asyncio.Semaphore(PUBLISH_AT_ONCE)

        async def publish(event: DocumentUploaded) -> None:
            async with gate:
                await self.publisher.publish(topics.DOCUMENTS_UPLOADED, event)
            sent.add(event.job_id)

        results = await asyncio.gather(*(publish(e) for e in events), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self._forget_jobs([e.job_id for e in events if e.job_id not in sent])
            raise RefusedError(
                503,
                "Service Unavailable",
                f"{len(sent)} of {len(events)} jobs were sent before Kafka failed"
                f" ({errors[0]}); run the same reprocess again",
            )
        return Reprocessing(
            tenant_id=tenant_id,
            vector_set=VectorSetView.of(vector_set),
            jobs=[ReprocessJob(e.job_id, e.document_id, e.filename) for e in events],
        )

    async def activate(
        self,
        tenant_id: str,
        model: str,
        *,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        set_id: int | None = None,
        force: bool = False,
    ) -> Activation:
        """Switch the tenant's searches to one set (one row: atomic). Refused when the set is
        missing documents the active set has, unless `force`."""
        target = await self._one_set(model, chunk_tokens, chunk_overlap, set_id)
        previous = (await self.sets.active([tenant_id])).get(tenant_id)
        await self._provider(model)  # search must be able to embed queries for it
        if previous is not None and previous.id != target.id and not force:
            try:
                missing, first = await self.store.missing_documents(tenant_id, previous, target)
            except VectorSetGoneError as error:
                raise VectorSetRefusedError(409, "a set was pruned meanwhile; retry") from error
            if missing:
                raise VectorSetRefusedError(
                    409,
                    f"set {target.id} lacks {missing} of the tenant's documents searched now"
                    f" (e.g. {', '.join(first)}): reprocess them into it first (sluice"
                    " reprocess --since ...), or activate with --force",
                )
        if not await self.sets.activate(tenant_id, target.id):
            raise VectorSetRefusedError(404, f"vector set {target.id} was pruned meanwhile")
        return Activation(
            tenant_id=tenant_id,
            active=VectorSetView.of(target),
            previous=None if previous is None else VectorSetView.of(previous),
        )

    async def prune(self, *, dry_run: bool, force: bool) -> Pruning:
        """Drop the sets no tenant searches (and, unless `force`, no reprocess still writes)."""
        report = await self.sets.prune(dry_run=dry_run, force=force)
        return Pruning(
            dry_run=dry_run,
            dropped=[VectorSetView.of(s) for s in report.dropped],
            kept=[KeptSet(VectorSetView.of(s), reason) for s, reason in report.kept],
        )

    async def listing(self, tenant_id: str) -> TenantSets:
        """Every set with the tenant's chunks and documents in it."""
        active = (await self.sets.active([tenant_id])).get(tenant_id)
        found = []
        for use in await self.sets.usage():
            chunks, documents = await self.store.count(use.vector_set, tenant_id)
            found.append(
                TenantSet(
                    vector_set=VectorSetView.of(use.vector_set),
                    active=active is not None and active.id == use.vector_set.id,
                    chunks=chunks,
                    documents=documents,
                    active_tenants=use.active_tenants,
                    unfinished_jobs=use.unfinished_jobs,
                )
            )
        return TenantSets(tenant_id, found)

    async def _provider(self, model: str) -> Any:
        try:
            return await self.models.get(model)
        except ModelUnavailableError as error:
            raise VectorSetRefusedError(422, str(error)) from error

    async def _one_set(
        self, model: str, tokens: int | None, overlap: int | None, set_id: int | None
    ) -> VectorSet:
        every = await self.sets.all()
        matching = [
            s
            for s in every
            if s.key.model == model
            and (tokens is None or s.key.chunk_tokens == tokens)
            and (overlap is None or s.key.chunk_overlap == overlap)
            and (set_id is None or s.id == set_id)
        ]
        if len(matching) == 1:
            return matching[0]
        listed = "; ".join(f"set {s.id}: {s.key.describe()}" for s in every) or "none"
        if not matching:
            raise VectorSetRefusedError(404, f"no vector set matches; the sets: {listed}")
        raise VectorSetRefusedError(
            409,
            f"{len(matching)} sets match; name one with the chunking or its id. The sets: {listed}",
        )

    async def _documents(
        self, tenant_id: str, document_id: str | None, since: datetime | None
    ) -> list[dict[str, Any]]:
        """The newest accepted upload of each of the tenant's documents chosen."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT ON (document_id) document_id, sha256, size, media_type,"
                " filename, metadata FROM uploads WHERE tenant_id = %s"
                " AND published_at IS NOT NULL"
                " AND (%s::text IS NULL OR document_id = %s)"
                " AND (%s::timestamptz IS NULL OR created_at >= %s)"
                " ORDER BY document_id, created_at DESC",
                (tenant_id, document_id, document_id, since, since),
            )
            return list(await cur.fetchall())

    async def _forget_jobs(self, job_ids: list[str]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM vector_set_jobs WHERE job_id = ANY(%s)", (job_ids,))


def _uploaded(
    tenant_id: str, row: dict[str, Any], ref: VectorSetRef, origin: Origin
) -> DocumentUploaded:
    """A new job for a stored upload: the same bytes and name, the target set named."""
    job_id = uuid7()
    return DocumentUploaded(
        event_id=uuid7(),
        occurred_at=now(),
        tenant_id=tenant_id,
        job_id=job_id,
        document_id=row["document_id"],
        trace_id=job_id,
        origin=origin,
        blob=BlobRef(sha256=row["sha256"], size=row["size"], media_type=row["media_type"]),
        filename=row["filename"],
        metadata=row["metadata"] or {},
        vector_set=ref,
    )
