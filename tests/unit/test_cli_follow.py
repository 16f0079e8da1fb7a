"""Following jobs: over the status service's event stream when it answers, by polling when it
does not (404, as today), with states that never move backwards. The status service here is a
small Litestar app called in memory (httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from litestar.response import ServerSentEvent, ServerSentEventMessage

from services.cli import commands
from services.cli.client import Api, ApiError
from services.cli.config import CliConfig
from services.cli.exits import Exit
from services.cli.follow import JobEvent, Tracker, follow
from services.cli.models import Job, JobError
from services.cli.output import Output

pytestmark = pytest.mark.unit

PATHS = {  # each job's states in order
    "j-ok": ("queued", "parsing", "parsed", "embedding", "indexed"),
    "j-bad": ("queued", "parsing", "failed"),
}
ERROR = {"stage": "parse", "code": "corrupt_file", "message": "not a PDF"}


class FakeStatus:
    """Jobs that move one state per GET (polling); or, with a stream, that are queued when
    first read (the catch-up read as the stream opens) and ended when read again (the read
    after a job's last event). The transport buffers the whole stream, so its events cannot
    be interleaved with the reads in any other way."""

    def __init__(self, *, events: bool, changes: bool = False) -> None:
        self.gets: list[str] = []
        self.events_mode = events
        self.changes = changes  # the stream sends the status service's JobChange bodies
        self.step = dict.fromkeys(PATHS, 0)
        routes: list[Any] = [self.job]
        if events:
            routes.insert(0, self.events)
        self.app = Litestar(route_handlers=routes)

    def body(self, job_id: str, state: str) -> dict[str, Any]:
        return {
            "job_id": job_id,
            "document_id": f"d-{job_id}",
            "state": state,
            "error": ERROR if state == "failed" else None,
            "chunk_count": 3 if state == "indexed" else None,
        }

    @property
    def job(self) -> Any:
        @get("/v1/jobs/{job_id:str}", sync_to_thread=False)
        def read(job_id: str) -> dict[str, Any]:
            if job_id not in PATHS:
                raise NotFoundException(f"no job {job_id}")
            self.gets.append(job_id)
            path = PATHS[job_id]
            if self.events_mode:
                state = path[0] if self.gets.count(job_id) == 1 else path[-1]
            else:
                state = path[min(self.step[job_id], len(path) - 1)]
                self.step[job_id] += 1
            return self.body(job_id, state)

        return read

    @property
    def events(self) -> Any:
        @get("/v1/jobs/events", sync_to_thread=False)
        def stream() -> ServerSentEvent:
            async def changes() -> AsyncIterator[ServerSentEventMessage]:
                for number, (job_id, state) in enumerate(
                    (j, s) for j, path in PATHS.items() for s in path
                ):
                    body: dict[str, Any] = {"job_id": job_id, "state": state}
                    if self.changes:  # services.status.adapters.changes.JobChange
                        body |= {
                            "document_id": f"d-{job_id}",
                            "attempt": 1,
                            "retries": 0,
                            "error": ERROR if state == "failed" else None,
                            "changed_at": "2026-01-01T00:00:00Z",
                        }
                    data = msgspec.json.encode(body).decode()
                    yield ServerSentEventMessage(data=data, id=number, event="job")

            return ServerSentEvent(changes())

        return stream


async def _follow(status: FakeStatus) -> tuple[str, Tracker, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    tracker = Tracker(lambda job: seen.append((job.job_id, job.state)))
    config = CliConfig("http://ingest", "http://status", token="t", tenant=None)
    async with Api(config, transport=httpx.ASGITransport(app=status.app)) as api:
        done = asyncio.Event()
        for job_id in PATHS:
            tracker.add(Job(job_id=job_id, document_id=f"d-{job_id}", state="queued"))
        done.set()
        mode = await asyncio.wait_for(
            follow(api, tracker, adding_done=done, poll_s=0.01), timeout=20
        )
    return mode, tracker, seen


def _ended_well(tracker: Tracker) -> None:
    assert tracker.jobs["j-ok"].state == "indexed"
    assert tracker.jobs["j-ok"].chunk_count == 3
    assert tracker.jobs["j-bad"].state == "failed"
    assert tracker.jobs["j-bad"].error == JobError(**ERROR), "the reason is read once it ends"


def _in_order(seen: list[tuple[str, str]]) -> None:
    for job_id, path in PATHS.items():
        steps = [path.index(state) for seen_id, state in seen if seen_id == job_id]
        assert steps == sorted(steps), seen


@pytest.mark.parametrize("events", [False, True], ids=["polled", "streamed"])
async def test_jobs_are_followed_to_the_end_in_order(events: bool) -> None:
    status = FakeStatus(events=events)
    mode, tracker, seen = await _follow(status)
    _ended_well(tracker)
    _in_order(seen)
    reads = status.gets.count("j-ok")
    if events:  # the stream's events move the jobs
        assert mode == "events"
        assert ("j-ok", "embedding") in seen, "states only the stream told"
        assert reads <= 2, "a catch-up read, and one at the end at most"
    else:  # without a stream, jobs are polled
        assert mode == "polling"
        assert reads >= len(PATHS["j-ok"]) - 1, "one state per read"


async def test_the_status_services_job_changes_move_the_jobs_and_ends_are_read() -> None:
    status = FakeStatus(events=True, changes=True)
    mode, tracker, seen = await _follow(status)
    assert mode == "events"
    _ended_well(tracker)  # a change is no whole job: the chunk count is read at the end
    _in_order(seen)
    assert ("j-ok", "embedding") in seen, "states only the stream told"


def test_a_state_never_moves_backwards_but_a_new_attempt_starts_over() -> None:
    tracker = Tracker()
    tracker.add(Job(job_id="j", document_id="d", state="parsed"))
    assert tracker.update(Job(job_id="j", document_id="d", state="parsing")) is None
    assert tracker.jobs["j"].state == "parsed"
    tracker.update(Job(job_id="j", document_id="d", state="failed"))
    assert tracker.pending() == []
    again = tracker.update(Job(job_id="j", document_id="d", state="queued", attempt=2))
    assert again is not None and tracker.pending() == ["j"]


def test_an_event_before_the_job_is_added_is_kept_for_it() -> None:
    tracker = Tracker()
    assert tracker.update(Job(job_id="j", document_id="d", state="indexed")) is None
    tracker.add(Job(job_id="j", document_id="d", state="queued"))
    assert tracker.jobs["j"].state == "indexed"


async def test_a_job_the_stream_ended_before_it_was_added_is_read_for_its_outcome() -> None:
    @get("/v1/jobs/{job_id:str}", sync_to_thread=False)
    def read(job_id: str) -> dict[str, Any]:
        return {"job_id": job_id, "document_id": "d", "state": "indexed", "chunk_count": 3}

    tracker = Tracker()
    tracker.update(JobEvent(job_id="j", state="indexed"))  # the upload's answer comes later
    tracker.add(Job(job_id="j", document_id="d", state="queued"))
    assert tracker.pending() == [] and tracker.jobs["j"].chunk_count is None
    config = CliConfig("http://ingest", "http://status", token="t", tenant=None)
    app = Litestar(route_handlers=[read])
    async with Api(config, transport=httpx.ASGITransport(app=app)) as api:
        done = asyncio.Event()
        done.set()
        await asyncio.wait_for(follow(api, tracker, adding_done=done, use_events=False), 20)
    assert tracker.jobs["j"].chunk_count == 3, "read once it ended"


async def test_status_watch_waits_for_a_job_the_status_service_has_not_seen_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A job id the upload answered is 404 until the status service reads its first event:
    # `status JOB --watch` waits for it (within --timeout) instead of exiting 5 at once.
    monkeypatch.setattr(commands, "APPEAR_POLL_S", 0.01)
    reads: list[str] = []

    @get("/v1/jobs/{job_id:str}", sync_to_thread=False)
    def read(job_id: str) -> dict[str, Any]:
        reads.append(job_id)
        if job_id != "j" or reads.count("j") <= 3:
            raise NotFoundException(f"no job {job_id}")
        return {"job_id": "j", "document_id": "d", "state": "indexed", "chunk_count": 3}

    config = CliConfig("http://ingest", "http://status", token="t", tenant=None)
    app = Litestar(route_handlers=[read])
    async with Api(config, transport=httpx.ASGITransport(app=app)) as api:
        out = Output(json=True)
        assert await commands.status(api, out, "j", watch=True, timeout_s=20) == Exit.OK
        assert reads.count("j") == 4
        with pytest.raises(ApiError) as never:  # still unknown after --timeout: 404 (exit 5)
            await commands.status(api, out, "nope", watch=True, timeout_s=0.1)
        assert never.value.status == 404 and reads.count("nope") >= 2
        with pytest.raises(ApiError):  # without --watch, a 404 is answered at once
            await commands.status(api, out, "nope2", watch=False, timeout_s=20)
        assert reads.count("nope2") == 1
