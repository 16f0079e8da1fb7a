"""GET /v1/dead-letters: who sees which records, and what a bad request gets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from schemas import topics
from services.common.auth import Principal, issue_token
from services.status.adapters.audit import AuditLog
from services.status.deadletters import (
    DLQ_TOPICS,
    DeadLetterController,
    DeadLetterReader,
    DeadLettersUnavailableError,
    DeadLetterView,
)
from tests.fixtures.apps import SECRET, route_client

pytestmark = pytest.mark.unit

DLQ = topics.dlq(topics.DOCUMENTS_UPLOADED)


def _record(tenant: str | None, offset: int) -> DeadLetterView:
    return DeadLetterView(
        ref=f"{DLQ}/0/{offset}",
        topic=DLQ,
        partition=0,
        offset=offset,
        timestamp=datetime(2024, 5, 6, tzinfo=UTC),
        code="blob_missing",
        message="gone",
        error_type=None,
        stage="parse",
        original_topic=topics.DOCUMENTS_UPLOADED,
        original_partition=0,
        original_offset=offset,
        attempts=1,
        consumer_group="g",
        event_type="DocumentUploaded" if tenant else None,
        tenant_id=tenant,
        job_id=f"j{offset}" if tenant else None,
        document_id=None,
        key=None,
    )


class Reader(DeadLetterReader):
    """Records of tenants t and u and one poison record; remembers what it was asked."""

    def __init__(self, *, down: bool = False) -> None:
        super().__init__("unused:9092")
        self.asked: list[tuple[object, ...]] = []
        self.down = down
        self.records = [_record("t", 1), _record("u", 2), _record(None, 3)]

    async def newest(
        self, names: Sequence[str], limit: int, tenant: str | None
    ) -> list[DeadLetterView]:
        self.asked.append((tuple(names), limit, tenant))
        if self.down:
            raise DeadLettersUnavailableError("no brokers")
        return [r for r in self.records if tenant is None or r.tenant_id == tenant][:limit]

    async def one(
        self, topic: str, partition: int, offset: int, tenant: str | None
    ) -> DeadLetterView | None:
        self.asked.append((topic, partition, offset, tenant))
        found = [r for r in self.records if (r.topic, r.offset) == (topic, offset)]
        return next((r for r in found if tenant is None or r.tenant_id == tenant), None)


class Audit(AuditLog):
    """Remembers each cross-tenant read it is told of."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, str]] = []

    async def record(
        self, actor: Principal, scope: str, action: str, tenant_id: str, target: str
    ) -> None:
        self.recorded.append((scope, action, tenant_id, target))


AUDIT = Audit()


def _client(reader: Reader) -> TestClient[Any]:
    return route_client("status", [DeadLetterController], dead_letters=reader, audit=AUDIT)


@pytest.fixture
def reader() -> Reader:
    return Reader()


@pytest.fixture
def client(reader: Reader) -> Iterator[TestClient[Any]]:
    with _client(reader) as test_client:
        yield test_client


def _as(tenant: str, *scopes: str) -> dict[str, str]:
    token = issue_token(tenant, SECRET, scopes=scopes or ("documents:read",))
    return {"Authorization": f"Bearer {token}"}


def test_a_tenant_sees_its_own_records_and_an_admin_all(
    client: TestClient[Any],
    reader: Reader,
) -> None:
    mine = client.get("/v1/dead-letters", headers=_as("t"))
    assert [r["job_id"] for r in mine.json()["records"]] == ["j1"]
    assert reader.asked[-1] == (DLQ_TOPICS, 50, "t")
    everything = client.get("/v1/dead-letters?limit=10", headers=_as("ops", "admin:pipeline"))
    assert [r["offset"] for r in everything.json()["records"]] == [1, 2, 3]
    assert reader.asked[-1] == (DLQ_TOPICS, 10, None)
    assert AUDIT.recorded[-1] == ("admin:pipeline", "dead_letters.list", "*", "*")
    old_admin = client.get("/v1/dead-letters?limit=10", headers=_as("ops", "admin"))
    assert old_admin.status_code == 403, "`admin` alone grants nothing since scopes are explicit"
    one = client.get(f"/v1/dead-letters/{topics.DOCUMENTS_UPLOADED}", headers=_as("t"))
    assert one.status_code == 404


def test_one_record_by_its_place_only_for_whom_it_names(
    client: TestClient[Any],
) -> None:
    assert client.get(f"/v1/dead-letters/{DLQ}/0/1", headers=_as("t")).json()["job_id"] == "j1"
    assert client.get(f"/v1/dead-letters/{DLQ}/0/2", headers=_as("t")).status_code == 404
    assert client.get(f"/v1/dead-letters/{DLQ}/0/3", headers=_as("t")).status_code == 404
    admin = client.get(f"/v1/dead-letters/{DLQ}/0/3", headers=_as("ops", "admin:pipeline"))
    assert admin.status_code == 200


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/dead-letters", {}, 401),
        ("/v1/dead-letters?topic=sluice.nope", _as("t"), 400),
        ("/v1/dead-letters?limit=0", _as("t"), 400),
        ("/v1/dead-letters", _as("t", "documents:write"), 403),
    ],
)
def test_bad_requests_are_problems(
    client: TestClient[Any],
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_topic_filter_names_one_dead_letter_topic(
    client: TestClient[Any],
    reader: Reader,
) -> None:
    for name in (topics.DOCUMENTS_PARSED, topics.dlq(topics.DOCUMENTS_PARSED)):
        assert client.get(f"/v1/dead-letters?topic={name}", headers=_as("t")).status_code == 200
        assert reader.asked[-1][0] == (topics.dlq(topics.DOCUMENTS_PARSED),)


def test_kafka_down_is_a_503() -> None:
    with _client(Reader(down=True)) as client:
        response = client.get("/v1/dead-letters", headers=_as("t"))
    assert response.status_code == 503
    assert "no brokers" in response.json()["detail"]
