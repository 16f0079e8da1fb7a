"""Provider settings: the openai provider's variables, shared by the embedder and status."""

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

import services.common.embedding.onnx_model
from services.common.embedding.build import build_provider, choose_backend
from services.common.embedding.models import ModelShelf, ModelUnavailableError
from services.common.embedding.openai_compatible import (
    OpenAICompatibleEmbedder,
    retry_after_seconds,
)
from services.common.embedding.remote import Limits
from services.common.settings import SettingsError, load_settings
from services.embedder.config import EmbedderSettings
from services.status.config import StatusSettings

pytestmark = pytest.mark.unit

SECRET = "9f2c4e7a1b3d5f60c8e2a4b6d8f0a1c3e5b7d9f1"  # random, as production needs
OPENAI = {
    "SLUICE_EMBEDDING_PROVIDER": "openai",
    "SLUICE_EMBEDDING_BASE_URL": "http://vllm.internal:8000/v1",
    "SLUICE_EMBEDDING_MODEL": "BAAI/bge-small-en-v1.5",
    "SLUICE_EMBEDDING_DIMENSIONS": "384",
    "SLUICE_EMBEDDING_TOKENIZER": "estimate",
}


@pytest.mark.parametrize("settings", [EmbedderSettings, StatusSettings])
def test_production_refuses_the_openai_provider_without_a_key(
    settings: type[EmbedderSettings] | type[StatusSettings],
) -> None:
    env = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": SECRET, **OPENAI}
    with pytest.raises(SettingsError, match="SLUICE_EMBEDDING_API_KEY must be set in production"):
        load_settings(settings, env)
    keyed = load_settings(settings, {**env, "SLUICE_EMBEDDING_API_KEY": "sk-live"}).remote_options()
    assert (keyed.base_url, keyed.api_key, keyed.model, keyed.dimensions) == (
        "http://vllm.internal:8000/v1",
        "sk-live",
        "BAAI/bge-small-en-v1.5",
        384,
    )
    assert keyed.limits == Limits(
        max_inputs=2048, max_input_tokens=8192, max_request_tokens=300_000
    )
    assert not keyed.budget.active


def test_development_allows_a_keyless_server_and_other_providers_need_no_key() -> None:
    assert load_settings(EmbedderSettings, OPENAI).embedding_api_key == ""
    production = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": SECRET}
    assert load_settings(StatusSettings, production).embedding_provider == "local"


def test_non_positive_dimensions_and_inconsistent_limits_are_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="SLUICE_EMBEDDING_DIMENSIONS"):
        load_settings(EmbedderSettings, {**OPENAI, "SLUICE_EMBEDDING_DIMENSIONS": "0"})
    with pytest.raises(SettingsError, match="MAX_REQUEST_TOKENS must be at least"):
        load_settings(EmbedderSettings, {**OPENAI, "SLUICE_EMBEDDING_MAX_REQUEST_TOKENS": "100"})


def test_the_old_openai_variables_are_refused_with_their_new_names() -> None:
    with pytest.raises(
        SettingsError, match="SLUICE_OPENAI_API_KEY was renamed SLUICE_EMBEDDING_API_KEY"
    ):
        load_settings(EmbedderSettings, {**OPENAI, "SLUICE_OPENAI_API_KEY": "sk-live"})


def test_limits_and_the_shared_budget_come_from_settings() -> None:
    env = {
        **OPENAI,
        "SLUICE_EMBEDDING_MAX_INPUTS": "96",
        "SLUICE_EMBEDDING_MAX_INPUT_TOKENS": "512",
        "SLUICE_EMBEDDING_MAX_REQUEST_TOKENS": "20000",
        "SLUICE_EMBEDDING_REQUESTS_PER_MIN": "300",
        "SLUICE_EMBEDDING_TOKENS_PER_MIN": "100000",
    }
    options = load_settings(EmbedderSettings, env).remote_options()
    assert options.limits == Limits(max_inputs=96, max_input_tokens=512, max_request_tokens=20_000)
    assert options.budget.active
    assert (options.budget.requests, options.budget.tokens) == (300, 100_000)
    assert options.budget_key == "http://vllm.internal:8000/v1|BAAI/bge-small-en-v1.5"
    with pytest.raises(ValueError, match="needs SLUICE_DATABASE_URL"):
        build_provider("openai", remote=msgspec.structs.replace(options, database_url=""))


