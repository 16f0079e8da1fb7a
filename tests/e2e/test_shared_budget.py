"""Two embedder replicas share one provider budget through Postgres (issue 11).

The whole stack runs as processes (ingest, status, parser, and two embedder replicas) with the
`openai` provider pointed at the local OpenAI-compatible server, which records when each request
arrived and its tokens. The budget allows 2 requests and 300 tokens per 3-second window for
both replicas together, far less than they would send unchecked: the server never sees more in
any 3 seconds, every document is indexed, and each job carries the usage its document took.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.local.stack import Stack
from tests.fixtures.openai_server import MODEL, OpenAIServer
from tests.fixtures.pipeline import own_stack, wait_for_state

pytestmark = pytest.mark.e2e

WINDOW_S = 3
REQUESTS_PER_WINDOW = 2
TOKENS_PER_WINDOW = 300
DOCUMENTS = 16


@pytest.fixture
def budgeted_stack(
    kafka_bootstrap: str, fresh_database: str, openai_server: OpenAIServer, tmp_path: Path
) -> Iterator[Stack]:
    """The services with two embedder replicas on the local server, under one small budget."""
    per_min = 60 // WINDOW_S
    env = {
        "SLUICE_EMBEDDING_PROVIDER": "openai",
        "SLUICE_EMBEDDING_BASE_URL": openai_server.base_url,
        "SLUICE_EMBEDDING_API_KEY": openai_server.api_key,
        "SLUICE_EMBEDDING_MODEL": MODEL,
        "SLUICE_EMBEDDING_DIMENSIONS": str(openai_server.dimensions),
        "SLUICE_EMBEDDING_REQUESTS_PER_MIN": str(REQUESTS_PER_WINDOW * per_min),
        "SLUICE_EMBEDDING_TOKENS_PER_MIN": str(TOKENS_PER_WINDOW * per_min),
        "SLUICE_EMBEDDING_BUDGET_WINDOW_S": str(WINDOW_S),
        "SLUICE_CHUNK_TOKENS": "48",
        "SLUICE_CHUNK_OVERLAP": "8",
    }
    with own_stack(
        tmp_path,
        fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        env=env,
        replicas={"ingest": 1, "status": 1, "parser": 1, "embedder": 2},
    ) as stack:
        yield stack


def _text(i: int) -> bytes:
    sentences = (
        f"Report {i} describes harbour number {i * 7} and its {i + 3} cranes at dawn."
        for _ in range(6)
    )
    return " ".join(sentences).encode()


def _answered_requests(replica_url: str) -> float:
    """`sluice_provider_requests_total{status="200"}` of one replica."""
    text = httpx.get(f"{replica_url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "sluice_provider_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("status") == "200"
    )


def test_two_replicas_stay_under_the_shared_budget_and_index_every_document(
    budgeted_stack: Stack, openai_server: OpenAIServer
) -> None:
    tenant = f"budget-{uuid.uuid4().hex[:8]}"
    token = budgeted_stack.token(tenant)
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=budgeted_stack.ingest_url, timeout=30) as ingest,
        httpx.Client(base_url=budgeted_stack.status_url, timeout=30) as status,
    ):
        job_ids = []
        for i in range(DOCUMENTS):
            files = {"file": (f"report-{i}.txt", _text(i), "text/plain")}
            response = ingest.post("/v1/documents", headers=headers, files=files)
            assert response.status_code == 202, response.text
            job_ids.append(response.json()["job_id"])
        jobs = [wait_for_state(status, job_id, token, timeout=240) for job_id in job_ids]

    assert [job["state"] for job in jobs] == ["indexed"] * DOCUMENTS
    most_requests, most_tokens = openai_server.most_in_window(WINDOW_S)
    assert most_requests <= REQUESTS_PER_WINDOW
    assert most_tokens <= TOKENS_PER_WINDOW
    answered = [r for r in openai_server.embedding_requests if r.status == 200]
    total_tokens = sum(r.tokens for r in answered)
    assert total_tokens > 3 * TOKENS_PER_WINDOW, "enough work that the budget had to hold it"
    assert {r.status for r in openai_server.embedding_requests} == {200}
    per_replica = [_answered_requests(r.url) for r in budgeted_stack.replicas("embedder")]
    assert len(per_replica) == 2 and all(n > 0 for n in per_replica), per_replica
    assert sum(per_replica) == len(answered)
    # the usage on each job adds up to what the provider counted
    for job in jobs:
        usage = job["usage"]
        assert (usage["provider"], usage["model"]) == ("openai", MODEL)
        assert usage["tokens"] > 0 and usage["requests"] >= 1
    assert sum(job["usage"]["tokens"] for job in jobs) == total_tokens
