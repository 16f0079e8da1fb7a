"""Unit tests of the status routes: jobs and documents from the queries, search from its service."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from schemas import topics
from schemas.events import Origin
from services.common.auth import Principal, issue_token
from services.common.embedding.hashing import HashingEmbedder
from services.common.embedding.models import ModelShelf
from services.common.vectors.search import VectorHit
from services.common.vectors.sets import VectorSet, VectorSetKey
from services.status.adapters.audit import AuditLog
from services.status.adapters.queries import (
    DocumentView,
    JobPage,
    JobSummary,
    JobTimestamps,
    JobView,
    StatusQueries,
)
from services.status.api import StatusController
from services.status.redrive import Redrive, Redriver
from services.status.search import SearchService
from tests.fixtures.apps import SECRET, route_client
from tests.fixtures.fakes import MemoryJobs, RecordingPublisher
from tests.unit.test_redrive import UPLOADED, failed
from tests.unit.test_search_api import HIT

pytestmark = pytest.mark.unit

AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
JOB = JobView(
    job_id="j1",
    document_id="d1",
    state="indexed",
    attempt=1,
    filename="tea.txt",
    media_type="text/plain",
    size=24,
    title=None,
    page_count=None,
    chunk_count=1,
    embedding_model="bench-hashing-384",
    error=None,
    timestamps=JobTimestamps(queued_at=AT, indexed_at=AT),
    updated_at=AT,
)


class JobsAndDocuments(StatusQueries):
    """Tenant t's job j1 of document d1; records every read. It ranks no chunks."""

    def __init__(self) -> None:
        self.reads: list[tuple[Any, ...]] = []

    async def job(self, tenant_id: str, job_id: str) -> JobView | None:
        self.reads.append(("job", tenant_id, job_id))
        return JOB if (tenant_id, job_id) == ("t", "j1") else None

    async def jobs(
        self, tenant_id: str, *, state: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        self.reads.append(("jobs", tenant_id, state, limit, cursor))
        return JobPage(jobs=[JOB] if tenant_id == "t" else [], next_cursor=None)

    async def document(self, tenant_id: str, document_id: str) -> DocumentView | None:
        self.reads.append(("document", tenant_id, document_id))
        if (tenant_id, document_id) != ("t", "d1"):
            return None
        return DocumentView(
            document_id="d1",
            state="indexed",
            filename="tea.txt",
            media_type="text/plain",
            size=24,
            title=None,
            chunk_count=1,
            latest_job_id="j1",
            jobs=[JobSummary("j1", "indexed", AT)],
        )


# HIT as the vector store ranks it: the same chunk, its offsets under their column names.
RANKED = msgspec.convert(
    {**msgspec.structs.asdict(HIT), "start_char": HIT.char_start, "end_char": HIT.char_end},
    VectorHit,
)


class RankedChunks:
    """Tenant t searches vector set 3 (the hashing model); ranks chunks for the search service
    and records each ranking (tenant, set id, query length, top_k). It knows no jobs."""

    SET = VectorSet(
        id=3, key=VectorSetKey("bench-hashing-384", 384, 256, 32), table="chunks_x", created_at=AT
    )

    def __init__(self) -> None:
        self.rankings: list[tuple[str, int, int, int]] = []

    async def active(self, tenant_ids: Collection[str]) -> dict[str, VectorSet]:
        return {t: self.SET for t in tenant_ids if t == "t"}

    async def search(
        self, vector_set: VectorSet, tenant_id: str, vector: Sequence[float], top_k: int
    ) -> list[VectorHit]:
        self.rankings.append((tenant_id, vector_set.id, len(vector), top_k))
        return [RANKED]


class RecordingRedriver(Redriver):
    """Re-drives every job it is asked to; remembers (tenant, job) of each request."""

    def __init__(self) -> None:
        self.retries: list[tuple[str | None, str]] = []

    async def retry(self, tenant_id: str | None, job_id: str) -> Redrive:
        self.retries.append((tenant_id, job_id))
        return Redrive(job_id, "queued", 2, "parse")


class RecordingAudit(AuditLog):
    """Job j9 belongs to tenant "other": an admin action on it is recorded, as the real log
    records only actions that cross a tenant."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.recorded: list[tuple[str, str, str, str]] = []

    async def job_action(self, actor: Principal, action: str, job_id: str) -> str | None:
        self.asked.append(job_id)
        if job_id != "j9" or actor.tenant == "other":
            return None
        self.recorded.append((actor.subject, actor.tenant, action, job_id))
        return "other"


@dataclass
class Api:
    client: TestClient[Any]
    queries: JobsAndDocuments
    chunks: RankedChunks
    redriver: RecordingRedriver
    audit: RecordingAudit

    def get(self, path: str, tenant: str = "t") -> tuple[int, Any]:
        response = self.client.get(path, headers=self.auth(tenant))
        return response.status_code, response.json()

    @staticmethod
    def auth(tenant: str, *scopes: str, **claims: Any) -> dict[str, str]:
        scopes = scopes or ("documents:read", "documents:write")
        return {"authorization": f"Bearer {issue_token(tenant, SECRET, scopes=scopes, **claims)}"}


@pytest.fixture
def api() -> Iterator[Api]:
    """The status routes over in-memory queries and a search service with a loaded model."""
    queries, chunks = JobsAndDocuments(), RankedChunks()
    redriver, audit = RecordingRedriver(), RecordingAudit()
    search = SearchService(chunks, chunks, ModelShelf(None, default=HashingEmbedder()))

    with route_client(
        "status",
        [StatusController],
        queries=queries,
        search=search,
        redriver=redriver,
        audit=audit,
    ) as client:
        yield Api(client, queries, chunks, redriver, audit)


@dataclass(frozen=True)
class Case:
    description: str
    given: tuple[str, str]  # (tenant, path)
    expected: tuple[int, Any, tuple[Any, ...]]  # (status, a field of the body, the read)


READ_CASES = [
    Case("a job of the caller's tenant", ("t", "/v1/jobs/j1"), (200, "j1", ("job", "t", "j1"))),
    Case(
        "a job the caller's tenant does not have",
        ("u", "/v1/jobs/j1"),
        (404, None, ("job", "u", "j1")),
    ),
    Case(
        "jobs, filtered and paged as asked",
        ("t", "/v1/jobs?state=indexed&limit=3&cursor=c"),
        (200, ["j1"], ("jobs", "t", "indexed", 3, "c")),
    ),
    Case(
        "a document with its jobs", ("t", "/v1/documents/d1"), (200, "j1", ("document", "t", "d1"))
    ),
    Case("an unknown document", ("t", "/v1/documents/d9"), (404, None, ("document", "t", "d9"))),
]


def _field(body: Any) -> Any:
    """What identifies an answer: the job id, the page's job ids, or a document's latest job."""
    if "jobs" in body and "next_cursor" in body:
        return [job["job_id"] for job in body["jobs"]]
    return body.get("latest_job_id") or body.get("job_id")


@pytest.mark.parametrize("case", READ_CASES, ids=[c.description for c in READ_CASES])
def test_jobs_and_documents_are_read_from_the_queries(api: Api, case: Case) -> None:
    tenant, path = case.given
    status, field, read = case.expected

    code, body = api.get(path, tenant)

    assert code == status, body
    assert _field(body) == field
    assert api.queries.reads == [read]
    assert api.chunks.rankings == []


def test_an_unknown_state_is_refused_before_any_read(api: Api) -> None:
    code, body = api.get("/v1/jobs?state=bogus")

    assert code == 400
    assert "state must be one of" in body["detail"]
    assert api.queries.reads == []


def test_search_embeds_the_query_and_ranks_through_the_search_service(api: Api) -> None:
    response = api.client.post(
        "/v1/search", headers=api.auth("t"), json={"query": "how long to steep", "top_k": 3}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["embedding_model"] == "bench-hashing-384"
    assert body["vector_set"] == {"set_id": 3, "chunk_tokens": 256, "chunk_overlap": 32}
    results = [(hit["text"], hit["char_start"], hit["char_end"]) for hit in body["results"]]
    assert results == [(HIT.text, HIT.char_start, HIT.char_end)]
    assert api.chunks.rankings == [("t", 3, 384, 3)]
    assert api.queries.reads == []


def test_a_tenant_without_a_vector_set_finds_nothing_and_nothing_is_ranked(api: Api) -> None:
    response = api.client.post("/v1/search", headers=api.auth("new"), json={"query": "tea"})

    assert response.status_code == 200, response.text
    assert response.json()["results"] == []
    assert response.json()["vector_set"] is None
    assert api.chunks.rankings == []


BAD_INPUT = [
    # Each reached Postgres and failed there with a 500 (NUL in a text parameter).
    Case("NUL in a job id", ("t", "/v1/jobs/j%001"), (400, "job_id", ())),
    Case("NUL in a document id", ("t", "/v1/documents/d%001"), (400, "document_id", ())),
    Case("NUL in the cursor", ("t", "/v1/jobs?cursor=j%001"), (400, "cursor", ())),
    Case("a job id of 129 characters", ("t", "/v1/jobs/" + "j" * 129), (400, "job_id", ())),
    Case(
        "a cursor of 10,000 characters",
        ("t", "/v1/jobs?cursor=" + "c" * 10_000),
        (400, "cursor", ()),
    ),
    Case("a space in a document id", ("t", "/v1/documents/d%201"), (400, "document_id", ())),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[c.description for c in BAD_INPUT])
def test_what_no_id_can_be_is_refused_before_any_read(api: Api, case: Case) -> None:
    tenant, path = case.given
    status, key, _ = case.expected

    response = api.client.get(path, headers=api.auth(tenant))

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["key"] for e in response.json()["errors"]] == [key]
    assert api.queries.reads == []


BAD_TOKENS = [
    # (tenant, extra claims): the integer scope raised TypeError, the NUL reached Postgres.
    ("scope an integer", "t", {"scope": 7}, "claim 'scope' must be"),
    ("tenant with a NUL", "t\x00", {}, "printable"),
    ("tenant of 200 characters", "t" * 200, {}, "1-128"),
]


@pytest.mark.parametrize(
    ("description", "tenant", "claims", "reason"), BAD_TOKENS, ids=[c[0] for c in BAD_TOKENS]
)
def test_validly_signed_tokens_with_wrong_claims_are_401(
    api: Api, description: str, tenant: str, claims: dict[str, Any], reason: str
) -> None:
    response = api.client.get("/v1/jobs/j1", headers=api.auth(tenant, **claims))

    assert response.status_code == 401, f"{description}: {response.text}"
    assert reason in response.json()["detail"]
    assert api.queries.reads == []


def test_deeply_nested_search_bodies_are_400(api: Api) -> None:
    for depth in (65, 100_000):  # 100,000 raised RecursionError in the JSON decoder: a 500
        body = '{"query": "tea", "x": ' + "[" * depth + "]" * depth + "}"
        response = api.client.post(
            "/v1/search",
            headers={**api.auth("t"), "content-type": "application/json"},
            content=body,
        )
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "JSON nested deeper than 64 levels"
    assert api.chunks.rankings == []


def test_the_read_scope_is_checked_before_the_search_body_is_parsed(api: Api) -> None:
    response = api.client.post(
        "/v1/search",
        headers={**api.auth("t", "documents:write"), "content-type": "application/json"},
        content="{not json",
    )
    assert response.status_code == 403, response.text


RETRIES = [
    # (scopes, job) -> (status, the tenant the redriver was limited to, audited)
    ("write: own tenant only", ("documents:write",), "j9", (202, "t", False)),
    ("the retired 'admin' scope is nothing", ("admin",), "j9", (403, None, False)),
    ("'admin' with write: still own tenant", ("documents:write", "admin"), "j9", (202, "t", False)),
    ("admin:jobs: any tenant, audited", ("admin:jobs",), "j9", (202, None, True)),
    ("admin:jobs on an own job: audit finds nothing", ("admin:jobs",), "j1", (202, None, False)),
    ("read only", ("documents:read",), "j1", (403, None, False)),
]


@pytest.mark.parametrize(
    ("description", "scopes", "job", "expected"), RETRIES, ids=[c[0] for c in RETRIES]
)
def test_retrying_another_tenants_job_needs_admin_jobs_and_is_audited(
    api: Api,
    description: str,
    scopes: tuple[str, ...],
    job: str,
    expected: tuple[int, str | None, bool],
) -> None:
    status, tenant, audited = expected

    response = api.client.post(f"/v1/jobs/{job}/retry", headers=api.auth("t", *scopes))

    assert response.status_code == status, f"{description}: {response.text}"
    assert api.redriver.retries == ([(tenant, job)] if status == 202 else [])
    assert api.audit.asked == ([job] if "admin:jobs" in scopes else [])
    assert api.audit.recorded == ([("dev", "t", "jobs.retry", job)] if audited else [])


def test_each_request_verifies_its_own_token(api: Api) -> None:
    """The principal a guard verified belongs to its request: the next caller is not it."""
    answers = [api.get("/v1/jobs/j1", tenant)[0] for tenant in ("t", "u", "t")]

    assert answers == [200, 404, 200]
    assert [read[1] for read in api.queries.reads] == ["t", "u", "t"]


@pytest.fixture
def redriving() -> Iterator[tuple[TestClient[Any], RecordingPublisher]]:
    """The status routes with a real Redriver over in-memory jobs: j1 failed, j2 running."""
    publisher = RecordingPublisher()
    jobs = MemoryJobs({("t", "j1"): failed("parse"), ("t", "j2"): failed("parse", state="parsing")})
    redriver = Redriver(jobs, publisher, Origin(service="status", instance="unit"))

    with route_client(
        "status",
        [StatusController],
        queries=JobsAndDocuments(),
        search=None,
        redriver=redriver,
        audit=RecordingAudit(),
    ) as client:
        yield client, publisher


RETRY_CASES = [
    Case("a failed job", ("t", "/v1/jobs/j1/retry"), (202, "queued", ("parse", 1))),
    Case("an unknown job", ("t", "/v1/jobs/j9/retry"), (404, "Not Found", ("no job j9", 0))),
    Case("another tenant's job", ("u", "/v1/jobs/j1/retry"), (404, "Not Found", ("no job j1", 0))),
    Case("a job still running", ("t", "/v1/jobs/j2/retry"), (409, "Conflict", ("only failed", 0))),
]


@pytest.mark.parametrize("case", RETRY_CASES, ids=[c.description for c in RETRY_CASES])
def test_a_retry_answers_the_redrive_or_a_problem_saying_why_not(
    redriving: tuple[TestClient[Any], RecordingPublisher], case: Case
) -> None:
    client, publisher = redriving
    tenant, path = case.given
    status, field, (said, sent) = case.expected

    response = client.post(path, headers=Api.auth(tenant))

    assert response.status_code == status, response.text
    body = response.json()
    if status == 202:
        assert (body["state"], body["restarted_stage"]) == (field, said)
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (body["status"], body["title"]) == (status, field)
        assert said in body["detail"]
    uploads = publisher.events(topics.DOCUMENTS_UPLOADED)
    assert [e.job_id for e in uploads] == [UPLOADED.job_id] * sent
