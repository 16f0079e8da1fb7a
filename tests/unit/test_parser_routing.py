"""Routing documents between the local parser and LlamaParse, and failing over between them."""

from __future__ import annotations

import pytest

from services.common.errors import InfrastructureError, RetryableError
from services.common.kafka.failures import Failure, classify
from services.common.media import DOCX, HTML, PDF, PPTX
from services.parser.core.errors import (
    CORRUPT_FILE,
    LLAMAPARSE_RATE_LIMITED,
    LLAMAPARSE_UNAUTHORIZED,
    ParseError,
    ProviderConfigurationError,
    ProviderUnavailableError,
)
from services.parser.core.parsed import ParsedText
from services.parser.core.routing import (
    COOLING_DOWN,
    DOWN,
    LLAMAPARSE,
    LOCAL,
    OVER_QUOTA,
    Failover,
    Router,
    Routes,
)
from tests.fixtures.cases import Case, case_ids
from tests.fixtures.fakes import ScriptedExtractor

pytestmark = pytest.mark.unit

ROUTES = Routes.from_lists(f"{PDF}, {PPTX},image/*", "acme, beta-*")
LOCAL_TEXT = ParsedText(text="read here")
REMOTE_TEXT = ParsedText(text="read there", pages=[0])

ROUTING = [
    Case("a PDF of a listed tenant", (PDF, "acme"), True),
    Case("a PPTX of a tenant matching a pattern", (PPTX, "beta-7"), True),
    Case("parameters and case do not matter", ("Application/PDF; version=1.7", "acme"), True),
    Case("a media type matching a pattern", ("image/png", "acme"), True),
    Case("HTML is not listed", (HTML, "acme"), False),
    Case("DOCX is not listed", (DOCX, "beta-1"), False),
    Case("a tenant not listed", (PDF, "globex"), False),
    Case("tenants match exactly (case too)", (PDF, "ACME"), False),
    Case("a pattern is not a prefix", (PDF, "acme-2"), False),
]


@pytest.mark.parametrize("case", ROUTING, ids=case_ids(ROUTING))
def test_routes_send_a_document_when_its_media_type_and_tenant_match(
    case: Case[tuple[str, str], bool],
) -> None:
    media_type, tenant = case.given
    assert ROUTES.remote(media_type, tenant) is case.expected


def test_every_tenant_by_default_and_no_media_type_sends_nothing() -> None:
    assert Routes.from_lists(PDF, "*").remote(PDF, "anyone")
    assert not Routes.from_lists("", "*").remote(PDF, "anyone")
    assert not Routes.from_lists(PDF, "").remote(PDF, "anyone")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def router(
    remote_outcome: BaseException | None = None, *, failover: Failover | None = None
) -> tuple[Router, ScriptedExtractor, Clock]:
    """A router over scripted extractors: the remote one raises `remote_outcome` for PDFs."""
    remote = ScriptedExtractor(parsed=REMOTE_TEXT)
    if remote_outcome is not None:
        remote.outcomes[b"pdf"] = remote_outcome
    clock = Clock()
    parsers = Router(
        ScriptedExtractor(parsed=LOCAL_TEXT), remote, routes=ROUTES, failover=failover, clock=clock
    )
    return parsers, remote, clock


async def test_a_routed_document_is_read_remotely_and_named_so() -> None:
    parsers, _, _ = router()

    parsed = await parsers.parse(b"pdf", PDF, tenant_id="acme")
    local = await parsers.parse(b"html", HTML, tenant_id="acme")

    assert parsed == (REMOTE_TEXT, LLAMAPARSE, None)
    assert local == (LOCAL_TEXT, LOCAL, None)


async def test_without_a_remote_parser_everything_is_local() -> None:
    parsers = Router(ScriptedExtractor(parsed=LOCAL_TEXT), routes=ROUTES)

    assert await parsers.parse(b"pdf", PDF, tenant_id="acme") == (LOCAL_TEXT, LOCAL, None)
    assert parsers.chooses(PDF, "acme") == LOCAL


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ProviderUnavailableError("LlamaParse answered 503"), DOWN),
        (ProviderUnavailableError("429 beyond the budget", over_quota=True), OVER_QUOTA),
    ],
)
async def test_an_unavailable_provider_fails_over_then_cools_down(
    error: ProviderUnavailableError, reason: str
) -> None:
    parsers, remote, clock = router(error, failover=Failover(cooldown_s=30))

    first = await parsers.parse(b"pdf", PDF, tenant_id="acme")
    remote.outcomes.clear()  # it is back, but the cool-down has not ended
    clock.now += 29
    second = await parsers.parse(b"pdf", PDF, tenant_id="acme")
    assert parsers.cooling_down is not None and error.message in parsers.cooling_down
    clock.now += 2
    third = await parsers.parse(b"pdf", PDF, tenant_id="acme")

    assert first == (LOCAL_TEXT, LOCAL, reason)
    assert second == (LOCAL_TEXT, LOCAL, COOLING_DOWN)
    assert third == (REMOTE_TEXT, LLAMAPARSE, None)
    assert parsers.cooling_down is None


async def test_a_longer_retry_after_stretches_the_cool_down() -> None:
    error = ProviderUnavailableError("quota", over_quota=True, retry_after_s=120)
    parsers, remote, clock = router(error, failover=Failover(cooldown_s=30))

    await parsers.parse(b"pdf", PDF, tenant_id="acme")
    remote.outcomes.clear()
    clock.now += 119

    assert (await parsers.parse(b"pdf", PDF, tenant_id="acme")).failover == COOLING_DOWN


async def test_without_failover_a_down_provider_is_an_outage_and_a_quota_a_retry() -> None:
    down, _, _ = router(ProviderUnavailableError("503"), failover=Failover(enabled=False))
    quota, _, _ = router(
        ProviderUnavailableError("429", over_quota=True, retry_after_s=7),
        failover=Failover(enabled=False),
    )

    with pytest.raises(InfrastructureError) as outage:
        await down.parse(b"pdf", PDF, tenant_id="acme")
    with pytest.raises(RetryableError) as later:
        await quota.parse(b"pdf", PDF, tenant_id="acme")

    assert classify(outage.value) is Failure.INFRASTRUCTURE, "the record waits, nothing fails"
    assert classify(later.value) is Failure.RETRYABLE
    assert (later.value.code, later.value.retry_after_s) == (LLAMAPARSE_RATE_LIMITED, 7)
    assert down.cooling_down is None


async def test_a_configuration_error_is_not_failed_over_and_pauses_the_record() -> None:
    error = ProviderConfigurationError(LLAMAPARSE_UNAUTHORIZED, "LlamaParse refused the key")
    parsers, _, _ = router(error)

    with pytest.raises(ProviderConfigurationError) as raised:
        await parsers.parse(b"pdf", PDF, tenant_id="acme")

    assert classify(raised.value) is Failure.INFRASTRUCTURE, "the record waits, nothing fails"
    assert parsers.cooling_down is None


async def test_a_documents_own_failure_on_the_remote_parser_is_its_own() -> None:
    parsers, _, _ = router(ParseError(CORRUPT_FILE, "not a PDF"))

    with pytest.raises(ParseError) as raised:
        await parsers.parse(b"pdf", PDF, tenant_id="acme")

    assert raised.value.code == CORRUPT_FILE
    assert parsers.cooling_down is None, "one bad file says nothing about the provider"
