"""`python -m services.embedserver` as a process: the local model over the OpenAI embeddings API,
read by the `openai` provider and by the `openai` client itself.

The server's vectors are the raw model's (loaded here too); the provider splits what the model
cannot read in one input instead of having it refused; base64 and `dimensions` are OpenAI's;
errors come in OpenAI's shape, and the provider classes them.
"""

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from infra.local import embedserver as local_embedserver
from services.common.embedding.local_model import LocalSentenceTransformer
from services.common.embedding.openai_compatible import OpenAICompatibleEmbedder
from services.common.embedding.remote import RemoteOptions
from services.common.errors import ConfigurationError

pytestmark = pytest.mark.integration

KEY = "sk-embedserver-test"
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def embedserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server as a process on a free port, with a key; its /v1 base URL."""
    log = Path(tmp_path_factory.mktemp("embedserver")) / "embedserver.log"
    limits = {"SLUICE_EMBEDSERVER_MAX_INPUTS": "64", "SLUICE_EMBEDSERVER_LANES": "1"}
    with local_embedserver.served(log, KEY, limits) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def raw_model() -> LocalSentenceTransformer:
    """The same model, in this process."""
    return LocalSentenceTransformer(lanes=1)


def _provider(base_url: str, **overrides: object) -> OpenAICompatibleEmbedder:
    options = {"base_url": base_url, "api_key": KEY, "model": MODEL, "dimensions": 384}
    return OpenAICompatibleEmbedder(RemoteOptions(**{**options, **overrides}))  # type: ignore[arg-type]


def _cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def test_the_provider_gets_the_raw_models_vectors_and_its_token_counts(
    embedserver: str, raw_model: LocalSentenceTransformer
) -> None:
    texts = ["Kafka keeps records in partitions.", "A sourdough starter doubles.", "tea"]
    provider = _provider(embedserver)
    try:
        measured = provider.embed_measured(texts)
    finally:
        provider.close()
    for served, raw in zip(measured.vectors, raw_model.embed(texts), strict=True):
        assert _cosine(served, raw) > 0.9999
    assert measured.tokens == [len(raw_model.tokenizer.token_spans(t)) for t in texts]
    assert provider.max_tokens == raw_model.max_tokens == 254


def test_an_input_longer_than_the_model_reads_is_split_by_the_provider_and_refused_raw(
    embedserver: str, raw_model: LocalSentenceTransformer
) -> None:
    long = " ".join(f"The lighthouse keeper logged storm number {i}." for i in range(80))
    assert len(raw_model.tokenizer.token_spans(long)) > 600
    provider = _provider(embedserver)
    try:
        (vector,) = provider.embed([long])
    finally:
        provider.close()
    assert math.isclose(math.fsum(v * v for v in vector), 1.0)
    assert _cosine(vector, raw_model.embed([long[:400]])[0]) > 0.5  # about the same thing

    answer = httpx.post(
        f"{embedserver}/embeddings",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"input": [long], "model": MODEL},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "reads at most 254" in error["message"]


def test_the_openai_client_reads_base64_and_shortened_vectors(
    embedserver: str, raw_model: LocalSentenceTransformer
) -> None:
    client = openai.OpenAI(base_url=embedserver, api_key=KEY, max_retries=0)
    texts = ["what is a consumer group?", "how long should dough rise?"]
    full = client.embeddings.create(model=MODEL, input=texts)  # the client asks for base64
    short = client.embeddings.create(
        model=f"sentence-transformers/{MODEL}", input=texts, dimensions=64
    )
    client.close()
    raw = raw_model.embed(texts)
    for i, item in enumerate(full.data):
        assert item.index == i and len(item.embedding) == 384
        assert _cosine(item.embedding, raw[i]) > 0.9999  # float32 on the wire
    for i, item in enumerate(short.data):
        head = raw[i][:64]
        norm = math.sqrt(math.fsum(v * v for v in head))
        assert len(item.embedding) == 64
        assert _cosine(item.embedding, [v / norm for v in head]) > 0.9999
    assert full.usage.prompt_tokens == sum(len(raw_model.tokenizer.token_spans(t)) for t in texts)


def test_errors_come_in_openais_shape_and_the_provider_classes_them(embedserver: str) -> None:
    for overrides, code in (
        ({"api_key": "sk-wrong"}, "provider_auth"),
        ({"model": "gpt-x"}, "provider_not_found"),
    ):
        provider = _provider(embedserver, **overrides)
        try:
            with pytest.raises(ConfigurationError) as caught:
                provider.embed(["hello"])
        finally:
            provider.close()
        assert caught.value.code == code

    def post(body: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {KEY}"}
        return httpx.post(f"{embedserver}/embeddings", headers=headers, json=body)

    refused = {
        "too many inputs": post({"input": ["a"] * 65, "model": MODEL}),
        "token ids": post({"input": [[1, 2]], "model": MODEL}),
        "too many dimensions": post({"input": "a", "model": MODEL, "dimensions": 385}),
        "an empty input": post({"input": [""], "model": MODEL}),
    }
    for what, answer in refused.items():
        assert answer.status_code == 400, what
        assert answer.json()["error"]["type"] == "invalid_request_error", what
    assert "at most 64" in refused["too many inputs"].json()["error"]["message"]
    models = httpx.get(f"{embedserver}/models", headers={"Authorization": f"Bearer {KEY}"})
    assert [m["id"] for m in models.json()["data"]] == [MODEL]
    assert httpx.get(f"{embedserver}/models").status_code == 401
