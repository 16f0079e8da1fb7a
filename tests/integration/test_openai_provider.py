"""The OpenAI-compatible provider against a real local HTTP server speaking the embeddings API:
packing to the endpoint's limits, splitting, each class of failure, Azure, usage, the budget.

No Kafka here (tests/integration/test_openai_stage.py runs the stage in a consumer loop); the
shared budget uses the session's Postgres.
"""

import math
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

import pytest

from infra.local.ports import free_port
from services.common.db import migrate
from services.common.embedding.budget import BudgetLimits, PostgresBudget
from services.common.embedding.models import ModelShelf
from services.common.embedding.openai_compatible import OpenAICompatibleEmbedder
from services.common.embedding.remote import Limits, RemoteOptions
from services.common.errors import ConfigurationError, RetryableError, ThrottledError
from services.common.vectors.search import VectorHit
from services.common.vectors.sets import VectorSet, VectorSetKey
from services.status.search import SearchService, SearchUnavailableError
from tests.fixtures.cases import Case, case_ids
from tests.fixtures.openai_server import (
    AZURE_API_VERSION,
    MODEL,
    OpenAIServer,
    count_tokens,
    hashed_vector,
)

pytestmark = pytest.mark.integration
Make = Callable[..., OpenAICompatibleEmbedder]


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in vector))
    return [v / norm for v in vector]


# --- embedding and packing ------------------------------------------------------------------


def test_embeds_in_order_normalised_and_similar_texts_are_close(
    openai_server: OpenAIServer, make_embedder: Make
) -> None:
    texts = ["kafka topics and partitions", "partitions of kafka topics", "a recipe for bread"]
    vectors = make_embedder().embed(texts)

    assert len(vectors) == 3
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(_unit(hashed_vector(text, openai_server.dimensions)))
    assert _cosine(vectors[0], vectors[1]) > 0.7 > _cosine(vectors[0], vectors[2])
    (request,) = openai_server.embedding_requests
    assert (request.model, request.inputs) == (MODEL, texts)


def test_requests_are_packed_to_the_endpoints_input_and_token_limits(
    openai_server: OpenAIServer, make_embedder: Make
) -> None:
    openai_server.max_inputs, openai_server.max_request_tokens = 64, 400
    texts = [f"document number {i} about topic {i % 7}" for i in range(130)]  # ~8 tokens each
    limits = Limits(max_inputs=64, max_input_tokens=100, max_request_tokens=400)

    embedded = make_embedder(limits=limits).embed_measured(texts)

    calls = openai_server.embedding_requests
    assert {c.status for c in calls} == {200}, "the server refuses anything over its limits"
    assert [t for c in calls for t in c.inputs] == texts
    assert all(len(c.inputs) <= 64 and c.tokens <= 400 for c in calls)
    assert sum(c.tokens for c in calls[:-1]) > 0.9 * 400 * (len(calls) - 1), "requests are full"
    assert embedded.tokens == [count_tokens(MODEL, t) for t in texts], "exact, as the server counts"
    assert sum(embedded.tokens) == sum(c.tokens for c in calls)
    assert max(embedded.requests) == len(calls) - 1


def test_an_over_long_input_is_split_never_sent_to_fail(
    openai_server: OpenAIServer, make_embedder: Make
) -> None:
    openai_server.max_input_tokens = 50
    long = " ".join(f"lighthouse beam number {i} over the sea." for i in range(40))  # ~300 tokens
    embedder = make_embedder(limits=Limits(max_input_tokens=50, max_request_tokens=1000))

    (vector,) = embedder.embed([long])

    calls = openai_server.embedding_requests
    assert {c.status for c in calls} == {200}
    pieces = [t for c in calls for t in c.inputs]
    assert len(pieces) >= 6 and all(count_tokens(MODEL, p) <= 50 for p in pieces)
    assert " ".join(pieces).split() == long.split()
    assert math.isclose(math.fsum(v * v for v in vector), 1.0)
    assert _cosine(vector, _unit(hashed_vector(long, openai_server.dimensions))) > 0.9