def test_build_provider_makes_the_openai_provider_from_settings() -> None:
    config = load_settings(EmbedderSettings, OPENAI)
    provider = build_provider(config.embedding_provider, **config.provider_options())
    assert isinstance(provider, OpenAICompatibleEmbedder)
    assert (provider.model_name, provider.dimensions) == ("BAAI/bge-small-en-v1.5", 384)
    assert (provider.batch_size, provider.max_tokens) == (2048, 8192)
    provider.close()


async def test_the_model_shelf_serves_the_configured_openai_model_only() -> None:
    # a vector set names its model: the shelf reads the openai model from the settings' options
    shelf = ModelShelf("openai", load_settings(EmbedderSettings, OPENAI).provider_options())
    provider = await shelf.get("BAAI/bge-small-en-v1.5")
    assert isinstance(provider, OpenAICompatibleEmbedder)
    provider.close()
    with pytest.raises(ModelUnavailableError, match=r"'openai' serves BAAI/bge-small-en-v1.5\)"):
        await shelf.get("text-embedding-3-large")


def test_build_provider_names_what_the_openai_provider_lacks() -> None:
    with pytest.raises(ValueError, match="SLUICE_EMBEDDING_BASE_URL and SLUICE_EMBEDDING_MODEL"):
        build_provider("openai")
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


@pytest.mark.parametrize("settings", [EmbedderSettings, StatusSettings])
def test_the_local_models_backend_and_cache_reach_the_provider(
    settings: type[EmbedderSettings] | type[StatusSettings],
) -> None:
    chosen = {"SLUICE_EMBEDDING_BACKEND": "onnx", "SLUICE_EMBEDDING_CACHE_DIR": "/srv/models"}
    options = load_settings(settings, chosen).provider_options()
    assert (options["backend"], str(options["cache_dir"])) == ("onnx", "/srv/models")
    assert load_settings(settings, {}).provider_options()["cache_dir"] is None
    auto = {"SLUICE_EMBEDDING_BACKEND": "auto"}  # one value for every service's environment
    assert load_settings(settings, auto).provider_options()["backend"] == "auto"
    with pytest.raises(SettingsError, match="SLUICE_EMBEDDING_BACKEND"):
        load_settings(settings, {"SLUICE_EMBEDDING_BACKEND": "tensorflow"})


def test_status_embeds_queries_on_onnx_and_the_embedder_chooses_by_its_device() -> None:
    # status only embeds search queries: the small process; vectors agree within 1e-3 cosine
    assert load_settings(StatusSettings, {}).provider_options()["backend"] == "onnx"
    assert load_settings(EmbedderSettings, {}).provider_options()["backend"] == "auto"


@pytest.mark.parametrize(
    ("backend", "device", "gpus", "chosen"),
    [
        ("auto", "auto", 0, "onnx"),  # the CPU: ONNX Runtime, faster and a fraction the memory
        ("auto", "cpu", 1, "onnx"),
        ("auto", "auto", 1, "torch"),  # the driver lists a GPU: torch, which checks it
        ("auto", "cuda", 0, "torch"),  # asked for: torch, which says why not if it cannot
        ("auto", "cuda:1", 0, "torch"),
        ("torch", "cpu", 0, "torch"),
        ("onnx", "auto", 1, "onnx"),
    ],
)
def test_the_auto_backend_is_torch_only_where_a_gpu_may_serve(
    tmp_path: Path, backend: str, device: str, gpus: int, chosen: str
) -> None:
    for n in range(gpus):
        (tmp_path / f"0000:0{n}:00.0").mkdir()
    assert choose_backend(backend, device, gpus=tmp_path) == chosen
    assert choose_backend(backend, device, gpus=tmp_path / "no driver") == (
        "onnx" if backend == "auto" and not device.startswith("cuda") else chosen
    )


def test_the_backend_a_local_model_runs_on_is_logged_with_what_chose_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Built:  # stands in for the ONNX model: nothing is loaded
        def __init__(self, **options: Any) -> None:
            self.options = options

    monkeypatch.setattr(services.common.embedding.onnx_model, "OnnxSentenceTransformer", Built)
    monkeypatch.setattr("services.common.embedding.build.NVIDIA_GPUS", Path("/nonexistent"))
    with caplog.at_level(logging.INFO, logger="services.common.embedding.build"):
        built = build_provider("local", backend="auto", device="auto", batch_size=8)
    assert isinstance(built, Built)
    assert built.options["batch_size"] == 8
    assert [r.getMessage() for r in caplog.records] == [
        "local model on the onnx backend (SLUICE_EMBEDDING_BACKEND=auto,"
        " SLUICE_EMBEDDING_DEVICE=auto)"
    ]
