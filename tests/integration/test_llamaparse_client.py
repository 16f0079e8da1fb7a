"""The LlamaParse provider against a real local server speaking LlamaParse's REST API (v2).

No Kafka or Postgres: the client, the extractor (its Markdown read by the local Markdown
extractor, in process here; the sandbox in the e2e test) and the router with failover, each
against `tests/fixtures/llamaparse_server.py` and its scripted failures.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from infra.local import REPO_ROOT
from infra.local.ports import free_port
from services.common.kafka.failures import Failure, classify
from services.common.media import PDF, PLAIN
from services.parser.adapters.llamaparse import (
    MIB,
    LlamaParseClient,
    LlamaParseExtractor,
    LlamaParseOptions,
)
from services.parser.core.errors import (
    LLAMAPARSE_BAD_URL,
    LLAMAPARSE_JOB_FAILED,
    LLAMAPARSE_REJECTED,
    LLAMAPARSE_TIMEOUT,
    LLAMAPARSE_UNAUTHORIZED,
    RESULT_TOO_LARGE,
    ParseError,
    ProviderConfigurationError,
    ProviderUnavailableError,
)
from services.parser.core.extract import extract
from services.parser.core.parsed import ParsedText
from services.parser.core.routing import DOWN, LLAMAPARSE, LOCAL, Router, Routes
from tests.fixtures.llamaparse_server import API_KEY, LlamaParseServer

pytestmark = pytest.mark.integration

PDF_BYTES = (REPO_ROOT / "examples" / "photosynthesis.pdf").read_bytes()
FAST = {"poll_initial_s": 0.01, "poll_max_s": 0.05, "request_timeout_s": 5.0}


class InProcess:
    """The local extractors in this process (the parser runs them in its sandbox)."""

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        return extract(data, media_type)


class Sleeps:
    """An `asyncio.sleep` stand-in that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


MakeClient = Callable[..., LlamaParseClient]


