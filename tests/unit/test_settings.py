"""Unit tests for the settings loader (services/common/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from services.common.access import verifier_from_settings
from services.common.auth import TokenPolicy
from services.common.settings import (
    DEV_JWT_SECRET,
    MIN_SECRET_BITS,
    CommonSettings,
    SettingsError,
    describe,
    env_name,
    from_settings,
    load_settings,
    secret_strength_bits,
)
from services.embedder.config import EmbedderSettings
from services.ingest.config import IngestSettings
from services.parser.config import ParserSettings
from services.status.config import StatusSettings
from tests.fixtures.cases import Case, case_ids

SECRET = "c0f9d1a27e3b4c58a6d70e12f9b83a4d5e6f7a8b9c0d1e2f"  # random hex, as `openssl rand` gives
JWKS = "https://idp.example.com/.well-known/jwks.json"


@pytest.mark.unit
def test_defaults_from_an_empty_environment() -> None:
    settings = load_settings(CommonSettings, {})
    assert settings == CommonSettings()
    assert settings.env == "development"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.jwt_secret == ""
    assert settings.hs256_secret == DEV_JWT_SECRET  # development signs with the public secret
    assert settings.serves_docs_ui
    assert settings.cors == (
        (),
        ("GET", "POST"),
        ("Authorization", "Content-Type", "Idempotency-Key"),
    )
    assert settings.metrics_port == 0
    assert settings.topic_partitions == 12


LOADED: list[Case[tuple[type[Any], dict[str, str]], dict[str, Any]]] = [
    Case("string", (CommonSettings, {"SLUICE_LOG_LEVEL": "DEBUG"}), {"log_level": "DEBUG"}),
    Case(
        "int from text", (CommonSettings, {"SLUICE_TOPIC_PARTITIONS": "3"}), {"topic_partitions": 3}
    ),
    Case(
        "float from text",
        (ParserSettings, {"SLUICE_PARSE_TIMEOUT_S": "2.5"}),
        {"parse_timeout_s": 2.5},
    ),
    Case(
        "int from text, ingest",
        (IngestSettings, {"SLUICE_INGEST_PORT": "9000"}),
        {"ingest_port": 9000},
    ),
    Case(
        "service settings keep the common ones",
        (StatusSettings, {"SLUICE_KAFKA_BOOTSTRAP": "k:1", "SLUICE_STATUS_PORT": "18001"}),
        {"kafka_bootstrap": "k:1", "status_port": 18001, "status_group": "sluice-status"},
    ),
    Case(
        "production with a real secret",
        (CommonSettings, {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": SECRET}),
        {"env": "production", "jwt_secret": SECRET},
    ),
    Case(
        "variables of other prefixes are ignored",
        (EmbedderSettings, {"KAFKA_BOOTSTRAP": "x:1", "SLUICE_CHUNK_TOKENS": "128"}),
        {"kafka_bootstrap": "127.0.0.1:9092", "chunk_tokens": 128},
    ),
    Case(
        "explicit CORS lists",
        (
            CommonSettings,
            {
                "SLUICE_CORS_ALLOW_ORIGINS": "https://a.example.com, https://b.example.com",
                "SLUICE_CORS_ALLOW_METHODS": "GET",
                "SLUICE_CORS_ALLOW_HEADERS": "Authorization",
            },
        ),
        {
            "cors": (
                ("https://a.example.com", "https://b.example.com"),
                ("GET",),
                ("Authorization",),
            )
        },
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", LOADED, ids=case_ids(LOADED))
def test_load_settings(case: Case[tuple[type[Any], dict[str, str]], dict[str, Any]]) -> None:
    cls, environ = case.given
    settings = load_settings(cls, environ)
    for name, value in case.expected.items():
        assert getattr(settings, name) == value, name


INVALID: list[Case[tuple[type[Any], dict[str, str]], str]] = [
    Case(
        "int that is not a number",
        (CommonSettings, {"SLUICE_DB_POOL_SIZE": "many"}),
        "SLUICE_DB_POOL_SIZE",
    ),
    Case(
        "float that is not a number",
        (ParserSettings, {"SLUICE_PARSE_TIMEOUT_S": "soon"}),
        "SLUICE_PARSE_TIMEOUT_S",
    ),
    Case("env not in the allowed set", (CommonSettings, {"SLUICE_ENV": "staging"}), "SLUICE_ENV"),
    Case(
        "service port not a number",
        (IngestSettings, {"SLUICE_INGEST_PORT": "80a"}),
        "SLUICE_INGEST_PORT",
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", INVALID, ids=case_ids(INVALID))
def test_invalid_value_names_the_variable(
    case: Case[tuple[type[Any], dict[str, str]], str],
) -> None:
    cls, environ = case.given
    with pytest.raises(SettingsError, match=case.expected):
        load_settings(cls, environ)


REFUSED: list[Case[dict[str, str], str]] = [
    Case(
        "production without a secret or a JWKS URL",
        {"SLUICE_ENV": "production"},
        "production needs SLUICE_JWT_JWKS_URL",
    ),
    Case(
        "production with the dev secret spelled out",
        {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": DEV_JWT_SECRET},
        "public development secret",
    ),
    Case(
        "production with the dev secret beside a JWKS URL",
        {
            "SLUICE_ENV": "production",
            "SLUICE_JWT_SECRET": DEV_JWT_SECRET,
            "SLUICE_JWT_JWKS_URL": JWKS,
        },
        "public development secret",
    ),
    Case(
        "production with one character repeated",
        {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": "a" * 32},
        "too predictable",
    ),
    Case(
        "production with a repeated pattern",
        {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": "abcdefghijklmnop" * 3},
        "too predictable",
    ),
    Case(
        "production with few distinct characters",
        {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": "abab" * 8 + "ba" * 8},
        "too predictable",
    ),
    Case(
        "production with a plain-http JWKS URL",
        {"SLUICE_ENV": "production", "SLUICE_JWT_JWKS_URL": "http://idp.example.com/jwks"},
        "https:// in production",
    ),
    Case(
        "production with wildcard CORS",
        {"SLUICE_ENV": "production", "SLUICE_JWT_JWKS_URL": JWKS, "SLUICE_CORS_ALLOW_ORIGINS": "*"},
        "SLUICE_CORS_ALLOW_ORIGINS may not be '\\*'",
    ),
    Case(
        "production with a wildcard among origins",
        {
            "SLUICE_ENV": "production",
            "SLUICE_JWT_JWKS_URL": JWKS,
            "SLUICE_CORS_ALLOW_ORIGINS": "https://app.example.com, *",
        },
        "SLUICE_CORS_ALLOW_ORIGINS",
    ),
    Case(
        "production with debug",
        {"SLUICE_ENV": "production", "SLUICE_JWT_JWKS_URL": JWKS, "SLUICE_DEBUG": "true"},
        "SLUICE_DEBUG must be off",
    ),
    Case("short secret", {"SLUICE_JWT_SECRET": "short"}, "at least 32 characters"),
    Case("JWKS URL not http(s)", {"SLUICE_JWT_JWKS_URL": "file:///etc/jwks"}, "http\\(s\\) URL"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_insecure_settings_are_refused(case: Case[dict[str, str], str]) -> None:
    with pytest.raises(SettingsError, match=case.expected):
        load_settings(CommonSettings, case.given)


PRODUCTION: list[Case[dict[str, str], tuple[str | None, bool]]] = [
    Case("a random secret: HS256", {"SLUICE_JWT_SECRET": SECRET}, (SECRET, False)),
    Case("a JWKS URL only: no HS256 at all", {"SLUICE_JWT_JWKS_URL": JWKS}, (None, False)),
    Case(
        "the docs UI when asked for",
        {"SLUICE_JWT_JWKS_URL": JWKS, "SLUICE_DOCS_UI": "true"},
        (None, True),
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", PRODUCTION, ids=case_ids(PRODUCTION))
def test_production_settings_that_start(
    case: Case[dict[str, str], tuple[str | None, bool]],
) -> None:
    settings = load_settings(CommonSettings, {"SLUICE_ENV": "production", **case.given})
    assert (settings.hs256_secret, settings.serves_docs_ui) == case.expected


@pytest.mark.unit
@pytest.mark.parametrize(
    ("secret", "weak"),
    [
        ("a" * 32, True),
        ("ab" * 32, True),
        (SECRET, False),
        ("Xk9#mQ2$vL7@pR4!wT8&zN5^bH3*" * 2, True),
    ],
)
def test_secret_strength(secret: str, weak: bool) -> None:
    """Repetition scores low, a random secret high (a pattern repeated twice is refused too)."""
    environ = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": secret}
    if weak:
        with pytest.raises(SettingsError, match="too predictable"):
            load_settings(CommonSettings, environ)
    else:
        assert load_settings(CommonSettings, environ).jwt_secret == secret
    assert (secret_strength_bits(secret) < MIN_SECRET_BITS) == (secret in ("a" * 32, "ab" * 32))


@pytest.mark.unit
def test_env_name() -> None:
    assert env_name("kafka_bootstrap") == "SLUICE_KAFKA_BOOTSTRAP"


@pytest.mark.unit
@pytest.mark.parametrize(
    "cls", [CommonSettings, IngestSettings, ParserSettings, EmbedderSettings, StatusSettings]
)
def test_every_setting_is_described(cls: type[msgspec.Struct]) -> None:
    rows = describe(cls)
    assert [r[0] for r in rows] == [env_name(f.name) for f in msgspec.structs.fields(cls)]
    assert all(description for _, _, description in rows)


@dataclass(frozen=True)
class _Relay:
    interval_s: float
    min_age_s: float
    batch: int
    max_pending: int = 1000  # no relay_max_pending setting: keeps its default


@pytest.mark.unit
def test_options_are_read_from_the_settings_under_their_prefix() -> None:
    settings = IngestSettings(
        jwt_issuer="https://idp.example.com/", jwt_leeway_s=5, relay_min_age_s=2.5
    )
    expected = TokenPolicy(issuer="https://idp.example.com/", leeway_s=5)
    assert from_settings(TokenPolicy, settings, "jwt_") == expected
    assert verifier_from_settings(settings).policy == expected
    assert from_settings(_Relay, settings, "relay_") == _Relay(1.0, 2.5, 100)
    assert from_settings(_Relay, settings, "relay_", batch=7) == _Relay(1.0, 2.5, 7)
    assert from_settings(_Relay, settings, "relay_", max_pending=3) == _Relay(1.0, 2.5, 100, 3)
    with pytest.raises(AttributeError, match="jwt_interval_s"):  # no such setting: a bug, loud
        from_settings(_Relay, settings, "jwt_")
