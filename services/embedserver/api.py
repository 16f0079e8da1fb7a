"""`POST /v1/embeddings` and `GET /v1/models` as OpenAI answers them, over one local model.

Requests and errors take OpenAI's shapes (`{"error": {"message", "type", "param", "code"}}`,
not problem+json), so any OpenAI client, the `openai` provider included, reads them. Like
OpenAI the server refuses (400) an input longer than the model reads instead of truncating it,
and counts `usage` in the model's own tokens.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math
import struct
from collections.abc import Callable
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.types import ControllerRouterHandler

from services.common import metrics
from services.common.embedding.ports import EmbeddingProvider

JSON = "application/json"


class EmbeddingsRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """OpenAI's embeddings request (token-id inputs are not supported)."""

    input: str | list[str]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class Embedding(msgspec.Struct, frozen=True):
    """One input's vector: floats, or base64 of little-endian float32."""

    index: int
    embedding: list[float] | str
    object: Literal["embedding"] = "embedding"


class Usage(msgspec.Struct, frozen=True):
    """Tokens read, in the model's tokens."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(msgspec.Struct, frozen=True):
    """OpenAI's embeddings response."""

    data: list[Embedding]
    model: str
    usage: Usage
    object: Literal["list"] = "list"


class Model(msgspec.Struct, frozen=True):
    """One entry of `GET /v1/models`."""

    id: str
    created: int = 0
    owned_by: str = "sluice"
    object: Literal["model"] = "model"


class ModelList(msgspec.Struct, frozen=True):
    """`GET /v1/models`."""

    data: list[Model]
    object: Literal["list"] = "list"


class Refused(Exception):
    """A request answered with an OpenAI-shaped error."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code

    def body(self) -> bytes:
        """`{"error": {...}}` as OpenAI sends it."""
        error = {"message": self.message, "type": self.kind, "param": None, "code": self.code}
        return msgspec.json.encode({"error": error})


class EmbeddingsAPI:
    """Checks a request against the key, the model and the limits, then embeds it."""

    def __init__(
        self,
        provider: EmbeddingProvider,
        count: Callable[[str], int],
        *,
        api_key: str,
        max_inputs: int,
    ) -> None:
        self.provider = provider
        self.count = count  # the model's tokens in a text, safe to call beside `embed`
        self.api_key = api_key
        self.max_inputs = max_inputs
        self._lanes = asyncio.Semaphore(max(1, provider.concurrency))

    def names(self) -> set[str]:
        """Model names a request may ask for: the model's, with or without its organisation."""
        name = self.provider.model_name
        return {name, f"sentence-transformers/{name}"}

    def authorise(self, authorization: str | None) -> None:
        """Refuse (401) a request without the configured bearer key."""
        if not self.api_key:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise Refused(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )

    async def embeddings(self, body: bytes, authorization: str | None) -> EmbeddingsResponse:
        """Answer one embeddings request, or raise `Refused`."""
        self.authorise(authorization)
        try:
            request = msgspec.json.decode(body, type=EmbeddingsRequest)
        except msgspec.ValidationError as error:
            raise Refused(400, f"Invalid request: {error}", "invalid_request_error") from error
        except msgspec.DecodeError as error:
            raise Refused(400, f"The body is not JSON: {error}", "invalid_request_error") from error
        if request.model not in self.names():
            raise Refused(
                404,
                f"The model `{request.model}` does not exist; this server has"
                f" `{self.provider.model_name}`.",
                "invalid_request_error",
                "model_not_found",
            )
        texts = [request.input] if isinstance(request.input, str) else request.input
        dimensions = self._dimensions(request.dimensions)
        async with self._lanes:
            counts, vectors = await asyncio.to_thread(self._embed, texts)
        tokens = sum(counts)
        metrics.EMBEDSERVER_INPUTS.inc(len(texts))
        metrics.EMBEDSERVER_TOKENS.inc(tokens)
        data = [
            Embedding(index=i, embedding=_encoded(_fit(v, dimensions), request.encoding_format))
            for i, v in enumerate(vectors)
        ]
        return EmbeddingsResponse(
            data=data, model=request.model, usage=Usage(prompt_tokens=tokens, total_tokens=tokens)
        )

    def _embed(self, texts: list[str]) -> tuple[list[int], list[list[float]]]:
        """Each input's tokens and vector (in a worker thread: both take the CPU)."""
        counts = self._check(texts)
        return counts, self.provider.embed(texts)

    def _dimensions(self, asked: int | None) -> int:
        native = self.provider.dimensions
        if asked is None:
            return native
        if not 0 < asked <= native:
            raise Refused(
                400,
                f"'dimensions' must be between 1 and {native} for {self.provider.model_name}",
                "invalid_request_error",
            )
        return asked

    def _check(self, texts: list[str]) -> list[int]:
        """Each input's tokens; refuse no inputs, too many, an empty or an over-long one."""
        if not texts:
            raise Refused(400, "'input' must not be empty", "invalid_request_error")
        if len(texts) > self.max_inputs:
            message = f"'input' has {len(texts)} items; at most {self.max_inputs} per request"
            raise Refused(400, message, "invalid_request_error")
        counts = [self.count(text) for text in texts]
        for i, (text, count) in enumerate(zip(texts, counts, strict=True)):
            if not text:
                raise Refused(400, f"input[{i}] is an empty string", "invalid_request_error")
            if count > self.provider.max_tokens:
                message = (
                    f"input[{i}] has {count} tokens; {self.provider.model_name} reads at most"
                    f" {self.provider.max_tokens}: split it"
                )
                raise Refused(400, message, "invalid_request_error", "context_length_exceeded")
        return counts


def _fit(vector: list[float], dimensions: int) -> list[float]:
    """The first `dimensions` values, unit length again (OpenAI's shortening)."""
    if dimensions >= len(vector):
        return vector
    head = vector[:dimensions]
    norm = math.sqrt(math.fsum(v * v for v in head)) or 1.0
    return [v / norm for v in head]


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def routes(api: EmbeddingsAPI) -> list[ControllerRouterHandler]:
    """The OpenAI-compatible routes over `api`."""

    @post(
        "/v1/embeddings",
        summary="Embed inputs (OpenAI's embeddings API)",
        description="Body and answer as OpenAI's `POST /v1/embeddings`; errors as OpenAI's.",
        status_code=200,
    )
    async def create_embeddings(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await request.body()
        try:
            answer = await api.embeddings(body, request.headers.get("authorization"))
        except Refused as refused:
            metrics.EMBEDSERVER_REQUESTS.labels(str(refused.status)).inc()
            return Response(refused.body(), status_code=refused.status, media_type=JSON)
        metrics.EMBEDSERVER_REQUESTS.labels("200").inc()
        return Response(msgspec.json.encode(answer), media_type=JSON)

    @get("/v1/models", summary="The model this server embeds with", sync_to_thread=False)
    def list_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            api.authorise(request.headers.get("authorization"))
        except Refused as refused:
            return Response(refused.body(), status_code=refused.status, media_type=JSON)
        listed = ModelList(data=[Model(id=api.provider.model_name)])
        return Response(msgspec.json.encode(listed), media_type=JSON)

    return [create_embeddings, list_models]
