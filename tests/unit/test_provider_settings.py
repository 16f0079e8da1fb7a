"""Provider settings: the openai provider's variables, shared by the embedder and status."""

import pytest

from services.common.embedding.build import build_provider
from services.common.embedding.openai_compatible import (
    OpenAICompatibleEmbedder,
    retry_after_seconds,
)
from services.common.settings import SettingsError, load_settings
from services.embedder.config import EmbedderSettings
from services.status.config import StatusSettings

pytestmark = pytest.mark.unit

SECRET = "9f2c4e7a1b3d5f60c8e2a4b6d8f0a1c3e5b7d9f1"  # random, as production needs
OPENAI = {
    "SLUICE_EMBEDDING_PROVIDER": "openai",
    "SLUICE_OPENAI_BASE_URL": "http://vllm.internal:8000/v1",
    "SLUICE_OPENAI_MODEL": "BAAI/bge-small-en-v1.5",
    "SLUICE_OPENAI_DIMENSIONS": "384",
}


@pytest.mark.parametrize("settings", [EmbedderSettings, StatusSettings])
def test_production_refuses_the_openai_provider_without_a_key(
    settings: type[EmbedderSettings] | type[StatusSettings],
) -> None:
    env = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": SECRET, **OPENAI}
    with pytest.raises(SettingsError, match="SLUICE_OPENAI_API_KEY must be set in production"):
        load_settings(settings, env)
    keyed = load_settings(settings, {**env, "SLUICE_OPENAI_API_KEY": "sk-live"})
    assert keyed.provider_options() == {
        "openai_base_url": "http://vllm.internal:8000/v1",
        "openai_api_key": "sk-live",
        "openai_model": "BAAI/bge-small-en-v1.5",
        "openai_dimensions": 384,
    }


def test_development_allows_a_keyless_server_and_other_providers_need_no_key() -> None:
    assert load_settings(EmbedderSettings, OPENAI).openai_api_key == ""
    production = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": SECRET}
    assert load_settings(StatusSettings, production).embedding_provider == "local"


def test_non_positive_dimensions_are_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="SLUICE_OPENAI_DIMENSIONS must be positive"):
        load_settings(EmbedderSettings, {**OPENAI, "SLUICE_OPENAI_DIMENSIONS": "0"})


def test_build_provider_makes_the_openai_provider_from_settings() -> None:
    config = load_settings(EmbedderSettings, {**OPENAI, "SLUICE_EMBEDDING_BATCH_SIZE": "8"})
    provider = build_provider(
        config.embedding_provider,
        batch_size=config.embedding_batch_size,
        **config.provider_options(),
    )
    assert isinstance(provider, OpenAICompatibleEmbedder)
    assert (provider.model_name, provider.dimensions) == ("BAAI/bge-small-en-v1.5", 384)
    provider.close()


def test_build_provider_names_what_the_openai_provider_lacks() -> None:
    with pytest.raises(ValueError, match="SLUICE_OPENAI_MODEL, SLUICE_OPENAI_DIMENSIONS"):
        build_provider("openai", openai_base_url="http://x/v1")
    with pytest.raises(ValueError, match="local, openai, hashing"):
        build_provider("nope")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "1"}, 1.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected
