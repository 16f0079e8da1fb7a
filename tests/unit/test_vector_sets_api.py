"""Unit tests of the admin vector-set routes: the scope, the audit before the action, and bodies
taken as the schema says (no `0` for `false`, no `"5"` for 5), over an in-memory admin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.di import Provide
from litestar.testing import TestClient

from services.common.auth import ADMIN_REPLAY, Principal, TokenVerifier, issue_token
from services.common.http import Check, create_app
from services.common.vectors.sets import VectorSet, VectorSetKey, VectorSetView
from services.status.adapters.audit import AuditLog
from services.status.vector_sets import Activation, Pruning, VectorSetAdmin
from services.status.vector_sets_api import VectorSetController

pytestmark = pytest.mark.unit

SECRET = "unit-test-secret-that-is-long-enough-to-sign"
SET = VectorSetView.of(
    VectorSet(
        id=2,
        key=VectorSetKey("all-MiniLM-L6-v2", 384, 64, 8),
        table="chunks_2",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
)


class RecordingAdmin(VectorSetAdmin):
    """Records each call; activates and prunes nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def activate(self, tenant_id: str, model: str, **options: Any) -> Activation:
        self.calls.append(("activate", {"tenant_id": tenant_id, "model": model, **options}))
        return Activation(tenant_id=tenant_id, active=SET, previous=None)

    async def prune(self, *, dry_run: bool, force: bool) -> Pruning:
        self.calls.append(("prune", {"dry_run": dry_run, "force": force}))
        return Pruning(dry_run=dry_run, dropped=[], kept=[])


class RecordingAudit(AuditLog):
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    async def record(
        self, actor: Principal, scope: str, action: str, tenant_id: str, target: str
    ) -> None:
        self.recorded.append((scope, action, tenant_id))


class Api:
    def __init__(self, client: TestClient[Any], admin: RecordingAdmin, audit: RecordingAudit):
        self.client, self.admin, self.audit = client, admin, audit

    def post(self, path: str, body: dict[str, Any], *scopes: str) -> Any:
        token = issue_token("ops", SECRET, scopes=scopes or (ADMIN_REPLAY,))
        return self.client.post(path, json=body, headers={"authorization": f"Bearer {token}"})


@pytest.fixture
def api() -> Iterator[Api]:
    admin, audit = RecordingAdmin(), RecordingAudit()

    async def ready() -> dict[str, Check]:
        return {}

    app = create_app(
        "status",
        ready,
        [VectorSetController],
        verifier=TokenVerifier(secret=SECRET, jwks=None),
        dependencies={
            "vector_sets": Provide(lambda: admin, sync_to_thread=False),
            "audit": Provide(lambda: audit, sync_to_thread=False),
        },
    )
    with TestClient(app) as client:
        yield Api(client, admin, audit)


ACTIVATE = "/v1/admin/vector-sets/activate"
PRUNE = "/v1/admin/vector-sets/prune"
REFUSED = [
    # (description, path, body): each was taken by Litestar's coercing decoder
    ("an integer for a boolean", PRUNE, {"force": 0}),
    ("a string for a boolean", PRUNE, {"dry_run": "true"}),
    (
        "a string for an integer",
        ACTIVATE,
        {"tenant_id": "acme", "embedding_model": "m", "set_id": "2"},
    ),
]


@pytest.mark.parametrize(("description", "path", "body"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_body_of_the_wrong_json_types_is_400_and_nothing_is_done(
    api: Api, description: str, path: str, body: dict[str, Any]
) -> None:
    response = api.post(path, body)

    assert response.status_code == 400, f"{description}: {response.text}"
    assert response.headers["content-type"] == "application/problem+json"
    assert "Invalid body: Expected" in response.json()["detail"]
    assert api.admin.calls == []
    assert api.audit.recorded == []


def test_a_whole_number_written_as_a_float_is_an_integer(api: Api) -> None:
    body = {"tenant_id": "acme", "embedding_model": "all-MiniLM-L6-v2", "chunk_tokens": 64.0}

    response = api.post(ACTIVATE, body)

    assert response.status_code == 200, response.text
    assert response.json()["active"]["set_id"] == 2
    assert api.admin.calls == [
        (
            "activate",
            {
                "tenant_id": "acme",
                "model": "all-MiniLM-L6-v2",
                "chunk_tokens": 64,
                "chunk_overlap": None,
                "set_id": None,
                "force": False,
            },
        )
    ]
    assert api.audit.recorded == [(ADMIN_REPLAY, "vectors.activate", "acme")]


def test_the_routes_need_admin_replay(api: Api) -> None:
    response = api.post(PRUNE, {}, "documents:read", "documents:write", "admin:jobs")

    assert response.status_code == 403, response.text
    assert api.admin.calls == []
    assert api.post(PRUNE, {"dry_run": True}).status_code == 200
    assert api.admin.calls == [("prune", {"dry_run": True, "force": False})]
    assert api.audit.recorded == []  # a dry run changes nothing: not audited
