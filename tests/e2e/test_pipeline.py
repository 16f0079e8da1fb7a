"""End to end: the four services as processes on real Kafka and Postgres, driven over HTTP."""

import json
import mimetypes
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.local import REPO_ROOT
from tests.fixtures.pipeline import SERVICES, Pipeline, search, wait_for_state

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"
SAMPLES = ("kafka-basics.txt", "sourdough.md", "lighthouses.html", "photosynthesis.pdf", "tea.docx")
STAGE_ORDER = ("queued_at", "parsing_at", "parsed_at", "embedding_at", "indexed_at")
PROBLEM_JSON = "application/problem+json"
# (document, the phrase it contains, a paraphrase a semantic search should map to it)
SEARCHES = (
    (
        "photosynthesis.pdf",
        "chlorophyll molecules capture sunlight",
        "how do plants capture sunlight?",
    ),
    (
        "sourdough.md",
        "a bubbly starter that doubles in four to six hours",
        "how long should a sourdough starter rise?",
    ),
    (
        "lighthouses.html",
        "throw its beam more than twenty nautical miles across the dark sea",
        "how far can a lighthouse beam be seen?",
    ),
)


@dataclass(frozen=True)
class Corpus:
    """Every sample uploaded by one tenant and followed to a terminal state."""

    tenant: str
    token: str
    accepted: dict[str, dict[str, Any]]
    jobs: dict[str, dict[str, Any]]


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def new_tenant(label: str = "t") -> str:
    """A tenant no other test uses."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


def upload(
    ingest: httpx.Client,
    token: str,
    name: str,
    *,
    data: bytes | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    """POST one file (an example by name, or `data` under that name) to /v1/documents."""
    body = data if data is not None else (EXAMPLES / name).read_bytes()
    headers = bearer(token)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return ingest.post(
        "/v1/documents", headers=headers, files={"file": (Path(name).name, body, media)}
    )


def accepted(response: httpx.Response) -> dict[str, Any]:
    """The 202 body of an upload, failing with the server's answer otherwise."""
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "queued"
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with `status` and a non-empty detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body.get("detail")
    return body


