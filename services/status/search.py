"""Query embedding and search, with the model loaded in the background at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from services.common.embedding.build import build_provider
from services.common.embedding.ports import EmbeddingProvider
from services.common.errors import ConfigurationError, RetryableError, ThrottledError
from services.status.adapters.queries import SearchHit, StatusQueries

log = logging.getLogger(__name__)


class SearchUnavailableError(Exception):
    """The embedding model is not loaded (yet), or its remote provider is unavailable."""


class SearchService:
    """Embeds the query with the indexing model and ranks the tenant's chunks."""

    def __init__(
        self,
        queries: StatusQueries,
        provider_name: str,
        provider_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._queries = queries  # ranks the tenant's chunks
        self.provider_name = provider_name
        self.provider_options = dict(provider_options or {})
        self.provider: EmbeddingProvider | None = None
        self.load_error: str | None = None

    @property
    def model_name(self) -> str:
        """The model whose vectors are searched."""
        return self.provider.model_name if self.provider else self.provider_name

    async def load(self) -> None:
        """Load the model off the event loop."""
        try:
            self.provider = await asyncio.to_thread(
                lambda: build_provider(self.provider_name, **self.provider_options)
            )
        except Exception as error:
            self.load_error = str(error)
            log.exception("could not load the search model")

    async def search(self, tenant_id: str, query: str, top_k: int) -> list[SearchHit]:
        """Top `top_k` chunks for `query` in the tenant's documents."""
        provider = self.provider
        if provider is None:
            reason = self.load_error or "the search model is still loading; retry shortly"
            raise SearchUnavailableError(reason)
        try:
            vectors = await asyncio.to_thread(provider.embed, [query])
        except RetryableError as error:
            raise SearchUnavailableError(
                f"the embedding provider is unavailable ({error.code}); retry shortly"
            ) from error
        except ConfigurationError as error:
            raise SearchUnavailableError(
                f"the embedding provider is misconfigured ({error.code}): {error.message}"
            ) from error
        except ThrottledError as error:
            raise SearchUnavailableError(
                f"the embedding budget is spent; retry in {error.wait_s:.0f}s"
            ) from error
        return await self._queries.search(tenant_id, vectors[0], provider.model_name, top_k)
