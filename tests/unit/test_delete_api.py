"""Unit tests of DELETE /v1/documents/{id}: who may delete what, the tombstone, a retry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from litestar.testing import TestClient

from schemas import topics
from schemas.events import DocumentDeleted, Origin
from services.common.auth import Principal, issue_token
from services.status.adapters.audit import AuditLog
from services.status.api import StatusController
from services.status.deleting import DocumentDeleter
from tests.fixtures.apps import SECRET, route_client
from tests.fixtures.cases import Case, case_ids
from tests.fixtures.fakes import MemoryDeletions, RecordingPublisher

pytestmark = pytest.mark.unit


class RecordingAudit(AuditLog):
    """Keeps what `record` is asked to write."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, str, str]] = []

    async def record(
        self, actor: Principal, scope: str, action: str, tenant_id: str, target: str
    ) -> None:
        self.recorded.append((actor.tenant, scope, action, tenant_id, target))


@dataclass
class Api:
    client: TestClient[Any]
    deletions: MemoryDeletions
    publisher: RecordingPublisher
    audit: RecordingAudit

    def delete(self, document: str, tenant: str = "t", *scopes: str) -> Any:
        token = issue_token(tenant, SECRET, scopes=scopes or ("documents:write",))
        return self.client.delete(
            f"/v1/documents/{document}", headers={"authorization": f"Bearer {token}"}
        )


@pytest.fixture
def api() -> Iterator[Api]:
    """Tenant t has document d1 (jobs j1, j2); tenant "other" has d9 (job j9)."""
    deletions = MemoryDeletions({("t", "d1"): ["j1", "j2"], ("other", "d9"): ["j9"]})
    publisher, audit = RecordingPublisher(), RecordingAudit()
    deleter = DocumentDeleter(deletions, publisher, Origin(service="status", instance="unit"))
    with route_client(
        "status", [StatusController], deleter=deleter, audit=audit, queries=None, search=None
    ) as client:
        yield Api(client, deletions, publisher, audit)


CASES = [
    # (tenant, scopes, document) -> (status, the tenant whose document went, audited)
    Case("own document", ("t", ("documents:write",), "d1"), (200, "t", False)),
    Case("another tenant's: 404", ("t", ("documents:write",), "d9"), (404, None, False)),
    Case("unknown document", ("t", ("documents:write",), "d5"), (404, None, False)),
    Case("read scope only", ("t", ("documents:read",), "d1"), (403, None, False)),
    Case("admin:jobs, another tenant's", ("t", ("admin:jobs",), "d9"), (200, "other", True)),
    Case("admin:jobs, own document", ("t", ("admin:jobs",), "d1"), (200, "t", False)),
    Case("admin:jobs, unknown document", ("t", ("admin:jobs",), "d5"), (404, None, False)),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_who_may_delete_which_document(api: Api, case: Case[Any, Any]) -> None:
    tenant, scopes, document = case.given
    status, owner, audited = case.expected

    response = api.delete(document, tenant, *scopes)

    assert response.status_code == status, response.text
    tombstones = api.publisher.events(topics.DOCUMENTS_DELETED)
    if status != 200:
        assert tombstones == []
        assert api.deletions.deleted == {}
        return
    (tombstone,) = tombstones
    assert isinstance(tombstone, DocumentDeleted)
    assert (tombstone.tenant_id, tombstone.document_id) == (owner, document)
    assert response.json()["deleted_jobs"] == tombstone.deleted_jobs
    assert api.publisher.to(topics.DOCUMENTS_DELETED)[0].key == document.encode()
    expected = [("t", "admin:jobs", "documents.delete", owner, document)] if audited else []
    assert api.audit.recorded == expected


def test_a_tombstone_lists_every_deleted_job_and_a_repeat_removes_nothing_more(api: Api) -> None:
    first = api.delete("d1").json()
    again = api.delete("d1")

    assert again.status_code == 200
    assert (first["jobs"], again.json()["jobs"]) == (2, 0)
    lists = [t.deleted_jobs for t in api.publisher.events(topics.DOCUMENTS_DELETED)]
    assert lists == [["j1", "j2"], ["j1", "j2"]], "a later record still names every job"


def test_kafka_down_answers_503_and_a_repeated_delete_announces_it(api: Api) -> None:
    api.publisher.fail_next.append(KafkaConnectionError())

    refused = api.delete("d1")
    again = api.delete("d1")

    assert refused.status_code == 503
    assert "repeat the DELETE" in refused.json()["detail"]
    assert again.status_code == 200
    (tombstone,) = api.publisher.events(topics.DOCUMENTS_DELETED)
    assert tombstone.deleted_jobs == ["j1", "j2"]


def test_options_on_a_document_allows_every_method_it_documents(api: Api) -> None:
    from tests.e2e.test_api_contract import DOCUMENTS

    documented = DOCUMENTS["status"]["paths"]["/v1/documents/{document_id}"]

    response = api.client.options("/v1/documents/d1")

    assert response.status_code == 204
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed == {m.upper() for m in documented} | {"OPTIONS"}
