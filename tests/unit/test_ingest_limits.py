"""The upload door's limits over in-memory ports: the process's cap (503) and the tenant's
limits (429) are checked before the body is read, every refusal says when to retry, and what
an upload took is given back however it ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from prometheus_client import REGISTRY

from services.common.auth import Principal, issue_token
from services.ingest.core.limits import LimitedError, TenantLimits
from services.ingest.core.uploads import UploadRejectedError
from services.ingest.limits import Limiter
from services.ingest.service import IngestService
from tests.fixtures.apps import SECRET
from tests.fixtures.fakes import MemoryTenantUsage
from tests.fixtures.ingest import AsgiUpload, RecordingIngest, ingest_app, memory_ingest

pytestmark = pytest.mark.unit


def _app(limiter: Limiter, ingest: IngestService | None = None) -> Litestar:
    return ingest_app(ingest or RecordingIngest(), limiter)


class Upload(AsgiUpload):
    """One upload by `tenant` with a token of `scopes` (documents:write unless given)."""

    def __init__(self, app: Litestar, tenant: str = "acme", scopes: tuple[str, ...] = ()) -> None:
        token = issue_token(tenant, SECRET, scopes=scopes or ("documents:write",))
        super().__init__(app, {"authorization": f"Bearer {token}"})


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
    status, headers, _ = await over.now()

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

    assert [status for status, *_ in answers] == [202, 202, 429]
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

    status, headers, _ = await Upload(app, "acme").now()
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
        upload.headers = {"authorization": "Bearer "}

    assert (await upload.now())[0] == status
    assert upload.reads == 0
    assert usage.uploads["acme"] == 0 and usage.slots["acme"] == 0


async def test_the_slot_is_given_back_however_the_upload_ends() -> None:
    usage = MemoryTenantUsage(TenantLimits(concurrent_uploads=1))
    limiter = _limiter(usage)
    refused = UploadRejectedError(415, "Unsupported", "not a document")
    refusing = _app(limiter, RecordingIngest(refused))

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


async def test_the_byte_quota_counts_stored_uploads_only() -> None:
    usage = MemoryTenantUsage(TenantLimits(bytes_per_window=100))
    ingest = memory_ingest(usage=usage)
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
