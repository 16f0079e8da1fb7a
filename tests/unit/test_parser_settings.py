"""The parser's LlamaParse settings: when they are refused at start, and what they wire."""

import pytest

from services.common.settings import SettingsError, load_settings
from services.parser.adapters.llamaparse import (
    MIB,
    LlamaParseClient,
    LlamaParseExtractor,
    LlamaParseOptions,
)
from services.parser.adapters.sandbox import ParserSandbox
from services.parser.config import IN_FLIGHT_PER_WORKER, LLAMAPARSE_IN_FLIGHT, ParserSettings
from services.parser.core.errors import LLAMAPARSE_UNAUTHORIZED, ProviderConfigurationError
from services.parser.core.routing import LLAMAPARSE, LOCAL
from services.parser.inject import llamaparse_options, router_for

pytestmark = pytest.mark.unit

SECRET = "9f2c4e7a1b3d5f60c8e2a4b6d8f0a1c3e5b7d9f1"  # random, as production needs
PRODUCTION = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": SECRET}
KEYED = {"SLUICE_LLAMAPARSE_API_KEY": "llx-test"}


def test_production_refuses_a_plain_http_llamaparse_url() -> None:
    plain = {**PRODUCTION, **KEYED, "SLUICE_LLAMAPARSE_BASE_URL": "http://llamaparse.internal"}
    with pytest.raises(SettingsError, match="must be https:// in production"):
        load_settings(ParserSettings, plain)
    assert load_settings(ParserSettings, {**PRODUCTION, **KEYED}).llamaparse_enabled
    # Development may use a local server; without a key the URL is not used at all.
    assert load_settings(ParserSettings, {**KEYED, "SLUICE_LLAMAPARSE_BASE_URL": "http://x:1"})
    keyless = {**PRODUCTION, "SLUICE_LLAMAPARSE_BASE_URL": "http://llamaparse.internal"}
    assert not load_settings(ParserSettings, keyless).llamaparse_enabled


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SLUICE_LLAMAPARSE_BASE_URL", "api.cloud.llamaindex.ai", "must be an http"),
        ("SLUICE_LLAMAPARSE_POLL_MAX_S", "0.5", "POLL_MAX_S must be at least"),
        ("SLUICE_LLAMAPARSE_TIER", "fast", "SLUICE_LLAMAPARSE_TIER"),
    ],
)
def test_bad_llamaparse_settings_are_refused_at_start(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(ParserSettings, {**KEYED, variable: value})


def test_with_llamaparse_on_the_parser_handles_more_documents_at_once() -> None:
    assert load_settings(ParserSettings, {"SLUICE_PARSE_WORKERS": "1"}).in_flight == 4
    keyed = load_settings(ParserSettings, {**KEYED, "SLUICE_PARSE_WORKERS": "1"})
    assert keyed.in_flight == LLAMAPARSE_IN_FLIGHT
    many = load_settings(ParserSettings, {**KEYED, "SLUICE_PARSE_WORKERS": "3"})
    assert many.in_flight == 3 * IN_FLIGHT_PER_WORKER
    chosen = load_settings(ParserSettings, {**KEYED, "SLUICE_PARSER_IN_FLIGHT": "2"})
    assert chosen.in_flight == 2


def test_the_client_options_are_the_llamaparse_settings() -> None:
    config = ParserSettings(
        llamaparse_api_key="llx-test", llamaparse_poll_max_s=4.0, llamaparse_max_result_mb=3
    )
    assert llamaparse_options(config) == LlamaParseOptions(
        api_key="llx-test", poll_max_s=4.0, max_result_bytes=3 * MIB
    )


async def test_the_router_follows_the_settings_and_readiness_reports_a_refused_key() -> None:
    config = load_settings(
        ParserSettings,
        {
            **KEYED,
            "SLUICE_LLAMAPARSE_MEDIA_TYPES": "application/pdf",
            "SLUICE_LLAMAPARSE_TENANTS": "acme-*",
            "SLUICE_LLAMAPARSE_FAILOVER": "false",
        },
    )
    sandbox = ParserSandbox(1, 5.0, 512)  # not started: routing and checks never call it
    client = LlamaParseClient(llamaparse_options(config))
    try:
        router, checks = router_for(config, sandbox, client)
        assert checks is not None
        assert router.chooses("application/pdf", "acme-eu") == LLAMAPARSE
        assert router.chooses("application/pdf", "globex") == LOCAL
        assert router.chooses("text/plain", "acme-eu") == LOCAL
        assert router.failover.enabled is False
        assert checks()["llamaparse"].ok is True

        remote = router.remote
        assert isinstance(remote, LlamaParseExtractor)
        refused = ProviderConfigurationError(LLAMAPARSE_UNAUTHORIZED, "refused the API key")
        remote.misconfigured = refused  # what a refused upload or probe leaves
        check = checks()["llamaparse"]
        assert (check.ok, check.detail) == (False, str(refused))
    finally:
        await client.close()
    keyless = load_settings(ParserSettings, {})
    router, checks = router_for(keyless, sandbox, None)
    assert (router.remote, checks) == (None, None)
    assert router.chooses("application/pdf", "acme-eu") == LOCAL
