"""The HTTP settings both APIs share: explicit CORS, the docs UI per mode, /metrics placement."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from services.common.http import Check, create_app
from services.common.settings import CommonSettings, load_settings

pytestmark = pytest.mark.unit

JWKS = "https://idp.example.com/.well-known/jwks.json"
ORIGIN = "https://console.example.com"


async def _ready() -> dict[str, Check]:
    return {}


def _client(environ: dict[str, str]) -> TestClient[Any]:
    return TestClient(create_app("status", _ready, settings=load_settings(CommonSettings, environ)))


def _preflight(client: TestClient[Any], origin: str) -> Any:
    return client.options(
        "/health/live",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization",
        },
    )


def test_cors_answers_only_the_configured_origins() -> None:
    environ = {"SLUICE_CORS_ALLOW_ORIGINS": ORIGIN, "SLUICE_CORS_ALLOW_METHODS": "GET,POST"}
    with _client(environ) as client:
        allowed = _preflight(client, ORIGIN)
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert set(allowed.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
        assert "access-control-allow-credentials" not in allowed.headers

        other = _preflight(client, "https://evil.example.com")
        assert "access-control-allow-origin" not in other.headers

        simple = client.get("/health/live", headers={"origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN


def test_no_origins_no_cors_headers() -> None:
    with _client({}) as client:
        response = client.get("/health/live", headers={"origin": ORIGIN})
        assert "access-control-allow-origin" not in response.headers


UI = [
    ("development", {}, 200),
    ("production", {"SLUICE_ENV": "production", "SLUICE_JWT_JWKS_URL": JWKS}, 404),
    (
        "production, enabled",
        {"SLUICE_ENV": "production", "SLUICE_JWT_JWKS_URL": JWKS, "SLUICE_DOCS_UI": "true"},
        200,
    ),
    ("development, disabled", {"SLUICE_DOCS_UI": "false"}, 404),
]


@pytest.mark.parametrize(("mode", "environ", "status"), UI, ids=[u[0] for u in UI])
def test_the_docs_ui_is_served_in_development_or_when_enabled(
    mode: str, environ: dict[str, str], status: int
) -> None:
    with _client(environ) as client:
        assert client.get("/schema/swagger").status_code == status, mode
        assert client.get("/schema/openapi.json").status_code == 200, "the document always is"


def test_metrics_leave_the_service_port_when_given_their_own() -> None:
    with _client({}) as client:
        assert client.get("/metrics").status_code == 200
    with _client({"SLUICE_METRICS_PORT": "9464"}) as client:
        assert client.get("/metrics").status_code == 404
        assert client.app.state["metrics_port"] == 9464
