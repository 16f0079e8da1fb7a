"""Unit tests of the upload route: the scope is checked before the body is read, and the
OpenAPI document describes the multipart body, the bearer scheme and every error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from services.common.auth import issue_token
from tests.fixtures.apps import SECRET
from tests.fixtures.ingest import AsgiUpload, RecordingIngest, ingest_app

pytestmark = pytest.mark.unit


async def _post(ingest: RecordingIngest, headers: dict[str, str]) -> tuple[int, bytes, int]:
    """POST the multipart BODY straight through ASGI; (status, body, receive() calls)."""
    upload = AsgiUpload(ingest_app(ingest), headers)
    status, _, body = await upload.now()
    return status, body, upload.reads


def _bearer(*scopes: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token('t', SECRET, scopes=scopes)}"}


CASES = [
    ("no token", {}, 401),
    ("a read-only token", _bearer("documents:read"), 403),
    ("the retired 'admin' scope", _bearer("admin"), 403),
    ("a token with the write scope", _bearer("documents:write"), 202),
]


@pytest.mark.parametrize(("description", "headers", "status"), CASES, ids=[c[0] for c in CASES])
def test_the_scope_is_checked_before_the_body_is_read(
    description: str, headers: dict[str, str], status: int
) -> None:
    ingest = RecordingIngest()
    code, body, reads = asyncio.run(_post(ingest, headers))

    assert code == status, body
    if status == 202:
        assert reads >= 1
        assert ingest.accepted == [("t", b"Steep green tea for two minutes.", None, None)]
    else:
        assert reads == 0, f"{description}: the body was read before the scope was checked"
        assert ingest.accepted == []
        assert b'"status":' + str(status).encode() in body


@pytest.fixture
def client() -> Iterator[TestClient[Any]]:
    with TestClient(ingest_app(RecordingIngest())) as test_client:
        yield test_client


def test_a_401_is_problem_json_and_names_the_scheme(client: TestClient[Any]) -> None:
    response = client.post("/v1/documents", files={"file": ("a.txt", b"x")})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("missing Authorization header")


@pytest.mark.parametrize(
    ("key", "status"), [("k" * 255, 202), ("k" * 256, 400), ("", 400)], ids=["255", "256", "empty"]
)
def test_idempotency_key_length(client: TestClient[Any], key: str, status: int) -> None:
    response = client.post(
        "/v1/documents",
        files={"file": ("a.txt", b"x")},
        headers={**_bearer("documents:write"), "idempotency-key": key},
    )
    assert response.status_code == status, response.text


def test_the_openapi_document_describes_the_upload(client: TestClient[Any]) -> None:
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/v1/documents"]["post"]

    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"]
    assert body["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "The document; its type is sniffed from the bytes",
    }
    assert body["properties"]["metadata"]["type"] == "string"
    assert operation["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
    assert errors == {"400", "401", "403", "409", "413", "415", "422", "429", "503"}
    for code in errors:
        content = operation["responses"][code]["content"]
        assert list(content) == ["application/problem+json"], code
    for code in ("429", "503"):
        retry_after = operation["responses"][code]["headers"]["Retry-After"]
        assert retry_after["required"] is True and retry_after["schema"]["type"] == "integer"
    assert operation["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadAccepted"
    }
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["schema"]["maxLength"] == 255
