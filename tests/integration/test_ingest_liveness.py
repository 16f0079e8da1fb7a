"""Ingest stays live while it inspects hostile uploads: hashing, sniffing and validation of a
body run off the event loop (issue 13: 64 KiB of `[` froze ingest ~9 s, three in parallel
kept /health/live waiting 20 s, long enough for Kubernetes to restart the pod)."""

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from infra.local.stack import Stack
from tests.fixtures.pipeline import own_stack

pytestmark = pytest.mark.integration

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # IngestSettings.max_upload_bytes default
HOSTILE = b"[" * MAX_UPLOAD_BYTES
UPLOADS = 3
# Generous: a probe on a free loop takes milliseconds; the old sniffing held it ~9 s each.
LIVE_BOUND_S = 2.0


@pytest.fixture
def ingest_alone(kafka_bootstrap: str, fresh_database: str, tmp_path: Path) -> Iterator[Stack]:
    """Only the ingest service, as a process on the session Kafka and a fresh database."""
    with own_stack(
        tmp_path,
        fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        replicas={"ingest": 1, "status": 0, "parser": 0, "embedder": 0},
    ) as running:
        yield running


def _upload(url: str, token: str) -> httpx.Response:
    """A hostile upload, refused for its metadata only after its content was inspected (so
    nothing is stored or published)."""
    with httpx.Client(timeout=300) as client:
        return client.post(
            f"{url}/v1/documents",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("notes.txt", HOSTILE, "text/plain")},
            data={"metadata": "{not json"},
        )


def test_live_answers_promptly_while_hostile_uploads_are_inspected(
    ingest_alone: Stack,
) -> None:
    token = ingest_alone.token(f"tenant-{uuid.uuid4().hex[:8]}")
    latencies: list[float] = []
    with (
        ThreadPoolExecutor(UPLOADS) as pool,
        httpx.Client(base_url=ingest_alone.ingest_url, timeout=120) as probe,
    ):
        uploads = [pool.submit(_upload, ingest_alone.ingest_url, token) for _ in range(UPLOADS)]
        while not all(upload.done() for upload in uploads):
            started = time.monotonic()
            assert probe.get("/health/live").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
        answers = [upload.result() for upload in uploads]
    assert [answer.status_code for answer in answers] == [400] * UPLOADS
    assert all("metadata is not valid JSON" in answer.json()["detail"] for answer in answers)
    assert len(latencies) >= 3, "the uploads ended before a probe could overlap them"
    assert max(latencies) < LIVE_BOUND_S, f"slowest /health/live: {max(latencies):.2f}s"
