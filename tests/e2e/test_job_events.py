"""Job progress as Server-Sent Events, read with a real SSE client while documents go through
the real pipeline (the four services on Kafka and Postgres): a job's stream to its end, resumed
with Last-Event-ID, the tenant's stream (from now, from a cursor, by state), tenant scoping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from infra.local import REPO_ROOT
from tests.fixtures.pipeline import Pipeline

pytestmark = pytest.mark.e2e

SAMPLE = REPO_ROOT / "examples" / "kafka-basics.txt"
ORDER = ("queued", "parsing", "parsed", "embedding", "indexed")
STREAM_TIMEOUT = httpx.Timeout(120, connect=10)  # a read waits at most this for the next line


@pytest.fixture(scope="module")
def status(pipeline: Pipeline) -> Iterator[httpx.Client]:
    """A client of the status service."""
    with httpx.Client(base_url=pipeline.status_url, timeout=STREAM_TIMEOUT) as client:
        yield client


def _bearer(token: str, last_event_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


def _upload(pipeline: Pipeline, token: str, data: bytes | None = None) -> str:
    """Upload the sample (or `data` as a text file, so it is a new document); its job id."""
    body = data if data is not None else SAMPLE.read_bytes()
    response = httpx.post(
        f"{pipeline.ingest_url}/v1/documents",
        headers=_bearer(token),
        files={"file": ("sample.txt", body, "text/plain")},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def _job_stream(
    status: httpx.Client, token: str, job_id: str, last_event_id: str | None = None
) -> list[ServerSentEvent]:
    """Every event of the job's stream, read until the server ends it."""
    with connect_sse(
        status, "GET", f"/v1/jobs/{job_id}/events", headers=_bearer(token, last_event_id)
    ) as source:
        assert source.response.status_code == 200, source.response.read()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return list(source.iter_sse())


def _data(event: ServerSentEvent) -> dict[str, Any]:
    assert event.event == "job"
    body: dict[str, Any] = event.json()
    return body


def _cursor(event: ServerSentEvent) -> tuple[int, int]:
    tx, _, row = event.id.partition("-")
    return int(tx), int(row)


def test_a_jobs_stream_follows_it_through_the_pipeline_and_ends(
    pipeline: Pipeline, status: httpx.Client
) -> None:
    tenant = f"sse-{uuid.uuid4().hex[:8]}"
    token = pipeline.token(tenant)
    # Long enough that embedding it outlasts the projector's gathering of events (500 ms):
    # the states before `embedding` are projected before `indexed` exists. A short document's
    # events can come in one batch, where the later states win and at most two are recorded.
    long_document = (SAMPLE.read_text() + "\n\n") * 50 + f"run {uuid.uuid4()}"
    job_id = _upload(pipeline, token, data=long_document.encode())

    events = _job_stream(status, token, job_id)  # opened while the document flows

    states = [_data(e)["state"] for e in events]
    # in pipeline order (the projector may see two topics' events in either order, and the
    # later state wins, so a state can be skipped, never repeated or reversed), to the end
    ranks = [ORDER.index(state) for state in states]
    assert ranks == sorted(set(ranks)) and states[-1] == "indexed", states
    assert len(states) >= 3, states
    assert {_data(e)["job_id"] for e in events} == {job_id}
    cursors = [_cursor(e) for e in events]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    job = status.get(f"/v1/jobs/{job_id}", headers=_bearer(token)).json()
    assert job["state"] == "indexed"

    # resume after the second event: the rest, and the stream ends again
    resumed = _job_stream(status, token, job_id, last_event_id=events[1].id)
    assert [e.id for e in resumed] == [e.id for e in events[2:]]
    # resume after the last: nothing left, 204 tells an EventSource to stop reconnecting
    done = status.get(f"/v1/jobs/{job_id}/events", headers=_bearer(token, events[-1].id))
    assert done.status_code == 204, done.text

    # another tenant's job is not found; a Last-Event-ID that is no cursor is refused
    other = status.get(f"/v1/jobs/{job_id}/events", headers=_bearer(pipeline.token("intruder")))
    assert other.status_code == 404, other.text
    bad = status.get(f"/v1/jobs/{job_id}/events", headers=_bearer(token, "not-a-cursor"))
    assert bad.status_code == 400, bad.text


def test_the_tenant_stream_sends_its_jobs_changes_from_now_and_resumes(
    pipeline: Pipeline, status: httpx.Client
) -> None:
    tenant = f"sse-{uuid.uuid4().hex[:8]}"
    token = pipeline.token(tenant)
    neighbour = pipeline.token(f"sse-other-{uuid.uuid4().hex[:8]}")
    earlier = _upload(pipeline, token, data=f"an earlier document {uuid.uuid4()}".encode())
    _job_stream(status, token, earlier)  # ended: indexed before the tenant stream opens

    seen: list[ServerSentEvent] = []
    with connect_sse(status, "GET", "/v1/jobs/events", headers=_bearer(token)) as source:
        assert source.response.status_code == 200
        _upload(pipeline, neighbour, data=f"someone else's {uuid.uuid4()}".encode())
        job_id = _upload(pipeline, token, data=f"a new document {uuid.uuid4()}".encode())
        for event in source.iter_sse():
            seen.append(event)
            if _data(event)["job_id"] == job_id and _data(event)["state"] == "indexed":
                break
    jobs = {_data(e)["job_id"] for e in seen}
    assert jobs == {job_id}, "only news, only the tenant's"  # not `earlier`, not the neighbour's
    assert [_data(e)["state"] for e in seen][-1] == "indexed"

    # from the start (cursor 0-0), into one state only: both jobs' `indexed`, in order
    indexed: list[str] = []
    with connect_sse(
        status, "GET", "/v1/jobs/events", params={"state": "indexed"}, headers=_bearer(token, "0-0")
    ) as source:
        for event in source.iter_sse():
            assert _data(event)["state"] == "indexed"
            indexed.append(_data(event)["job_id"])
            if len(indexed) == 2:
                break
    assert indexed == [earlier, job_id]
