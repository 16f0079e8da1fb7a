"""Embedding provider for any OpenAI-compatible `/v1/embeddings` API (OpenAI, vLLM, Ollama, TEI)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import openai

from services.common.embedding.ports import Tokenizer
from services.common.embedding.tokenizing import WhitespaceTokenizer
from services.common.errors import RetryableError

DEFAULT_BATCH_SIZE = 64
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_TOKENS = 512
# Whitespace words per model token, rounded down: English averages ~1.3 BPE tokens a word.
WORDS_PER_TOKEN = 0.75
RATE_LIMITED = "provider_rate_limited"
UNAVAILABLE = "provider_unavailable"
# Statuses that a later attempt may pass (besides 429 and 5xx): request timeout, conflict.
_TRANSIENT_STATUS = frozenset({408, 409})
_NO_KEY = "no-key"  # vLLM, Ollama and TEI accept any bearer token when they check none


class OpenAICompatibleEmbedder:
    """Embeds through an OpenAI-compatible HTTP API with the `openai` package's sync client.

    `embed` is synchronous (call it in a worker thread). The client never retries by itself
    (`max_retries=0`): a 429, 5xx, timeout or connection failure raises `RetryableError`, and
    the stage sends the document through its Kafka retry topic, so a slow provider never
    blocks a partition. A 429's `Retry-After` becomes `RetryableError.retry_after_s`. Client
    errors (400, 401, 403, 404, 422, ...) and wrong-length vectors raise `ValueError`.

    Chunks are sized with a whitespace tokenizer, which only approximates the model's own
    tokens: `max_tokens` is the model's input limit in its tokens, and the word budget the
    stage sees (`self.max_tokens`) is 3/4 of it, since an English word is ~1.3 tokens. Text
    with long unbroken runs (URLs, code, CJK without spaces) can still exceed it; keep
    `max_tokens` at or below the served model's real limit.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        dimensions: int,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required (e.g. https://api.openai.com/v1)")
        if not model:
            raise ValueError("model is required (e.g. text-embedding-3-small)")
        for name, value in (
            ("dimensions", dimensions),
            ("batch_size", batch_size),
            ("timeout_s", timeout_s),
            ("max_tokens", max_tokens),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.model_name = model
        self.dimensions = dimensions  # a response of another length is refused
        self.batch_size = batch_size  # texts per request
        self.max_tokens = max(1, int(max_tokens * WORDS_PER_TOKEN))  # words: see the class doc
        self.tokenizer: Tokenizer = WhitespaceTokenizer()  # approximates the provider's tokens
        self.concurrency = 1  # one request at a time: a rate limit sees one steady client
        self._base_url = base_url
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or _NO_KEY, timeout=timeout_s, max_retries=0
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised vector per text, in order, `batch_size` texts per request."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors += self._embed_batch(texts[start : start + self.batch_size])
        return vectors

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        try:
            response = self._client.embeddings.create(
                model=self.model_name, input=texts, encoding_format="float"
            )
        except openai.APIError as error:
            raise self._translate(error) from error
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(texts))):
            raise ValueError(
                f"{self._base_url} returned {len(data)} embeddings for {len(texts)} inputs"
            )
        return [self._checked(item.embedding) for item in data]

    def _checked(self, vector: list[float]) -> list[float]:
        if len(vector) != self.dimensions:
            raise ValueError(
                f"model {self.model_name!r} at {self._base_url} returned {len(vector)}-dim vectors,"
                f" but {self.dimensions} are configured (SLUICE_OPENAI_DIMENSIONS)"
            )
        norm = math.sqrt(math.fsum(value * value for value in vector))
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError(f"model {self.model_name!r} returned a zero or non-finite vector")
        return [value / norm for value in vector]

    def _translate(self, error: openai.APIError) -> Exception:
        """Our error for the client's: RetryableError when a later try may pass, else ValueError."""
        where = f"{self._base_url} ({self.model_name})"
        if isinstance(error, openai.RateLimitError):
            wait = retry_after_seconds(error.response.headers)
            hint = f"; retry after {wait:g}s" if wait is not None else ""
            return RetryableError(
                RATE_LIMITED,
                f"{where} rate-limited the request (429){hint}: {_detail(error)}",
                retry_after_s=wait,
            )
        if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
            return RetryableError(UNAVAILABLE, f"{where} did not answer: {error.message}")
        if isinstance(error, openai.APIStatusError) and (
            error.status_code >= 500 or error.status_code in _TRANSIENT_STATUS
        ):
            return RetryableError(
                UNAVAILABLE, f"{where} answered {error.status_code}: {_detail(error)}"
            )
        status = error.status_code if isinstance(error, openai.APIStatusError) else "?"
        return ValueError(f"{where} refused the request ({status}): {_detail(error)}")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks us to wait: `retry-after-ms`, or `Retry-After` (secs or date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _detail(error: openai.APIError) -> str:
    """The provider's own message (OpenAI's `{"error": {"message": ...}}`), else the client's."""
    body = error.body
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("error")
        if isinstance(message, str) and message:
            return message
    elif isinstance(body, str) and body:
        return body[:500]
    return error.message
