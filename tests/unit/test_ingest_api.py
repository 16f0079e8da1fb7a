"""Unit tests of the upload route: the scope is checked before the body is read, and the
OpenAPI document describes the multipart body, the bearer scheme and every error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from services.common.auth import Principal, TokenVerifier, issue_token
from services.common.http import Check, create_app
from services.ingest.api import upload_document
from services.ingest.service import IngestService, UploadAccepted

pytestmark = pytest.mark.unit

SECRET = "unit-test-secret-that-is-long-enough-to-sign"
BODY = (
    b'--b\r\ncontent-disposition: form-data; name="file"; filename="tea.txt"\r\n'
    b"content-type: text/plain\r\n\r\nSteep green tea for two minutes.\r\n--b--\r\n"
)


class RecordingIngest(IngestService):
    """Accepts every upload and remembers it; no storage, no Kafka."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, bytes, str | bytes | None, str | None]] = []

    async def accept(
        self,
        principal: Principal,
        *,
        data: bytes,
        filename: str | None,
        metadata_json: str | bytes | None,
        idempotency_key: str | None,
    ) -> UploadAccepted:
        self.accepted.append((principal.tenant, data, metadata_json, idempotency_key))
        return UploadAccepted(job_id="j1", document_id="d1", status="queued", links={})


def _app(ingest: RecordingIngest) -> Litestar:
    async def ready() -> dict[str, Check]:
        return {}

    return create_app(
        "ingest",
        ready,
        [upload_document],
        verifier=TokenVerifier(secret=SECRET, jwks=None),
        dependencies={"ingest": Provide(lambda: ingest, sync_to_thread=False)},
    )


async def _post(app: Litestar, headers: dict[str, str]) -> tuple[int, bytes, int]:
    """POST the multipart BODY straight through ASGI; (status, body, receive() calls)."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/documents",
        "raw_path": b"/v1/documents",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", str(len(BODY)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, reads


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
    code, body, reads = asyncio.run(_post(_app(ingest), headers))

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
    with TestClient(_app(RecordingIngest())) as test_client:
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
