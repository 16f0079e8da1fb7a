"""Which browser origins may upload: the console's (status's own), plus configured ones."""

from __future__ import annotations

import pytest

from services.common.settings import SettingsError, load_settings
from services.ingest.config import IngestSettings

pytestmark = pytest.mark.unit

RANDOM_SECRET = "Zq8vN2kT5xRw0LmYb7Hc3Jf9Ps6Ud1Ge4Ai"


def test_the_consoles_origin_is_allowed_and_more_can_be_listed() -> None:
    settings = load_settings(
        IngestSettings,
        {
            "SLUICE_STATUS_BASE_URL": "https://status.example.com/base/",
            "SLUICE_CORS_ALLOW_ORIGINS": "http://localhost:5173, https://app.example.com",
        },
    )
    origins, methods, headers = settings.cors
    assert origins == (
        "https://status.example.com",
        "http://localhost:5173",
        "https://app.example.com",
    )
    assert "POST" in methods
    assert {"Authorization", "Idempotency-Key"} <= set(headers)
    assert load_settings(IngestSettings, {}).cors[0] == ("http://127.0.0.1:8001",)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SLUICE_CORS_ALLOW_ORIGINS": "https://app.example.com/path"}, "is not an origin"),
        (
            {
                "SLUICE_CORS_ALLOW_ORIGINS": "*",
                "SLUICE_ENV": "production",
                "SLUICE_JWT_SECRET": RANDOM_SECRET,
            },
            "may not be '\\*'",
        ),
    ],
)
def test_what_is_not_an_origin_is_refused_at_start(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        load_settings(IngestSettings, env)