def test_no_texts_make_no_request(openai_server: OpenAIServer, make_embedder: Make) -> None:
    assert make_embedder().embed([]) == []
    assert openai_server.embedding_requests == []


def test_azure_openai_uses_its_deployment_route_api_version_and_key_header(
    openai_server: OpenAIServer, make_embedder: Make
) -> None:
    embedder = make_embedder(
        base_url=openai_server.root,
        azure_api_version=AZURE_API_VERSION,
        azure_deployment="embed-prod",
        model="text-embedding-3-large",
    )
    assert len(embedder.embed(["hello azure"])) == 1
    (request,) = openai_server.embedding_requests
    assert request.path == "/openai/deployments/embed-prod/embeddings"
    with pytest.raises(ConfigurationError) as caught:  # the Bearer header is not Azure's
        make_embedder(base_url=openai_server.root, azure_api_version="2023-01-01").embed(["x"])
    assert caught.value.code == "provider_auth"


# --- failures, by class -------------------------------------------------------------------


def test_a_429_is_retryable_with_the_providers_retry_after(
    openai_server: OpenAIServer, make_embedder: Make
) -> None:
    openai_server.fail_next(1, "429", retry_after=1)
    embedder = make_embedder()

    with pytest.raises(RetryableError) as caught:
        embedder.embed(["hello world"])

    assert (caught.value.code, caught.value.retry_after_s) == ("provider_rate_limited", 1)
    assert "Rate limit reached" in caught.value.message
    assert len(openai_server.embedding_requests) == 1  # the client itself never retried
    assert len(embedder.embed(["hello world"])) == 1


def test_a_503_and_a_hang_are_retryable(openai_server: OpenAIServer, make_embedder: Make) -> None:
    openai_server.fail_next(1, "503")
    with pytest.raises(RetryableError, match="503") as caught:
        make_embedder().embed(["hello world"])
    assert caught.value.code == "provider_unavailable"

    openai_server.fail_next(1, "hang")
    started = time.monotonic()
    with pytest.raises(RetryableError, match="did not answer in time"):
        make_embedder(timeout_s=0.5).embed(["hello world"])
    assert time.monotonic() - started < 3


Options = dict[str, object]
CONFIGURATION = [
    Case("a wrong key", ({"api_key": "sk-wrong"}, {}), ("provider_auth", "401")),
    Case("a key without access", ({}, {"forbidden": True}), ("provider_forbidden", "403")),
    Case("a model that is not there", ({}, {"models": {"x"}}), ("provider_not_found", "404")),
    Case("a wrong base URL", ({"base_url": "/v2"}, {}), ("provider_not_found", "404")),
    Case("spent quota", ({}, {"quota": True}), ("provider_quota", "429")),
    Case("a model refusing all", ({}, {"refuse_all": True}), ("provider_refuses", "400")),
    Case(
        "wrong dimensions",
        ({"dimensions": 64, "send_dimensions": False}, {}),
        ("embedding_dimensions", "64"),
    ),
]


@pytest.mark.parametrize("case", CONFIGURATION, ids=case_ids(CONFIGURATION))
def test_configuration_errors_carry_a_probe_that_passes_once_fixed(
    openai_server: OpenAIServer,
    make_embedder: Make,
    case: Case[tuple[Options, Options], tuple[str, str]],
) -> None:
    (options, script), (code, shown) = case.given, case.expected
    if options.get("base_url") == "/v2":
        options = {"base_url": openai_server.root + "/v2"}
    script = dict(script)
    if script.pop("quota", False):
        openai_server.fail_next(3, "quota")
    for name, value in script.items():
        setattr(openai_server, name, value)
    embedder = make_embedder(**options)

    with pytest.raises(ConfigurationError) as caught:
        embedder.embed(["hello world"])

    assert caught.value.code == code
    assert shown in caught.value.message
    probe = caught.value.probe
    assert probe is not None
    with pytest.raises(ConfigurationError):
        probe()
    openai_server.reset()  # the operator fixes it at the provider's side
    if "api_key" in options or "base_url" in options or "dimensions" in options:
        return  # fixed on our side: a new configuration (the probe keeps failing until then)
    probe()
    assert len(embedder.embed(["hello world"])) == 1


