"""Which browser origins may upload: the console's (status's own), plus configured ones."""

from __future__ import annotations

import pytest

from services.common.settings import SettingsError, load_settings
from services.ingest.config import IngestSettings

pytestmark = pytest.mark.unit


def test_the_consoles_origin_is_allowed_and_more_can_be_listed() -> None:
    settings = load_settings(
        IngestSettings,
        {
            "SLUICE_STATUS_BASE_URL": "https://status.example.com/base/",
            "SLUICE_CORS_ORIGINS": "http://localhost:5173, https://app.example.com/",
        },
    )
    assert settings.allowed_origins == [
        "https://status.example.com",
        "http://localhost:5173",
        "https://app.example.com",
    ]
    assert load_settings(IngestSettings, {}).allowed_origins == ["http://127.0.0.1:8001"]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SLUICE_CORS_ORIGINS": "https://app.example.com/path"}, "is not an origin"),
        (
            {
                "SLUICE_CORS_ORIGINS": "*",
                "SLUICE_ENV": "production",
                "SLUICE_JWT_SECRET": "x" * 40,
            },
            "not '*'",
        ),
    ],
)
def test_what_is_not_an_origin_is_refused_at_start(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        load_settings(IngestSettings, env)
