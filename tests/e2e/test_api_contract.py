"""Both HTTP APIs keep their OpenAPI contract under generated and hostile input.

schemathesis reads each service's own `/schema/openapi.json` and sends what the document
allows and what it does not (bounded, derandomized), with valid tokens of two tenants; every
answer must be declared (status, media type, body schema) and none may be a 5xx. Then the
inputs that were 500s before (NUL bytes, deep JSON, wrong claim types, over-long ids) are
sent by hand. The services run as processes on the session's Kafka and a database of their
own: ingest and status only (no parser or embedder; status searches with the hashing model).
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.generation.case import Case

from infra.local.stack import Stack
from services.common.auth import ADMIN_JOBS, ADMIN_REPLAY, issue_token
from tests.fixtures.pipeline import own_stack

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
TENANTS = (f"contract-a-{RUN}", f"contract-b-{RUN}")
SECRET = secrets.token_hex(32)  # the services' HS256 secret, for this module only
EXAMPLES = settings(
    max_examples=60,
    derandomize=True,  # the same cases on every run
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api_stack(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Ingest and status on free ports, against the session's Kafka and a fresh database."""
    with own_stack(
        tmp_path_factory.mktemp("contract"),
        database_url,
        database="contract",
        kafka_bootstrap=kafka_bootstrap,
        env={"SLUICE_JWT_SECRET": SECRET},
        replicas={"ingest": 1, "status": 1},
        group_suffix=RUN,
    ) as stack:
        yield stack


def _document(service: str) -> dict[str, Any]:
    """The OpenAPI document of `service`, built from its routes in this process (no I/O):
    schemathesis collects the tests from it; the test checks the service serves the same."""
    from litestar.di import Provide

    from services.common.auth import TokenVerifier
    from services.common.http import Check, create_app
    from services.ingest.api import upload_document
    from services.status.admin import AdminController
    from services.status.api import StatusController
    from services.status.deadletters import DeadLetterController
    from services.status.pipeline import PipelineController
    from services.status.streams import JobStreamController
    from services.status.vector_sets_api import VectorSetController

    async def ready() -> dict[str, Check]:
        return {}

    routes: dict[str, tuple[list[Any], tuple[str, ...]]] = {
        "ingest": ([upload_document], ("ingest",)),
        "status": (
            [
                JobStreamController,
                StatusController,
                DeadLetterController,
                AdminController,
                VectorSetController,
                PipelineController,
            ],
            (
                "queries",
                "search",
                "redriver",
                "audit",
                "dead_letters",
                "replays",
                "vector_sets",
                "changes",
                "pipeline",
                "deleter",
            ),
        ),
    }
    route, needs = routes[service]
    app = create_app(
        service,
        ready,
        route,
        verifier=TokenVerifier(secret="x" * 32, jwks=None),
        dependencies={name: Provide(lambda: None, sync_to_thread=False) for name in needs},
    )
    return app.openapi_schema.to_schema()


DOCUMENTS = {service: _document(service) for service in ("ingest", "status")}
ingest_api = schemathesis.openapi.from_dict(DOCUMENTS["ingest"])
# The tenant's event stream answers 200 and never ends (a heartbeat comment every 15 s), so a
# generated call to it could only time out: it is left out here and tested end to end in
# tests/e2e/test_job_events.py. A job's stream (404 for a generated id) stays in.
status_api = schemathesis.openapi.from_dict(DOCUMENTS["status"]).exclude(
    path="/v1/jobs/events", method="GET"
)
# What no schema can say about an upload: the bytes must be a supported document (415), an
# archive within limits (422), the metadata text a JSON object without NUL (400), the tenant
# within its upload limits (429). A schema-valid upload may get these; anything else (above
# all a 5xx) still fails.
ingest_api.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2xx", "400", "401", "403", "409", "413", "415", "422", "429"]
)
# Nor which embedding models a deployment can load: a schema-valid reprocess or activation
# naming another model is 422 (the detail lists the models there are); nor that a replay
# names exactly one of to_time and to_offset, with a time zone (400 with the reason).
status_api.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]
)