@pytest.fixture
async def make_client(llamaparse_server: LlamaParseServer) -> AsyncIterator[MakeClient]:
    """`make_client(**options)`: a client of the local server, closed after the test."""
    made: list[LlamaParseClient] = []

    def make(*, sleep: Any = None, **overrides: Any) -> LlamaParseClient:
        options = {"api_key": API_KEY, "base_url": llamaparse_server.base_url, **FAST}
        extra = {} if sleep is None else {"sleep": sleep}
        client = LlamaParseClient(LlamaParseOptions(**{**options, **overrides}), **extra)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_a_pdf_is_uploaded_polled_and_read_with_its_pages_and_headings(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.polls_until_done = 2
    extractor = LlamaParseExtractor(make_client(), markdown=InProcess())

    parsed = await extractor.extract(PDF_BYTES, PDF)

    (upload,) = llamaparse_server.recorded("upload")
    assert upload.configuration == {"tier": "cost_effective", "version": "latest"}
    assert (upload.filename, upload.file_type, upload.size) == ("document.pdf", PDF, len(PDF_BYTES))
    polls = llamaparse_server.recorded("poll")
    assert [p.query.get("expand") for p in polls] == [["markdown"]] * 3, "2 RUNNING, 1 COMPLETED"
    assert parsed.title == "Photosynthesis in Plants"
    assert parsed.page_count == 2
    assert [parsed.text[start:].split("\n", 1)[0] for start in parsed.pages] == [
        "Photosynthesis in Plants",
        "The Calvin Cycle",
    ]
    assert [h.title for h in parsed.headings] == ["Photosynthesis in Plants", "The Calvin Cycle"]


async def test_polling_backs_off_doubling_up_to_its_ceiling(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.polls_until_done = 5
    sleeps = Sleeps()
    client = make_client(sleep=sleeps, poll_initial_s=0.5, poll_max_s=3.0, job_timeout_s=60)

    pages = await client.parse(b"one page of text", PLAIN)

    assert pages == ["# one page of text\n\n"]
    assert sleeps.waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_a_failed_page_keeps_the_numbering_of_the_pages_after_it(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.pages = ["# One\n\nfirst", None, "# Three\n\nthird"]
    extractor = LlamaParseExtractor(make_client(), markdown=InProcess())

    parsed = await extractor.extract(PDF_BYTES, PDF)

    assert parsed.page_count == 3
    assert [parsed.text[start:].split("\n", 1)[0] for start in parsed.pages] == [
        "One",
        "Three",  # page 2 failed: it starts (empty) where page 3 does
        "Three",
    ]


async def test_a_wrong_key_pauses_on_probes_until_the_key_is_accepted(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.api_key = "llx-rotated"
    extractor = LlamaParseExtractor(make_client(), markdown=InProcess())

    with pytest.raises(ProviderConfigurationError) as first:
        await extractor.extract(PDF_BYTES, PDF)
    with pytest.raises(ProviderConfigurationError):
        await extractor.extract(PDF_BYTES, PDF)  # the retry only probes
    uploads_while_refused = len(llamaparse_server.recorded("upload"))
    llamaparse_server.script.api_key = API_KEY  # the key is valid again
    parsed = await extractor.extract(PDF_BYTES, PDF)

    assert first.value.code == LLAMAPARSE_UNAUTHORIZED
    assert "SLUICE_LLAMAPARSE_API_KEY" in first.value.message
    assert classify(first.value) is Failure.INFRASTRUCTURE, "the record waits; nothing fails"
    assert uploads_while_refused == 1, "after the first refusal, a cheap probe, not an upload"
    assert [r.status for r in llamaparse_server.recorded("list")] == [401, 200]
    assert extractor.misconfigured is None
    assert parsed.title == "Photosynthesis in Plants"


async def test_a_base_url_without_the_api_is_a_configuration_error(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    client = make_client(base_url=llamaparse_server.base_url + "/not-the-api")

    with pytest.raises(ProviderConfigurationError) as raised:
        await client.parse(PDF_BYTES, PDF)

    assert raised.value.code == LLAMAPARSE_BAD_URL
    assert "SLUICE_LLAMAPARSE_BASE_URL" in raised.value.message


async def test_429_waits_retry_after_within_the_budget_then_counts_as_over_quota(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.fail_next(2, "429", on="upload", retry_after=3)
    sleeps = Sleeps()
    patient = make_client(sleep=sleeps, rate_limit_wait_s=10)

    assert await patient.parse(b"text", PLAIN) == ["# text\n\n"]
    assert sleeps.waits[:2] == [3.0, 3.0], "Retry-After honoured before polling"

    llamaparse_server.fail_next(2, "429", on="poll", retry_after=3)
    hurried = make_client(sleep=Sleeps(), rate_limit_wait_s=4)
    with pytest.raises(ProviderUnavailableError) as raised:
        await hurried.parse(b"text", PLAIN)
    assert (raised.value.over_quota, raised.value.retry_after_s) == (True, 3.0)


@pytest.mark.parametrize("how", ["503", "500"])
async def test_a_server_error_means_down(
    llamaparse_server: LlamaParseServer, make_client: MakeClient, how: Any
) -> None:
    llamaparse_server.fail_next(1, how, on="upload")

    with pytest.raises(ProviderUnavailableError) as raised:
        await make_client().parse(PDF_BYTES, PDF)

    assert not raised.value.over_quota
    assert how in raised.value.message


async def test_a_hanging_request_and_a_closed_port_mean_down(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.fail_next(1, "hang", on="poll")

    with pytest.raises(ProviderUnavailableError) as hung:
        await make_client(request_timeout_s=0.3).parse(PDF_BYTES, PDF)
    with pytest.raises(ProviderUnavailableError) as refused:
        await make_client(base_url=f"http://127.0.0.1:{free_port()}").parse(PDF_BYTES, PDF)

    assert "0.3s" in hung.value.message
    assert "cannot reach" in refused.value.message


async def test_a_failed_job_fails_the_document_with_llamaparses_reason(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.job_error = "The document is password protected"

    with pytest.raises(ParseError) as raised:
        await make_client().parse(PDF_BYTES, PDF)

    assert raised.value.code == LLAMAPARSE_JOB_FAILED
    assert "password protected" in raised.value.message


async def test_a_job_that_vanished_fails_the_document(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.fail_next(1, "404", on="poll")

    with pytest.raises(ParseError) as raised:
        await make_client().parse(PDF_BYTES, PDF)

    assert raised.value.code == LLAMAPARSE_JOB_FAILED


async def test_a_slow_job_ends_in_llamaparse_timeout(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.polls_until_done = 10**6

    with pytest.raises(ParseError) as raised:
        await make_client(job_timeout_s=0.3).parse(PDF_BYTES, PDF)

    assert raised.value.code == LLAMAPARSE_TIMEOUT
    assert "SLUICE_LLAMAPARSE_JOB_TIMEOUT_S" in raised.value.message
    assert len(llamaparse_server.recorded("poll")) >= 2


async def test_an_oversized_result_is_not_read(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    llamaparse_server.script.oversized_bytes = 2 * MIB

    with pytest.raises(ParseError) as raised:
        await make_client(max_result_bytes=MIB).parse(PDF_BYTES, PDF)

    assert raised.value.code == RESULT_TOO_LARGE
    assert "SLUICE_LLAMAPARSE_MAX_RESULT_MB" in raised.value.message


async def test_a_refused_upload_fails_the_document(make_client: MakeClient) -> None:
    with pytest.raises(ParseError) as raised:
        await make_client(tier="no-such-tier").parse(PDF_BYTES, PDF)

    assert raised.value.code == LLAMAPARSE_REJECTED
    assert "422" in raised.value.message


async def test_the_router_fails_over_to_the_local_parser_when_llamaparse_is_down(
    llamaparse_server: LlamaParseServer, make_client: MakeClient
) -> None:
    remote = LlamaParseExtractor(make_client(), markdown=InProcess())
    router = Router(InProcess(), remote, routes=Routes.from_lists(PDF, "*"))

    llamaparse_server.outage("503")
    down = await router.parse(PDF_BYTES, PDF, tenant_id="acme")
    llamaparse_server.outage(None)
    router_after = Router(InProcess(), remote, routes=Routes.from_lists(PDF, "*"))
    up = await router_after.parse(PDF_BYTES, PDF, tenant_id="acme")

    assert (down.parser, down.failover) == (LOCAL, DOWN)
    assert down.text.page_count == 2, "the local PDF extractor read it"
    assert (up.parser, up.failover) == (LLAMAPARSE, None)
