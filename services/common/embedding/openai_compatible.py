"""Embedding provider for any OpenAI-compatible `/v1/embeddings` API, through the `openai` package.

OpenAI, Azure OpenAI (api-version, deployment, `api-key` header), vLLM, Ollama, TEI, LiteLLM and
`services.embedserver`. Requests are packed to the endpoint's limits with the model's own token
counts, an input over the per-input limit is split and its pieces' vectors averaged, every
request draws on the budget shared by all replicas, and each failure is raised as the class the
consumer runtime acts on (see `_translate`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import openai

from services.common import metrics
from services.common.embedding.budget import SHORT_WAIT_S, Budget, Grant, Unlimited
from services.common.embedding.counting import (
    CountingTokenizer,
    model_window,
    remote_tokenizer,
    split_to_fit,
)
from services.common.embedding.ports import Embedded, Tokenizer
from services.common.embedding.remote import RemoteOptions, pack
from services.common.errors import ConfigurationError, RetryableError, ThrottledError
from services.common.retry_after import retry_after_s

log = logging.getLogger(__name__)

RATE_LIMITED = "provider_rate_limited"
UNAVAILABLE = "provider_unavailable"
PROVIDER = "openai"
# Statuses that a later attempt may pass (besides 429 and 5xx): request timeout, conflict.
_TRANSIENT_STATUS = frozenset({408, 409})
# What a person must fix when the provider answers these (no document is failed for them).
_CONFIGURATION = {
    401: ("provider_auth", "refused the API key (SLUICE_EMBEDDING_API_KEY)"),
    403: ("provider_forbidden", "does not allow this key to use the model"),
    404: ("provider_not_found", "has no such model or route (SLUICE_EMBEDDING_MODEL, _BASE_URL)"),
}
_NO_KEY = "no-key"  # vLLM, Ollama and TEI accept any bearer token when they check none
_PROBE_TEXT = "ping"


class OpenAICompatibleEmbedder:
    """Embeds through an OpenAI-compatible HTTP API with the `openai` package's sync client.

    `embed` is synchronous (call it in a worker thread). The client never retries by itself
    (`max_retries=0`); a failure is raised as the class the consumer runtime acts on:

    - 429, 5xx, 408, 409, a timeout: `RetryableError` (`retry_after_s` from `Retry-After`): the
      stage sends the documents through its retry topic, never blocking a partition;
    - 401, 403, 404, a 429 for spent quota, an unreachable host, a vector of the wrong length:
      `ConfigurationError` with `probe`: the consumer pauses until the probe passes;
    - 400 and other 4xx: `ValueError` when a probe still passes (these inputs were refused),
      else `ConfigurationError` (every request is refused);
    - the shared budget spent at the first request of a call: `ThrottledError` (the consumer
      pauses for the wait); later requests of the call wait for the budget in place.
    """

    def __init__(self, options: RemoteOptions, *, budget: Budget | None = None) -> None:
        if not options.base_url:
            raise ValueError("base_url is required (e.g. https://api.openai.com/v1)")
        if not options.model:
            raise ValueError("model is required (e.g. text-embedding-3-small)")
        if options.dimensions <= 0 or options.timeout_s <= 0:
            raise ValueError("dimensions and timeout_s must be positive")
        self.options = options
        self.limits = options.limits
        self.provider_name = PROVIDER
        self.model_name = options.model
        self.dimensions = options.dimensions  # a response of another length is refused
        # in the model's tokens; one input must also fit the budget's window and the model's
        window = model_window(options.model) or options.limits.max_input_tokens
        self.max_tokens = int(min(options.limits.max_input_tokens, options.budget.tokens, window))
        self.counter: CountingTokenizer = remote_tokenizer(options.tokenizer, options.model)
        self.tokenizer: Tokenizer = self.counter  # the same, as the port sees it
        self.batch_size = options.limits.max_inputs  # texts per call; packed into requests
        self.concurrency = 1  # one request at a time: a rate limit sees one steady client
        self.budget: Budget = budget or Unlimited()
        self._request_tokens = int(min(options.limits.max_request_tokens, options.budget.tokens))
        send = options.send_dimensions
        self._send_dimensions = (
            options.model.startswith("text-embedding-3") if send is None else send
        )
        self._where = f"{options.base_url} ({options.azure_deployment or options.model})"
        self._client = _client(options)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised vector per text, in order."""
        return self.embed_measured(texts).vectors

    def embed_measured(self, texts: list[str]) -> Embedded:
        """Embed `texts` and say what each took: its tokens and the first request it rode in."""
        pieces: list[str] = []
        owner: list[int] = []
        counts: list[int] = []
        for i, text in enumerate(texts):
            count = self.counter.count(text)
            parts = [text]
            if count > self.max_tokens:  # split, never sent to fail
                parts = split_to_fit(text, self.counter, self.max_tokens)
                log.info("an input of %d tokens was split into %d pieces", count, len(parts))
            for part in parts:
                pieces.append(part)
                owner.append(i)
                counts.append(count if len(parts) == 1 else self.counter.count(part))
        piece_vectors: list[list[float]] = [[] for _ in pieces]
        first_request = [-1] * len(texts)
        for number, request in enumerate(
            pack(counts, self.limits.max_inputs, self._request_tokens)
        ):
            vectors = self._request(
                [pieces[k] for k in request], sum(counts[k] for k in request), first=number == 0
            )
            for k, vector in zip(request, vectors, strict=True):
                piece_vectors[k] = vector
                if first_request[owner[k]] < 0:
                    first_request[owner[k]] = number
        return Embedded(
            vectors=_combine(texts, owner, counts, piece_vectors),
            tokens=[
                sum(c for c, o in zip(counts, owner, strict=True) if o == i)
                for i in range(len(texts))
            ],
            requests=first_request,
        )

    def probe(self) -> None:
        """One tiny request: passes when the key, model, URL and dimensions are right."""
        self._request([_PROBE_TEXT], self.counter.count(_PROBE_TEXT), first=True, probing=True)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _request(
        self, texts: list[str], tokens: int, *, first: bool, probing: bool = False
    ) -> list[list[float]]:
        grant = self._grant(tokens, first=first)
        started = time.perf_counter()
        try:
            response = self._client.embeddings.create(**self._arguments(texts))
        except openai.APIError as error:
            metrics.PROVIDER_REQUESTS.labels(PROVIDER, self.model_name, _status(error)).inc()
            raise self._translate(error, probing=probing) from error
        finally:
            self.budget.finish(grant)
            metrics.PROVIDER_SECONDS.labels(PROVIDER).observe(time.perf_counter() - started)
        metrics.PROVIDER_REQUESTS.labels(PROVIDER, self.model_name, "200").inc()
        metrics.PROVIDER_TOKENS.labels(PROVIDER, self.model_name).inc(tokens)
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(texts))):
            raise ValueError(
                f"{self._where} returned {len(data)} embeddings for {len(texts)} inputs"
            )
        return [self._checked(item.embedding) for item in data]

    def _grant(self, tokens: int, *, first: bool) -> Grant:
        """Wait for the shared budget: in place, or (first request, long wait) hand it back."""
        while True:
            grant = self.budget.take(1, tokens)
            if grant.id is not None:
                return grant
            if first and grant.wait_s > SHORT_WAIT_S:
                raise ThrottledError(
                    f"the shared budget for {self._where} is spent; room again in"
                    f" {grant.wait_s:.1f}s",
                    grant.wait_s,
                )
            time.sleep(grant.wait_s)

    def _arguments(self, texts: list[str]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model_name,
            "input": texts,
            "encoding_format": "float",
        }
        if self._send_dimensions:
            arguments["dimensions"] = self.dimensions
        return arguments

    def _checked(self, vector: list[float]) -> list[float]:
        if len(vector) != self.dimensions:
            raise ConfigurationError(
                "embedding_dimensions",
                f"{self._where} returned {len(vector)}-dim vectors, but {self.dimensions} are"
                " configured (SLUICE_EMBEDDING_DIMENSIONS)",
                probe=self.probe,
            )
        norm = math.sqrt(math.fsum(value * value for value in vector))
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError(f"model {self.model_name!r} returned a zero or non-finite vector")
        return [value / norm for value in vector]

    def _translate(self, error: openai.APIError, *, probing: bool) -> Exception:
        """Our error class for the client's (see the class docstring)."""
        if isinstance(error, openai.APIStatusError):
            return self._translate_status(error, probing=probing)
        if isinstance(error, openai.APITimeoutError):
            return RetryableError(UNAVAILABLE, f"{self._where} did not answer in time")
        if isinstance(error, openai.APIConnectionError):
            return ConfigurationError(
                "provider_unreachable",
                f"{self._where} cannot be reached ({error.message}): check"
                " SLUICE_EMBEDDING_BASE_URL",
                probe=self.probe,
            )
        return ValueError(f"{self._where} answered what the client cannot read: {error.message}")

    def _translate_status(self, error: openai.APIStatusError, *, probing: bool) -> Exception:
        where, status, detail = self._where, error.status_code, _detail(error)
        if status == 429 and str(error.code or "") == "insufficient_quota":
            return ConfigurationError(
                "provider_quota", f"{where} quota is spent (429): {detail}", probe=self.probe
            )
        if status == 429 or status >= 500 or status in _TRANSIENT_STATUS:
            wait = retry_after_seconds(error.response.headers)
            hint = f"; retry after {wait:g}s" if wait is not None else ""
            if status == 429:
                message = f"{where} rate-limited the request (429){hint}: {detail}"
                return RetryableError(RATE_LIMITED, message, retry_after_s=wait)
            message = f"{where} answered {status}{hint}: {detail}"
            return RetryableError(UNAVAILABLE, message, retry_after_s=wait)
        if status in _CONFIGURATION:
            code, what = _CONFIGURATION[status]
            return ConfigurationError(
                code, f"{where} {what} ({status}): {detail}", probe=self.probe
            )
        if probing:
            message = f"{where} refuses even a probe ({status}): {detail}"
            return ConfigurationError("provider_refuses", message, probe=self.probe)
        return self._refused(f"{where} refused the request ({status}): {detail}")

    def _refused(self, message: str) -> Exception:
        """A 400-like refusal: these inputs' fault if a probe passes, else the configuration's."""
        try:
            self.probe()
        except ConfigurationError as every:
            return every
        except (RetryableError, ThrottledError) as unsure:
            return RetryableError(UNAVAILABLE, f"{message}; a probe could not tell why: {unsure}")
        return ValueError(message)