class TwoTenants:
    """Valid tokens of two tenants in turn: A (read, write) and B (read, write, admin:jobs,
    admin:replay: the vector-set routes).

    Registered as the schemas' auth, so schemathesis leaves the header out of the cases that
    test a missing token (and expects the 401 they get).
    """

    tokens = itertools.cycle(
        [
            issue_token(TENANTS[0], SECRET),
            issue_token(
                TENANTS[1],
                SECRET,
                scopes=("documents:read", "documents:write", ADMIN_JOBS, ADMIN_REPLAY),
            ),
        ]
    )

    def get(self, case: Case, context: Any) -> str:
        return next(self.tokens)

    def set(self, case: Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


for _schema in (ingest_api, status_api):
    _schema.auth(refresh_interval=None)(TwoTenants)


@pytest.fixture(scope="module")
def served(api_stack: Stack) -> dict[str, str]:
    """Base URL per service, once each serves the document the tests were generated from."""
    urls = {"ingest": api_stack.ingest_url, "status": api_stack.status_url}
    for service, url in urls.items():
        document = httpx.get(f"{url}/schema/openapi.json", timeout=30).json()
        assert document == DOCUMENTS[service], (
            f"{service} serves another OpenAPI document than _document() builds: a route or a"
            f" dependency was added in services/{service}/inject.py; add it to _document() so"
            f" that schemathesis tests it. Served paths: {sorted(document['paths'])}"
        )
    return urls


@ingest_api.parametrize()
@EXAMPLES
def test_ingest_keeps_its_contract(case: Case, served: dict[str, str]) -> None:
    case.call_and_validate(base_url=served["ingest"], timeout=30)


@status_api.parametrize()
@EXAMPLES
def test_status_keeps_its_contract(case: Case, served: dict[str, str]) -> None:
    case.call_and_validate(base_url=served["status"], timeout=30)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


def _bearer(tenant: str = TENANTS[0], **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(tenant, SECRET, **claims)}"}


DEEP = "[" * 100_000 + "]" * 100_000
# Each of these reached Postgres (NUL in a text parameter or in jsonb) or msgspec's recursion
# limit and was answered 500 before.
HOSTILE_STATUS = [
    ("NUL in a job id", "GET", "/v1/jobs/j%00b", None),
    ("NUL in a document id", "GET", "/v1/documents/%00", None),
    ("NUL in the cursor", "GET", "/v1/jobs?cursor=a%00", None),
    ("NUL in a retried job id", "POST", "/v1/jobs/j%00/retry", None),
    ("a job id of 10,000 characters", "GET", "/v1/jobs/" + "j" * 10_000, None),
    (
        "search body nested 100,000 levels",
        "POST",
        "/v1/search",
        '{"query": "x", "a": ' + DEEP + "}",
    ),
]


@pytest.mark.parametrize(
    ("description", "method", "path", "body"), HOSTILE_STATUS, ids=[c[0] for c in HOSTILE_STATUS]
)
def test_hostile_status_requests_are_400(
    served: dict[str, str], description: str, method: str, path: str, body: str | None
) -> None:
    headers = {**_bearer(), "content-type": "application/json"}
    response = httpx.request(
        method, served["status"] + path, headers=headers, content=body, timeout=30
    )
    _problem(response, 400)


HOSTILE_METADATA = [
    ("a NUL in a value", '{"source": "crm\\u0000"}', "NUL"),
    ("a NUL in a key", '{"so\\u0000urce": 1}', "NUL"),
    ("nested 5,000 levels", '{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 32"),
]


@pytest.mark.parametrize(
    ("description", "metadata", "reason"), HOSTILE_METADATA, ids=[c[0] for c in HOSTILE_METADATA]
)
def test_hostile_upload_metadata_is_400(
    served: dict[str, str], description: str, metadata: str, reason: str
) -> None:
    response = httpx.post(
        served["ingest"] + "/v1/documents",
        headers=_bearer(),
        files={"file": ("tea.txt", b"Steep for three minutes.", "text/plain")},
        data={"metadata": metadata},
        timeout=30,
    )
    assert reason in _problem(response, 400)["detail"]


BAD_CLAIMS = [
    ("scope an integer", TENANTS[0], {"scope": 7}, "claim 'scope' must be"),
    ("tenant with a NUL", "acme\x00", {}, "printable"),
    ("tenant of 300 characters", "t" * 300, {}, "1-128"),
]


@pytest.mark.parametrize(
    ("description", "tenant", "claims", "reason"), BAD_CLAIMS, ids=[c[0] for c in BAD_CLAIMS]
)
def test_validly_signed_tokens_with_wrong_claims_are_401_on_both(
    served: dict[str, str], description: str, tenant: str, claims: dict[str, Any], reason: str
) -> None:
    headers = _bearer(tenant, **claims)
    answers = [
        httpx.get(served["status"] + "/v1/jobs", headers=headers, timeout=30),
        httpx.post(
            served["ingest"] + "/v1/documents",
            headers=headers,
            files={"file": ("tea.txt", b"Steep.", "text/plain")},
            timeout=30,
        ),
    ]
    for response in answers:
        assert reason in _problem(response, 401)["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