@pytest.fixture(scope="module")
def ingest(pipeline: Pipeline) -> Iterator[httpx.Client]:
    """A client for the upload API."""
    with httpx.Client(base_url=pipeline.ingest_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def status(pipeline: Pipeline) -> Iterator[httpx.Client]:
    """A client for the status API."""
    with httpx.Client(base_url=pipeline.status_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def corpus(pipeline: Pipeline, ingest: httpx.Client, status: httpx.Client) -> Corpus:
    """All five samples uploaded by one fresh tenant and followed until terminal."""
    tenant = new_tenant("corpus")
    token = pipeline.token(tenant)
    uploads = {name: accepted(upload(ingest, token, name)) for name in SAMPLES}
    jobs = {
        name: wait_for_state(status, body["job_id"], token, timeout=180)
        for name, body in uploads.items()
    }
    return Corpus(tenant=tenant, token=token, accepted=uploads, jobs=jobs)


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_type_is_indexed_with_ordered_stage_timestamps(
    corpus: Corpus, name: str
) -> None:
    job = corpus.jobs[name]
    assert job["state"] == "indexed", job
    assert job["error"] is None
    assert job["chunk_count"] >= 1
    assert job["embedding_model"] == "all-MiniLM-L6-v2"
    assert job["filename"] == name
    assert job["document_id"] == corpus.accepted[name]["document_id"]
    assert job["parser"] == "local"  # no LlamaParse configured in this module
    stamps = job["timestamps"]
    assert set(STAGE_ORDER) <= stamps.keys(), stamps
    times = [datetime.fromisoformat(stamps[key]) for key in STAGE_ORDER]
    assert times == sorted(times), stamps


@pytest.mark.parametrize(("name", "phrase", "paraphrase"), SEARCHES)
def test_search_finds_a_documents_phrase_in_the_top_three(
    corpus: Corpus, status: httpx.Client, name: str, phrase: str, paraphrase: str
) -> None:
    document_id = corpus.accepted[name]["document_id"]
    for query in (phrase, paraphrase):
        hits = search(status, corpus.token, query, top_k=3)
        assert document_id in [hit["document_id"] for hit in hits[:3]], (query, hits)
    best = search(status, corpus.token, phrase, top_k=1)[0]
    assert best["document_id"] == document_id
    assert phrase in " ".join(best["text"].split())


# (document, phrase, the 1-based page it is on | the headings at or above it, best first)
CITED_PAGES = (
    ("photosynthesis.pdf", "chlorophyll molecules capture sunlight", 1),
    ("photosynthesis.pdf", "The enzyme RuBisCO attaches each carbon dioxide molecule", 2),
)
CITED_HEADINGS = (
    ("sourdough.md", "a bubbly starter that doubles in four to six hours", 1),
    ("sourdough.md", "perform four sets of stretch and folds, thirty minutes apart", 4),
)
SOURDOUGH_HEADINGS = [
    line.lstrip("#").strip()
    for line in (EXAMPLES / "sourdough.md").read_text().splitlines()
    if line.startswith("#")
]


def _best_hit(status: httpx.Client, corpus: Corpus, name: str, phrase: str) -> dict[str, Any]:
    """The top search hit for `phrase`, which must come from `name`, with its offsets checked."""
    hit = search(status, corpus.token, phrase, top_k=1)[0]
    assert hit["document_id"] == corpus.accepted[name]["document_id"], hit
    assert hit["char_end"] - hit["char_start"] == len(hit["text"]) > 0, hit
    return hit


@pytest.mark.parametrize(("name", "phrase", "page"), CITED_PAGES)
def test_pdf_hits_cite_the_page_they_start_on(
    corpus: Corpus, status: httpx.Client, name: str, phrase: str, page: int
) -> None:
    # Needs the parser to fill ParsedText.pages for PDFs (the formats branch).
    hit = _best_hit(status, corpus, name, phrase)
    assert isinstance(hit["page"], int), hit
    assert 1 <= hit["page"] <= page  # a chunk may start on an earlier page than the phrase


@pytest.mark.parametrize(("name", "phrase", "sections"), CITED_HEADINGS)
def test_markdown_hits_cite_the_heading_above_them(
    corpus: Corpus, status: httpx.Client, name: str, phrase: str, sections: int
) -> None:
    # Needs the parser to fill ParsedText.headings for Markdown (the formats branch).
    hit = _best_hit(status, corpus, name, phrase)
    assert hit["heading"] in SOURDOUGH_HEADINGS[:sections], (hit, SOURDOUGH_HEADINGS)
    assert hit["page"] is None  # Markdown has no pages


def test_a_corrupt_pdf_fails_in_the_parse_stage(
    pipeline: Pipeline, ingest: httpx.Client, status: httpx.Client
) -> None:
    token = pipeline.token(new_tenant())
    body = accepted(upload(ingest, token, "bad/corrupt.pdf"))
    job = wait_for_state(status, body["job_id"], token)
    assert job["state"] == "failed"
    error = job["error"]
    assert error["stage"] == "parse"
    assert error["code"] == "corrupt_file"
    assert isinstance(error["message"], str)
    assert error["message"].strip()
    assert job["timestamps"].get("failed_at")
    assert job["chunk_count"] is None


def test_random_bytes_are_refused_as_unsupported_media(
    pipeline: Pipeline, ingest: httpx.Client
) -> None:
    token = pipeline.token(new_tenant())
    response = upload(ingest, token, "bad/random.bin")
    assert_problem(response, 415)


def test_the_same_bytes_are_one_document_per_tenant(
    pipeline: Pipeline, ingest: httpx.Client, status: httpx.Client
) -> None:
    tenant = new_tenant()
    token = pipeline.token(tenant)
    first = accepted(upload(ingest, token, "kafka-basics.txt"))
    again = accepted(upload(ingest, token, "kafka-basics.txt"))
    assert again["document_id"] == first["document_id"]
    assert again["job_id"] != first["job_id"]

    other = accepted(upload(ingest, pipeline.token(new_tenant()), "kafka-basics.txt"))
    assert other["document_id"] != first["document_id"]

    for body in (first, again):
        assert wait_for_state(status, body["job_id"], token)["state"] == "indexed"
    response = status.get(f"/v1/documents/{first['document_id']}", headers=bearer(token))
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["state"] == "indexed"
    assert document["chunk_count"] >= 1
    assert document["latest_job_id"] == again["job_id"]
    assert {j["job_id"] for j in document["jobs"]} == {first["job_id"], again["job_id"]}


def test_an_idempotency_key_retry_returns_the_same_job(
    pipeline: Pipeline, ingest: httpx.Client
) -> None:
    token = pipeline.token(new_tenant())
    key = f"retry-{uuid.uuid4()}"
    first = accepted(upload(ingest, token, "sourdough.md", idempotency_key=key))
    retry = accepted(upload(ingest, token, "sourdough.md", idempotency_key=key))
    assert retry["job_id"] == first["job_id"]
    assert retry["document_id"] == first["document_id"]

    conflict = upload(ingest, token, "tea.docx", idempotency_key=key)
    assert_problem(conflict, 409)


def test_tenants_never_see_each_others_jobs_documents_or_chunks(
    pipeline: Pipeline, corpus: Corpus, ingest: httpx.Client, status: httpx.Client
) -> None:
    theirs = corpus.accepted["sourdough.md"]
    tenant_b = new_tenant("b")
    token_b = pipeline.token(tenant_b)
    assert_problem(status.get(f"/v1/jobs/{theirs['job_id']}", headers=bearer(token_b)), 404)
    assert_problem(
        status.get(f"/v1/documents/{theirs['document_id']}", headers=bearer(token_b)), 404
    )

    # B uploads the very same bytes: its own document, and its search sees only its chunks.
    mine = accepted(upload(ingest, token_b, "sourdough.md"))
    assert mine["document_id"] != theirs["document_id"]
    assert wait_for_state(status, mine["job_id"], token_b)["state"] == "indexed"
    hits = search(status, token_b, SEARCHES[1][1], top_k=10)
    assert hits
    assert {hit["document_id"] for hit in hits} == {mine["document_id"]}
    corpus_documents = {body["document_id"] for body in corpus.accepted.values()}
    assert not corpus_documents & {hit["document_id"] for hit in hits}

    listed = status.get("/v1/jobs", headers=bearer(token_b), params={"limit": 100}).json()
    assert [job["job_id"] for job in listed["jobs"]] == [mine["job_id"]]


def test_requests_without_a_valid_token_get_401(
    pipeline: Pipeline, ingest: httpx.Client, status: httpx.Client
) -> None:
    forged = jwt.encode(
        {"sub": "x", "tenant": "x", "scope": "documents:read", "exp": int(time.time()) + 60},
        "not-the-secret-of-this-deployment",
        algorithm="HS256",
    )
    expired = pipeline.token(new_tenant(), ttl_seconds=-60)
    for headers in ({}, bearer("garbage"), bearer(forged), bearer(expired), {"Authorization": "x"}):
        assert_problem(status.get("/v1/jobs", headers=headers), 401)
        assert_problem(status.post("/v1/search", headers=headers, json={"query": "tea"}), 401)
        response = ingest.post(
            "/v1/documents", headers=headers, files={"file": ("a.txt", b"hello", "text/plain")}
        )
        assert_problem(response, 401)


def test_job_listing_pages_through_every_indexed_job_once(
    corpus: Corpus, status: httpx.Client
) -> None:
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"state": "indexed", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = status.get("/v1/jobs", headers=bearer(corpus.token), params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert 1 <= len(page["jobs"]) <= 2
        assert all(job["state"] == "indexed" for job in page["jobs"])
        seen.extend(job["job_id"] for job in page["jobs"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    expected = {job["job_id"] for job in corpus.jobs.values() if job["state"] == "indexed"}
    assert len(seen) == len(set(seen)), seen
    assert set(seen) == expected
    assert seen == sorted(seen, reverse=True)
    assert pages == 3


def test_a_document_shows_its_chunk_count_and_jobs(corpus: Corpus, status: httpx.Client) -> None:
    job = corpus.jobs["photosynthesis.pdf"]
    response = status.get(f"/v1/documents/{job['document_id']}", headers=bearer(corpus.token))
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["document_id"] == job["document_id"]
    assert document["state"] == "indexed"
    assert document["chunk_count"] == job["chunk_count"] >= 1
    assert document["latest_job_id"] == job["job_id"]
    assert [j["job_id"] for j in document["jobs"]] == [job["job_id"]]
    assert document["filename"] == "photosynthesis.pdf"
    assert document["media_type"] == "application/pdf"


def test_unknown_jobs_and_bad_filters_are_problems(corpus: Corpus, status: httpx.Client) -> None:
    headers = bearer(corpus.token)
    assert_problem(status.get(f"/v1/jobs/{uuid.uuid4()}", headers=headers), 404)
    assert_problem(status.get(f"/v1/documents/{uuid.uuid4()}", headers=headers), 404)
    assert_problem(status.get("/v1/jobs", headers=headers, params={"state": "nope"}), 400)


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_answers_health_and_metrics(
    pipeline: Pipeline, corpus: Corpus, name: str
) -> None:
    with httpx.Client(base_url=pipeline.url(name), timeout=10) as client:
        live = client.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"status": "ok", "service": name}

        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ok"
        assert body["service"] == name
        assert body["checks"]
        assert all(check["ok"] for check in body["checks"].values()), body

        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        if name == "ingest":
            uploads = {
                (sample.labels["tenant"], sample.labels["outcome"]): sample.value
                for family in text_string_to_metric_families(metrics.text)
                for sample in family.samples
                if sample.name == "sluice_uploads_total"
            }
            assert uploads.get((corpus.tenant, "accepted"), 0) >= len(SAMPLES), uploads
        else:
            assert "sluice_records_consumed_total{" in metrics.text, metrics.text[:2000]


def test_service_logs_are_json_lines_carrying_the_job_ids(
    pipeline: Pipeline, corpus: Corpus
) -> None:
    lines = pipeline.log_file("parser").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records, "the parser wrote no JSON log lines"
    assert all(r["service"] == "parser" and r["level"] and r["ts"] for r in records)
    for name, job in corpus.jobs.items():
        mine = [r for r in records if r.get("job_id") == job["job_id"]]
        assert mine, f"no parser log line carries the job_id of {name}"
        assert all(r["document_id"] == job["document_id"] for r in mine)
