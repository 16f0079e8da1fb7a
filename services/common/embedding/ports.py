"""Ports for embedding: a tokenizer and an embedding provider, whatever model is behind it."""

from __future__ import annotations

from typing import Protocol

import msgspec


class Tokenizer(Protocol):
    """Splits text into tokens, reporting where each token lies in the text."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Return the `(start, end)` character span of each token, in order, no special tokens."""
        ...


class Embedded(msgspec.Struct, frozen=True):
    """Vectors with what each text took: its tokens, and the first request (of the call) it
    rode in; a provider that cannot say leaves `tokens` empty and every request 0."""

    vectors: list[list[float]]
    tokens: list[int]
    requests: list[int]


class EmbeddingProvider(Protocol):
    """Turns texts into L2-normalised vectors; synchronous and CPU-bound (call it in a thread)."""

    provider_name: str
    """Which provider ("local", "openai", "hashing"): a metrics label and the job's usage."""
    model_name: str
    """Name of the model, stored with each vector (e.g. "all-MiniLM-L6-v2")."""
    dimensions: int
    """Length of every vector `embed` returns."""
    max_tokens: int
    """Most tokens (of `tokenizer`) one text may have without being truncated by the model."""
    tokenizer: Tokenizer
    """The tokenizer whose tokens the model counts, for sizing chunks."""
    batch_size: int
    """Texts the provider takes in one pass or request; the stage sizes its calls to it."""
    concurrency: int
    """How many `embed` calls may run at once, each in its own thread (1: one at a time)."""

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised vector of `dimensions` floats per text, in order.

        Raise `RetryableError` (services.common.errors) when a later call may pass (429, 5xx,
        timeout), `ValueError` when the provider refuses these inputs (a 400, a bad vector):
        the stage then fails the refused documents instead of blocking the batch;
        `ConfigurationError` when no input can pass as configured (a wrong key, model or URL)
        and `ThrottledError` when a shared budget is spent: the consumer pauses for those.
        """
        ...


def embed_measured(provider: EmbeddingProvider, texts: list[str]) -> Embedded:
    """`provider.embed`, with usage where the provider measures it (`embed_measured`)."""
    measure = getattr(provider, "embed_measured", None)
    if measure is not None:
        measured: Embedded = measure(texts)
        return measured
    return Embedded(vectors=provider.embed(texts), tokens=[], requests=[0] * len(texts))
