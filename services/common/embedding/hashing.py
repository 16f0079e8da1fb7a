"""BENCHMARK-ONLY embedding provider: feature hashing of words, no model."""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

from services.common.embedding.ports import Tokenizer
from services.common.embedding.tokenizing import WhitespaceTokenizer

BENCH_DIMENSIONS = 384
_BENCH_MAX_TOKENS = 512


class HashingEmbedder:
    """BENCHMARK ONLY: hashes lower-cased words into signed buckets of a 384-dim vector.

    Deterministic across processes and very cheap, so a benchmark with it measures the
    pipeline's plumbing (Kafka, Postgres, chunking) and not the model. The vectors carry
    no meaning beyond shared words: never use this provider for real search.
    """

    def __init__(self, *, dimensions: int = BENCH_DIMENSIONS) -> None:
        if dimensions <= 0:
            raise ValueError(f"dimensions must be positive, got {dimensions}")
        self.provider_name = "hashing"
        self.model_name = f"bench-hashing-{dimensions}"  # marks the vectors benchmark-only
        self.dimensions = dimensions
        self.max_tokens = _BENCH_MAX_TOKENS  # no model limit: only keeps chunks comparable
        self.tokenizer: Tokenizer = WhitespaceTokenizer()  # one token per word
        self.batch_size = 256  # any number is as cheap
        self.concurrency = 1  # hashing holds the GIL: threads would not help

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one unit vector per text (a fixed unit vector for text without words)."""
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        """Hash each word into a bucket with a sign, then scale the sum to unit length."""
        vector = [0.0] * self.dimensions
        for word in text.lower().split():
            bucket, sign = _bucket(word, self.dimensions)
            vector[bucket] += sign
        norm = math.sqrt(sum(value * value for value in vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return [value / norm for value in vector]


@lru_cache(maxsize=65_536)
def _bucket(word: str, dimensions: int) -> tuple[int, float]:
    """Return the bucket and sign of a word (stable across runs, unlike `hash`)."""
    digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
    return digest % dimensions, 1.0 if digest >> 63 else -1.0
