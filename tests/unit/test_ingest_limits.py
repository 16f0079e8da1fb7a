"""The upload door's limits over in-memory ports: the process's cap (503) and the tenant's
limits (429) are checked before the body is read, every refusal says when to retry, and what
an upload took is given back however it ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from prometheus_client import REGISTRY

from schemas.events import Origin
from services.common.auth import Principal, TokenVerifier, issue_token
from services.common.http import Check, create_app
from services.ingest.api import upload_document
from services.ingest.core.limits import LimitedError, TenantLimits
from services.ingest.core.uploads import UploadRejectedError
from services.ingest.limits import LIMITER_STATE, Limiter
from services.ingest.relay import Deliveries
from services.ingest.service import IngestService, UploadAccepted
from tests.fixtures.fakes import MemoryTenantUsage, MemoryUploadsStore, RecordingPublisher

pytestmark = pytest.mark.unit

SECRET = "unit-test-secret-that-is-long-enough-to-sign"
BODY = (
    b'--b\r\ncontent-disposition: form-data; name="file"; filename="tea.txt"\r\n'
    b"content-type: text/plain\r\n\r\nSteep green tea for two minutes.\r\n--b--\r\n"
)


class Answering(IngestService):
    """Accepts every upload (or refuses it, when `refuse` is set); no storage, no Kafka."""

    def __init__(self, refuse: UploadRejectedError | None = None) -> None:
        self.refuse = refuse

    async def accept(self, principal: Principal, **_: Any) -> UploadAccepted:
        if self.refuse is not None:
            raise self.refuse
        return UploadAccepted(job_id="j", document_id="d", status="queued", links={})


def _app(limiter: Limiter, ingest: IngestService | None = None) -> Litestar:
    async def ready() -> dict[str, Check]:
        return {}

    service = ingest or Answering()
    app = create_app(
        "ingest",
        ready,
        [upload_document],
        verifier=TokenVerifier(secret=SECRET, jwks=None),
        dependencies={"ingest": Provide(lambda: service, sync_to_thread=False)},
    )
    app.state[LIMITER_STATE] = limiter
    return app


class Upload:
    """One POST /v1/documents straight through ASGI; its body arrives when `arrive` is set."""

    def __init__(self, app: Litestar, tenant: str = "acme", scopes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.token = issue_token(tenant, SECRET, scopes=scopes or ("documents:write",))
        self.arrive = asyncio.Event()
        self.reads = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        await self.arrive.wait()
        self.reads += 1
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(self) -> tuple[int, dict[str, str]]:
        """(status, headers) of the answer."""
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
                (b"authorization", f"Bearer {self.token}".encode()),
            ],
            "state": {},
        }
        await self.app(scope, self.receive, self.send)  # type: ignore[arg-type]
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], headers

    async def now(self) -> tuple[int, dict[str, str]]:
        """The answer when the body is there at once."""
        self.arrive.set()
        return await self.run()


async def _held(limiter: Limiter, uploads: list[Upload]) -> list[asyncio.Task[Any]]:
    """Start `uploads` and wait until each is admitted and waiting for its body."""
    tasks = [asyncio.create_task(upload.run()) for upload in uploads]
    while limiter.in_flight < len(uploads):
        await asyncio.sleep(0.001)
    return tasks


def _limiter(usage: MemoryTenantUsage, max_in_flight: int = 0) -> Limiter:
    return Limiter(usage, holder="ingest-a", max_in_flight=max_in_flight, heartbeat_s=1)


async def test_over_the_process_cap_is_a_503_with_retry_after_before_the_body_is_read() -> None:
    limiter = _limiter(MemoryTenantUsage(), max_in_flight=2)
    app = _app(limiter)
    held = [Upload(app, tenant) for tenant in ("acme", "globex")]
    tasks = await _held(limiter, held)

    over = Upload(app, "initech")
    status, headers = await over.now()

    assert (status, headers["retry-after"]) == (503, "1")
    assert headers["content-type"] == "application/problem+json"
    assert over.reads == 0, "the body was read before the cap was checked"
    for upload in held:
        upload.arrive.set()
    assert [(await task)[0] for task in tasks] == [202, 202]
    assert (await Upload(app).now())[0] == 202, "a place is free again"
    assert limiter.in_flight == 0


async def test_a_tenant_over_its_rate_gets_429_with_retry_after_and_others_go_on() -> None:
    usage = MemoryTenantUsage(TenantLimits(uploads_per_window=2))
    app = _app(_limiter(usage))

    answers = [await Upload(app, "acme").now() for _ in range(3)]
    refused = Upload(app, "acme")

    assert [status for status, _ in answers] == [202, 202, 429]
    assert int(answers[2][1]["retry-after"]) >= 1
    assert (await refused.now())[0] == 429 and refused.reads == 0
    assert (await Upload(app, "globex").now())[0] == 202
    usage.new_window()
    assert (await Upload(app, "acme").now())[0] == 202


async def test_a_tenant_at_its_concurrent_uploads_gets_429_until_one_ends() -> None:
    usage = MemoryTenantUsage(TenantLimits(concurrent_uploads=2))
    limiter = _limiter(usage)
    app = _app(limiter)
    held = [Upload(app, "acme"), Upload(app, "acme")]
    tasks = await _held(limiter, held)

    status, headers = await Upload(app, "acme").now()
    other = await Upload(app, "globex").now()
    held[0].arrive.set()
    await tasks[0]
    after_one_ended = await Upload(app, "acme").now()
    held[1].arrive.set()
    await tasks[1]

    assert (status, headers["retry-after"]) == (429, "1")
    assert (other[0], after_one_ended[0]) == (202, 202)
    assert usage.slots["acme"] == 0


@pytest.mark.parametrize(
    ("description", "scopes", "token", "status"),
    [
        ("no token", (), False, 401),
        ("a read-only token", ("documents:read",), True, 403),
    ],
)
async def test_a_request_the_guard_refuses_costs_the_tenant_nothing(
    description: str, scopes: tuple[str, ...], token: bool, status: int
) -> None:
    usage = MemoryTenantUsage(TenantLimits(uploads_per_window=1, concurrent_uploads=1))
    upload = Upload(_app(_limiter(usage)), "acme", scopes)
    if not token:
        upload.token = ""

    assert (await upload.now())[0] == status
    assert upload.reads == 0
    assert usage.uploads["acme"] == 0 and usage.slots["acme"] == 0


async def test_the_slot_is_given_back_however_the_upload_ends() -> None:
    usage = MemoryTenantUsage(TenantLimits(concurrent_uploads=1))
    limiter = _limiter(usage)
    refusing = _app(limiter, Answering(UploadRejectedError(415, "Unsupported", "not a document")))

    assert (await Upload(refusing).now())[0] == 415
    assert (await Upload(refusing).now())[0] == 415, "the first upload's slot was given back"
    assert usage.slots["acme"] == 0 and limiter.in_flight == 0


async def test_a_failed_release_is_given_back_by_the_next_heartbeat() -> None:
    usage = MemoryTenantUsage(TenantLimits(concurrent_uploads=1))
    limiter = _limiter(usage)
    app = _app(limiter)
    held = Upload(app)
    (task,) = await _held(limiter, [held])

    usage.down = True  # the database goes away while the upload runs
    held.arrive.set()
    assert (await task)[0] == 202
    assert usage.slots["acme"] == 1, "the release failed"
    usage.down = False
    await limiter.beat()

    assert usage.beats == [{"acme": 1}]
    assert usage.slots["acme"] == 0
    await limiter.beat()
    assert usage.beats[-1] == {}, "given back once"


def _ingest(usage: MemoryTenantUsage) -> IngestService:
    uploads, publisher = MemoryUploadsStore(), RecordingPublisher()
    origin = Origin(service="ingest", instance="unit")
    return IngestService(
        uploads=uploads,
        deliveries=Deliveries(uploads=uploads, publisher=publisher, origin=origin),
        holder="ingest-unit",
        max_upload_bytes=1024,
        status_base_url="http://status.test",
        usage=usage,
    )


async def test_the_byte_quota_counts_stored_uploads_only() -> None:
    usage = MemoryTenantUsage(TenantLimits(bytes_per_window=100))
    ingest = _ingest(usage)
    alice = Principal("alice", "acme", frozenset({"documents:write"}))

    async def upload(data: bytes, key: str | None = None) -> None:
        await ingest.accept(
            alice, data=data, filename="a.txt", metadata_json=None, idempotency_key=key
        )

    limited_before = _limited_count()
    await upload(b"a" * 60, key="k1")
    await upload(b"a" * 60, key="k1")  # a keyed retry stores nothing new
    with pytest.raises(UploadRejectedError) as unsupported:
        await upload(b"\x00\x01\x02" * 10)  # refused for its content: stores nothing
    with pytest.raises(LimitedError) as over:
        await upload(b"b" * 41)
    with pytest.raises(LimitedError) as larger:
        await upload(b"c" * 101)
    await upload(b"d" * 40)

    assert unsupported.value.status == 415
    assert (over.value.status, over.value.retry_after_s) == (429, 30)
    assert larger.value.status == 413 and "whole quota of 100 bytes" in larger.value.detail
    assert usage.bytes["acme"] == 100
    assert _limited_count() == limited_before + 2, "both refusals are in sluice_uploads_total"


def _limited_count() -> float:
    return (
        REGISTRY.get_sample_value("sluice_uploads_total", {"tenant": "acme", "outcome": "limited"})
        or 0.0
    )
