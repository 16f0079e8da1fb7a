"""Unit tests for the settings loader (services/common/settings.py)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.common.settings import (
    DEV_JWT_SECRET,
    CommonSettings,
    SettingsError,
    describe,
    env_name,
    load_settings,
)
from services.embedder.config import EmbedderSettings
from services.ingest.config import IngestSettings
from services.parser.config import ParserSettings
from services.status.config import StatusSettings
from tests.fixtures.cases import Case, case_ids

SECRET = "a-production-secret-of-some-length"


@pytest.mark.unit
def test_defaults_from_an_empty_environment() -> None:
    settings = load_settings(CommonSettings, {})
    assert settings == CommonSettings()
    assert settings.env == "development"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.jwt_secret == DEV_JWT_SECRET
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
        "production with the dev secret",
        {"SLUICE_ENV": "production"},
        "SLUICE_JWT_SECRET must be set",
    ),
    Case(
        "production with the dev secret spelled out",
        {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": DEV_JWT_SECRET},
        "SLUICE_JWT_SECRET must be set",
    ),
    Case("short secret", {"SLUICE_JWT_SECRET": "short"}, "at least 32 characters"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_insecure_settings_are_refused(case: Case[dict[str, str], str]) -> None:
    with pytest.raises(SettingsError, match=case.expected):
        load_settings(CommonSettings, case.given)


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
