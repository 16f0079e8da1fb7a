"""End to end with LlamaParse: the four services on real Kafka and Postgres, the parser
configured for a local server speaking LlamaParse's REST API (tests/fixtures/llamaparse_server.py).

Only tenants named `llamaparse-*` are routed to it (PDF and PPTX, the default media types), so
each test picks its tenant to pick the parser. Failover has no cool-down here: every routed
document tries LlamaParse, whatever the test before it did.
"""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.local import REPO_ROOT
from tests.fixtures.llamaparse_server import API_KEY, LlamaParseServer
from tests.fixtures.pipeline import Pipeline, search, wait_for_state

pytestmark = pytest.mark.e2e

PDF_NAME = "photosynthesis.pdf"
PDF_BYTES = (REPO_ROOT / "examples" / PDF_NAME).read_bytes()


@pytest.fixture(scope="module")
def pipeline_env(llamaparse_server_session: LlamaParseServer) -> dict[str, str]:
    """The parser sends the PDFs of `llamaparse-*` tenants to the local LlamaParse."""
    return {
        "SLUICE_LLAMAPARSE_API_KEY": API_KEY,
        "SLUICE_LLAMAPARSE_BASE_URL": llamaparse_server_session.base_url,
        "SLUICE_LLAMAPARSE_TENANTS": "llamaparse-*",
        "SLUICE_LLAMAPARSE_POLL_INITIAL_S": "0.1",
        "SLUICE_LLAMAPARSE_POLL_MAX_S": "0.5",
        "SLUICE_LLAMAPARSE_COOLDOWN_S": "0",
    }


class Pdfs:
    """Uploads the example PDF through ingest and follows its job through status."""

    def __init__(self, pipeline: Pipeline, ingest: httpx.Client, status: httpx.Client) -> None:
        self.pipeline = pipeline
        self.ingest = ingest
        self.status = status

    def upload(self, prefix: str) -> tuple[str, str]:
        """Upload as a new tenant `<prefix>-<random>`; the job id and the tenant's token."""
        token = self.pipeline.token(f"{prefix}-{uuid.uuid4().hex[:8]}")
        response = self.ingest.post(
            "/v1/documents",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (PDF_NAME, PDF_BYTES, "application/pdf")},
        )
        assert response.status_code == 202, response.text
        job_id: str = response.json()["job_id"]
        return job_id, token

    def settled(self, prefix: str) -> tuple[dict[str, Any], str]:
        """Upload as a new `prefix` tenant; the job once it settled, and the tenant's token."""
        job_id, token = self.upload(prefix)
        return wait_for_state(self.status, job_id, token), token


@pytest.fixture(scope="module")
def pdfs(pipeline: Pipeline) -> Iterator[Pdfs]:
    """The example PDF's uploads, on clients of ingest and status."""
    with (
        httpx.Client(base_url=pipeline.ingest_url, timeout=60) as ingest,
        httpx.Client(base_url=pipeline.status_url, timeout=60) as status,
    ):
        yield Pdfs(pipeline, ingest, status)


def readiness(pipeline: Pipeline) -> dict[str, Any]:
    """The parser's /health/ready body."""
    body: dict[str, Any] = httpx.get(f"{pipeline.url('parser')}/health/ready", timeout=10).json()
    return body


def test_a_routed_pdf_is_parsed_by_llamaparse_and_cites_its_pages(
    pdfs: Pdfs, llamaparse_server: LlamaParseServer
) -> None:
    job, token = pdfs.settled("llamaparse")

    assert (job["state"], job["parser"], job["error"]) == ("indexed", "llamaparse", None), job
    assert job["page_count"] == 2
    assert job["title"] == "Photosynthesis in Plants", "the first H1 of LlamaParse's Markdown"
    (sent,) = llamaparse_server.recorded("upload")
    assert (sent.filename, sent.size, sent.status) == ("document.pdf", len(PDF_BYTES), 200)
    hit = search(pdfs.status, token, "chlorophyll molecules capture sunlight", 1)[0]
    assert (hit["page"], hit["heading"]) == (1, "Photosynthesis in Plants"), hit  # citations
    assert readiness(pdfs.pipeline)["checks"]["llamaparse"]["ok"] is True


def test_other_tenants_pdfs_stay_local(pdfs: Pdfs, llamaparse_server: LlamaParseServer) -> None:
    job, _ = pdfs.settled("local")

    assert (job["state"], job["parser"]) == ("indexed", "local"), job
    assert llamaparse_server.recorded("upload") == []


def test_with_llamaparse_answering_503_a_pdf_fails_over_and_is_parsed_locally(
    pdfs: Pdfs, llamaparse_server: LlamaParseServer
) -> None:
    llamaparse_server.outage("503")
    job, _ = pdfs.settled("llamaparse")

    assert (job["state"], job["parser"], job["error"]) == ("indexed", "local", None), job
    assert [r.status for r in llamaparse_server.recorded("upload")] == [503]
    assert job["page_count"] == 2, "the local PDF extractor read it"


def test_a_wrong_key_pauses_the_document_until_llamaparse_accepts_the_key(
    pdfs: Pdfs, llamaparse_server: LlamaParseServer
) -> None:
    llamaparse_server.script.api_key = "llx-another-project"  # the parser's key is refused
    job_id, token = pdfs.upload("llamaparse")

    deadline = time.monotonic() + 60
    while (check := readiness(pdfs.pipeline)["checks"]["llamaparse"])["ok"]:
        assert time.monotonic() < deadline, "the parser never reported the refused key"
        time.sleep(0.2)
    waiting = wait_for_state(pdfs.status, job_id, token, {"parsing"}, timeout=30)
    llamaparse_server.script.api_key = API_KEY  # the operator fixed the key
    job = wait_for_state(pdfs.status, job_id, token, timeout=120)

    assert "llamaparse_unauthorized" in check["detail"], check
    assert waiting["error"] is None
    assert (job["state"], job["parser"], job["error"]) == ("indexed", "llamaparse", None), job
    assert [r.status for r in llamaparse_server.recorded("upload")] == [401, 200]
    assert readiness(pdfs.pipeline)["checks"]["llamaparse"]["ok"] is True
