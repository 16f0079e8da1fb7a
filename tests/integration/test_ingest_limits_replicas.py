"""Upload limits on two ingest replicas (real processes, one database): a tenant's rate is one
count across replicas and resets with its window; a replica's cap on uploads in flight and a
tenant's cap on concurrent uploads answer before the body is read; every 429 and 503 carries
Retry-After."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from infra.local.stack import Replica, Stack
from tests.fixtures.pipeline import own_stack

pytestmark = pytest.mark.integration

RATE, RATE_WINDOW_S = 6, 20
PROCESS_CAP, TENANT_CONCURRENT = 2, 3


@pytest.fixture(scope="module")
def replicas(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Replica, Replica]]:
    """Two ingest replicas (nothing else) on the session Kafka and a database of their own."""
    with own_stack(
        tmp_path_factory.mktemp("limits"),
        database_url,
        database="limits",
        kafka_bootstrap=kafka_bootstrap,
        env={
            "SLUICE_TENANT_UPLOAD_RATE": str(RATE),
            "SLUICE_TENANT_RATE_WINDOW_S": str(RATE_WINDOW_S),
            "SLUICE_MAX_UPLOADS_IN_FLIGHT": str(PROCESS_CAP),
            "SLUICE_TENANT_CONCURRENT_UPLOADS": str(TENANT_CONCURRENT),
        },
        replicas={"ingest": 2, "status": 0, "parser": 0, "embedder": 0},
    ) as stack:
        first, second = sorted(stack.replicas("ingest"), key=lambda r: r.index)
        yield stack, first, second


def _upload(replica: Replica, token: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{replica.url}/v1/documents",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("note.txt", text.encode(), "text/plain")},
        timeout=60,
    )


def _refused(response: httpx.Response, status: int) -> int:
    """Check a refusal: its status, problem+json, and a Retry-After of whole seconds; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


class SlowUpload:
    """An upload whose client sends the headers and half the body, then waits: it holds its
    place in ingest (admitted before the body is read) until `finish` sends the rest."""

    def __init__(self, replica: Replica, token: str) -> None:
        boundary = uuid.uuid4().hex
        content = f"held upload {uuid.uuid4()}".encode()
        self.body = (
            f'--{boundary}\r\ncontent-disposition: form-data; name="file"; filename="held.txt"'
            f"\r\ncontent-type: text/plain\r\n\r\n".encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        head = (
            f"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1:{replica.port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.sock = socket.create_connection(("127.0.0.1", replica.port), timeout=60)
        self.sock.sendall(head + self.body[:20])

    def finish(self) -> int:
        """Send the rest of the body; return the answer's status."""
        self.sock.sendall(self.body[20:])
        answer = b""
        while b"\r\n" not in answer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        self.sock.close()
        return int(answer.split(b" ", 2)[1])


def _in_flight(replica: Replica) -> float:
    text = httpx.get(f"{replica.url}/metrics", timeout=30).text
    found = re.search(r"^sluice_uploads_in_flight (\S+)$", text, re.MULTILINE)
    assert found, "ingest exposes sluice_uploads_in_flight"
    return float(found.group(1))


def _settled(*replicas: Replica) -> None:
    """Wait until no replica serves an upload: an earlier test's last upload lets go of its
    place just after its answer was sent, and a held upload started in that moment would meet
    a full replica (503) instead of taking the place."""
    for replica in replicas:
        _wait_in_flight(replica, 0)


def _wait_in_flight(replica: Replica, count: int) -> None:
    """Wait until `replica` serves `count` uploads (the held ones were admitted)."""
    deadline = time.monotonic() + 60
    while _in_flight(replica) != count:
        assert time.monotonic() < deadline, f"{replica.label} never had {count} uploads in flight"
        time.sleep(0.05)


def test_two_replicas_share_a_tenants_rate_and_it_resets_with_its_window(
    replicas: tuple[Stack, Replica, Replica],
) -> None:
    stack, first, second = replicas
    token = stack.token(f"rate-{uuid.uuid4().hex[:8]}")
    for replica in (first, second):  # warm up each replica's producer (its first send is slow)
        assert _upload(replica, stack.token(f"warm-{uuid.uuid4().hex[:8]}"), "warm").is_success
    # Start just after a window begins, so that the uploads below fall in one window.
    time.sleep(RATE_WINDOW_S - time.time() % RATE_WINDOW_S + 0.1)

    answers = [_upload((first, second)[i % 2], token, f"upload {i}") for i in range(RATE + 2)]

    assert [a.status_code for a in answers] == [202] * RATE + [429, 429]
    waits = [_refused(a, 429) for a in answers[RATE:]]
    assert all(wait <= RATE_WINDOW_S for wait in waits)
    assert f"may start {RATE} uploads per {RATE_WINDOW_S} s" in answers[-1].json()["detail"]
    other = _upload(first, stack.token(f"other-{uuid.uuid4().hex[:8]}"), "another tenant")
    assert other.status_code == 202, "another tenant has a count of its own"

    time.sleep(waits[-1])
    assert _upload(second, token, "a new window").status_code == 202


def test_a_replica_at_its_cap_answers_503_and_the_other_goes_on(
    replicas: tuple[Stack, Replica, Replica],
) -> None:
    stack, first, second = replicas
    _settled(first, second)
    held = [SlowUpload(first, stack.token(f"cap-{i}-{uuid.uuid4().hex[:6]}")) for i in range(2)]
    _wait_in_flight(first, PROCESS_CAP)
    token = stack.token(f"cap-{uuid.uuid4().hex[:8]}")

    busy = _upload(first, token, "one too many for this replica")
    elsewhere = _upload(second, token, "the other replica has room")
    finished = [upload.finish() for upload in held]
    _wait_in_flight(first, 0)
    after = _upload(first, token, "room again")

    _refused(busy, 503)
    assert "maximum of 2 uploads" in busy.json()["detail"]
    assert (elsewhere.status_code, finished, after.status_code) == (202, [202, 202], 202)


def test_a_tenants_concurrent_uploads_are_counted_across_replicas(
    replicas: tuple[Stack, Replica, Replica],
) -> None:
    stack, first, second = replicas
    _settled(first, second)
    token = stack.token(f"concurrent-{uuid.uuid4().hex[:8]}")
    held = [SlowUpload(first, token), SlowUpload(first, token), SlowUpload(second, token)]
    _wait_in_flight(first, 2)
    _wait_in_flight(second, 1)

    busy = _upload(second, token, "a fourth at once")
    other = _upload(second, stack.token(f"other-{uuid.uuid4().hex[:8]}"), "another tenant")
    finished = held[0].finish()
    _wait_in_flight(first, 1)
    after = _upload(second, token, "one ended: room again")
    rest = [upload.finish() for upload in held[1:]]

    _refused(busy, 429)
    assert "3 uploads in flight at once" in busy.json()["detail"]
    assert (other.status_code, finished, after.status_code, rest) == (202, 202, 202, [202, 202])