def test_an_unreachable_server_is_a_configuration_error() -> None:
    options = RemoteOptions(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model=MODEL, dimensions=8
    )
    embedder = OpenAICompatibleEmbedder(options)
    try:
        with pytest.raises(ConfigurationError) as caught:
            embedder.embed(["hello"])
    finally:
        embedder.close()
    assert caught.value.code == "provider_unreachable"
    assert "SLUICE_EMBEDDING_BASE_URL" in caught.value.message


def test_a_400_for_one_input_refuses_that_input_only(
    openai_server: OpenAIServer, make_embedder: Make
) -> None:
    openai_server.refuse_word = "forbidden"
    embedder = make_embedder()
    with pytest.raises(ValueError, match="'forbidden' is not allowed") as caught:
        embedder.embed(["a forbidden word"])
    assert not isinstance(caught.value, ConfigurationError | RetryableError)
    assert [r.status for r in openai_server.embedding_requests] == [400, 200], "then a probe"


async def test_status_search_loads_the_same_provider_and_answers_503_while_it_fails(
    openai_server: OpenAIServer,
) -> None:
    options = openai_server.options()
    searched = VectorSet(
        id=1,
        key=VectorSetKey(MODEL, openai_server.dimensions, 256, 32),
        table="chunks_unused",
        created_at=datetime.now(UTC),
    )

    class OneSet:
        """The tenant searches a set of the OpenAI model; no chunk is ever ranked."""

        async def active(self, tenant_ids: Collection[str]) -> dict[str, VectorSet]:
            return dict.fromkeys(tenant_ids, searched)

        async def search(
            self, vector_set: VectorSet, tenant_id: str, vector: Sequence[float], top_k: int
        ) -> list[VectorHit]:
            raise AssertionError("a query that could not be embedded ranks nothing")

    search = SearchService(OneSet(), OneSet(), ModelShelf("openai", {"remote": options}))
    await search.load()
    assert search.load_error is None and search.model_name == MODEL
    openai_server.fail_next(1, "429")
    with pytest.raises(SearchUnavailableError, match="provider_rate_limited"):
        await search.search("tenant", "what is kafka", 5)
    openai_server.api_key = "sk-rotated"
    with pytest.raises(SearchUnavailableError, match="misconfigured \\(provider_auth\\)"):
        await search.search("tenant", "what is kafka", 5)
    assert isinstance(search.provider, OpenAICompatibleEmbedder)
    search.provider.close()


# --- the shared budget --------------------------------------------------------------------


async def test_two_providers_share_one_budget_and_a_spent_one_says_how_long_to_wait(
    openai_server: OpenAIServer, make_embedder: Make, fresh_database: str, unique_suffix: str
) -> None:
    await migrate(fresh_database)
    limits = BudgetLimits(requests_per_min=30, tokens_per_min=6000, window_s=2)  # 1 req, 200 tok
    budgets = [PostgresBudget(fresh_database, f"budget-{unique_suffix}", limits) for _ in range(2)]
    first, second = (make_embedder(budget=b) for b in budgets)
    try:
        first.embed(["one request"])
        with pytest.raises(ThrottledError) as caught:
            second.embed(["another replica's request"])
        assert 1.0 < caught.value.wait_s <= 2.0
        time.sleep(caught.value.wait_s)
        second.embed(["another replica's request"])
    finally:
        for budget in budgets:
            budget.close()
    calls = openai_server.embedding_requests
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 2.0
