"""Query embedding and search in the tenant's active vector set, the configured model loaded in
the background at start (the model of another set on first use)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Protocol

import msgspec

from services.common.embedding.models import ModelShelf, ModelUnavailableError
from services.common.embedding.ports import EmbeddingProvider
from services.common.errors import RetryableError
from services.common.vectors.search import VectorHit
from services.common.vectors.sets import VectorSet
from services.common.vectors.store import VectorSetGoneError

log = logging.getLogger(__name__)


class SearchUnavailableError(Exception):
    """The embedding model is not loaded (yet), or its remote provider is unavailable."""


class ActiveSets(Protocol):
    """The set each tenant searches (services.common.vectors.registry.VectorSets)."""

    async def active(self, tenant_ids: Collection[str]) -> dict[str, VectorSet]:
        """The active set of each of `tenant_ids` that has one."""
        ...


class NearestChunks(Protocol):
    """Ranks a tenant's chunks in a set (services.common.vectors.search.VectorSearch)."""

    async def search(
        self, vector_set: VectorSet, tenant_id: str, vector: Sequence[float], top_k: int
    ) -> list[VectorHit]:
        """The tenant's `top_k` chunks nearest to `vector`, best first."""
        ...


class Found(msgspec.Struct, frozen=True):
    """What one search found, and in which vector set (None: the tenant has none yet)."""

    hits: list[VectorHit]
    embedding_model: str
    vector_set: VectorSet | None


class SearchService:
    """Embeds the query with the model of the tenant's active set and ranks that set's chunks:
    one set per search, so results never mix sets."""

    def __init__(self, sets: ActiveSets, nearest: NearestChunks, models: ModelShelf) -> None:
        self._sets = sets
        self._nearest = nearest
        self.models = models
        self.load_error: str | None = None

    @property
    def provider(self) -> EmbeddingProvider | None:
        """The configured model's provider, once loaded."""
        return self.models.default

    @property
    def model_name(self) -> str:
        """The configured model (searched for tenants without a vector set)."""
        default = self.models.default
        return default.model_name if default else str(self.models.provider)

    async def load(self) -> None:
        """Load the configured model off the event loop."""
        try:
            await self.models.load_default()
        except Exception as error:
            self.load_error = str(error)
            log.exception("could not load the search model")

    async def search(self, tenant_id: str, query: str, top_k: int) -> Found:
        """Top `top_k` chunks for `query` in the tenant's active vector set."""
        if self.models.default is None:
            reason = self.load_error or "the search model is still loading; retry shortly"
            raise SearchUnavailableError(reason)
        for _ in range(2):  # the set may be pruned between finding and reading it: once more
            vector_set = (await self._sets.active([tenant_id])).get(tenant_id)
            if vector_set is None:
                return Found([], self.model_name, None)
            vector = await self._embed(vector_set, query)
            try:
                hits = await self._nearest.search(vector_set, tenant_id, vector, top_k)
            except VectorSetGoneError:
                continue
            return Found(hits, vector_set.key.model, vector_set)
        raise SearchUnavailableError("the tenant's vector set changed during the search; retry")

    async def _embed(self, vector_set: VectorSet, query: str) -> list[float]:
        try:
            provider = await self.models.get(vector_set.key.model)
        except ModelUnavailableError as error:
            raise SearchUnavailableError(
                f"the tenant searches vector set {vector_set.key.describe()}, whose model this"
                f" service cannot load: {error}"
            ) from error
        try:
            vectors = await asyncio.to_thread(provider.embed, [query])
        except RetryableError as error:
            raise SearchUnavailableError(
                f"the embedding provider is unavailable ({error.code}); retry shortly"
            ) from error
        return vectors[0]