def _client(options: RemoteOptions) -> openai.OpenAI:
    """The OpenAI client, or Azure's (api-version, deployment route, `api-key` header)."""
    key = options.api_key or _NO_KEY
    if options.azure_api_version:
        return openai.AzureOpenAI(
            azure_endpoint=options.base_url,
            azure_deployment=options.azure_deployment or options.model,
            api_version=options.azure_api_version,
            api_key=key,
            timeout=options.timeout_s,
            max_retries=0,
        )
    return openai.OpenAI(
        base_url=options.base_url, api_key=key, timeout=options.timeout_s, max_retries=0
    )


def _combine(
    texts: list[str], owner: list[int], counts: list[int], vectors: list[list[float]]
) -> list[list[float]]:
    """One vector per text: its own, or its pieces' averaged by their tokens, normalised."""
    result: list[list[float]] = []
    parts: dict[int, list[int]] = {}
    for k, i in enumerate(owner):
        parts.setdefault(i, []).append(k)
    for i in range(len(texts)):
        mine = parts[i]
        if len(mine) == 1:
            result.append(vectors[mine[0]])
            continue
        total = [0.0] * len(vectors[mine[0]])
        for k in mine:
            weight = max(1, counts[k])
            total = [t + weight * v for t, v in zip(total, vectors[k], strict=True)]
        norm = math.sqrt(math.fsum(v * v for v in total)) or 1.0
        result.append([v / norm for v in total])
    return result


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks us to wait: `retry-after-ms`, or `Retry-After` (secs or date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after_s(headers.get("retry-after"))


def _status(error: openai.APIError) -> str:
    if isinstance(error, openai.APIStatusError):
        return str(error.status_code)
    return "timeout" if isinstance(error, openai.APITimeoutError) else "unreachable"


def _detail(error: openai.APIError) -> str:
    """The provider's own message (OpenAI's `{"error": {"message": ...}}`), else the client's."""
    body = error.body
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("error")
        if isinstance(message, Mapping):
            message = message.get("message")
        if isinstance(message, str) and message:
            return message
    elif isinstance(body, str) and body:
        return body[:500]
    return error.message
