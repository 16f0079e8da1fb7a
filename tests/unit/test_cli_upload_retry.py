"""`sluice upload` comes back when ingest says when (429, or 503 for a keyed upload)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from services.cli.client import Api, ApiError
from services.cli.config import CliConfig

pytestmark = pytest.mark.unit

CONFIG = CliConfig("http://ingest", "http://status", token="t", tenant=None)
ACCEPTED = {"job_id": "j1", "document_id": "d1", "status": "queued", "links": {}}


def _ingest(refusals: list[tuple[int, str | None]]) -> tuple[httpx.MockTransport, list[str]]:
    """Answers the given refusals (status, Retry-After) first, then 202; records the keys."""
    keys: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key", ""))
        if refusals:
            status, after = refusals.pop(0)
            headers = {"Retry-After": after} if after is not None else {}
            body = {"title": "Too Many Requests", "status": status, "detail": "limit"}
            return httpx.Response(status, headers=headers, content=json.dumps(body))
        return httpx.Response(202, json=ACCEPTED)

    return httpx.MockTransport(answer), keys


@pytest.mark.parametrize(
    ("refusals", "key", "tries"),
    [
        ([(429, "0"), (429, "0")], None, 3),  # a tenant's limit: nothing was stored
        ([(503, "0")], "k-1", 2),  # a full replica or Kafka down: safe with the same key
        ([(429, "Wed, 21 Oct 2015 07:28:00 GMT")], None, 2),  # RFC 9110's other form: a date
    ],
    ids=["429", "503 keyed", "429 until an HTTP date"],
)
async def test_an_upload_waits_as_told_and_goes_through(
    tmp_path: Path, refusals: list[tuple[int, str | None]], key: str | None, tries: int
) -> None:
    transport, keys = _ingest(refusals)
    (tmp_path / "a.txt").write_text("hello")
    async with Api(CONFIG, transport=transport) as api:
        accepted = await api.upload(tmp_path / "a.txt", idempotency_key=key)
    assert accepted.job_id == "j1"
    assert len(keys) == tries and len(set(keys)) == 1  # every try the same key (or none)


@pytest.mark.parametrize(
    "refusal",
    [(503, "0"), (429, None), (400, "0")],
    ids=["503 without a key: it may be stored", "no Retry-After", "not a refusal to wait on"],
)
async def test_other_refusals_are_not_retried(
    tmp_path: Path, refusal: tuple[int, str | None]
) -> None:
    transport, keys = _ingest([refusal])
    (tmp_path / "a.txt").write_text("hello")
    async with Api(CONFIG, transport=transport) as api:
        with pytest.raises(ApiError) as refused:
            await api.upload(tmp_path / "a.txt")
    assert refused.value.status == refusal[0] and len(keys) == 1
