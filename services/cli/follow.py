"""Following jobs to the end: over the status service's event stream when it has one
(`GET /v1/jobs/events`, Server-Sent Events), by polling `GET /v1/jobs/{id}` otherwise.

The stream's events carry JSON with at least `job_id` and `state` (and `attempt`); an event
that is a whole job (as GET /v1/jobs/{id} answers, with `updated_at`) is taken as is; a change
(the status service's `JobChange`) moves the state, and the job is read once it ends, for its
error and chunk count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

import httpx
import msgspec
from httpx_sse import SSEError, aconnect_sse

from services.cli.client import Api, ApiError
from services.cli.exits import CliError
from services.cli.models import STAGES, TERMINAL, Job

EVENTS_PATH = "/v1/jobs/events"
POLL_CONCURRENCY = 8
SAFETY_POLL_S = 10.0  # on the stream, still read the unfinished jobs now and then
STREAM_RECONNECTS = 3  # a stream that ends is opened again this many times, then polling


class JobEvent(msgspec.Struct, frozen=True):
    """The least an event of the stream says."""

    job_id: str
    state: str
    attempt: int = 1


def progress_rank(job: Job | JobEvent) -> tuple[int, int]:
    """Orders a job's states: a later attempt, then a later stage (failed ends a stage row)."""
    stage = len(STAGES) - 1 if job.state == "failed" else _index(job.state)
    return (job.attempt, stage)


def _index(state: str) -> int:
    return STAGES.index(state) if state in STAGES else 0


class Tracker:
    """The latest known state of each followed job; a state never moves backwards."""

    def __init__(self, on_change: Callable[[Job], None] = lambda _job: None) -> None:
        self.jobs: dict[str, Job] = {}
        self.on_change = on_change
        self._early: dict[str, Job | JobEvent] = {}  # seen on the stream before it was added
        self.unread: set[str] = set()  # ended by a change, not read since (error, chunk count)

    def add(self, job: Job) -> None:
        """Follow `job` from the state it is in."""
        self.jobs[job.job_id] = job
        self.on_change(job)
        early = self._early.pop(job.job_id, None)
        if early is not None:
            self.update(early)

    def update(self, seen: Job | JobEvent) -> Job | None:
        """Take a newer state of a followed job; return the job when it changed."""
        known = self.jobs.get(seen.job_id)
        if known is None:
            self._early[seen.job_id] = seen
            return None
        if progress_rank(seen) < progress_rank(known):
            return None
        if isinstance(seen, JobEvent):
            if (seen.state, seen.attempt) == (known.state, known.attempt):
                return None
            changed = msgspec.structs.replace(known, state=seen.state, attempt=seen.attempt)
        elif seen == known:
            return None
        else:
            changed = seen
        self.jobs[seen.job_id] = changed
        if isinstance(seen, JobEvent) and changed.state in TERMINAL:
            self.unread.add(seen.job_id)
        else:
            self.unread.discard(seen.job_id)
        self.on_change(changed)
        return changed

    def pending(self) -> list[str]:
        """The jobs not ended yet."""
        return [job_id for job_id, job in self.jobs.items() if job.state not in TERMINAL]


async def poll_once(api: Api, tracker: Tracker, job_ids: Iterable[str] | None = None) -> None:
    """Read each unfinished job (or `job_ids`) once."""
    gate = asyncio.Semaphore(POLL_CONCURRENCY)

    async def read(job_id: str) -> None:
        async with gate:
            try:
                tracker.update(await api.job(job_id))
            except ApiError as error:
                if error.status != 404:  # accepted, not visible yet: next time
                    raise

    await asyncio.gather(*(read(job_id) for job_id in list(job_ids or tracker.pending())))


async def stream(api: Api, tracker: Tracker) -> bool:
    """Apply the tenant's job events until the stream ends; False when there is none."""
    try:
        async with aconnect_sse(
            api.http, "GET", api.status(EVENTS_PATH), timeout=httpx.Timeout(None, connect=10)
        ) as source:
            response = source.response
            kind = response.headers.get("content-type", "")
            if response.status_code in (404, 405, 406) or (
                response.is_success and "text/event-stream" not in kind
            ):
                return False  # a status service without the stream
            if response.is_error:
                await response.aread()
                raise ApiError(response.status_code, response.text[:300] or "error")
            await poll_once(api, tracker)  # what happened before we listened
            async for event in source.aiter_sse():
                await _apply(api, tracker, event.data)
    except (httpx.TransportError, SSEError):
        return False
    return True


async def _apply(api: Api, tracker: Tracker, data: str) -> None:
    seen: Job | JobEvent
    try:
        seen = msgspec.json.decode(data, type=Job)
        if seen.updated_at is None:  # a change (the service's JobChange), not a whole job
            seen = msgspec.json.decode(data, type=JobEvent)
    except msgspec.ValidationError:
        try:
            seen = msgspec.json.decode(data, type=JobEvent)
        except msgspec.DecodeError:
            return  # not a job change (a comment, a heartbeat of another shape)
    except msgspec.DecodeError:
        return
    changed = tracker.update(seen)
    if changed is not None and changed.job_id in tracker.unread:
        tracker.update(await api.job(changed.job_id))  # the error, the chunk count


async def follow(
    api: Api,
    tracker: Tracker,
    *,
    adding_done: asyncio.Event,
    poll_s: float = 0.5,
    use_events: bool = True,
) -> str:
    """Follow until `adding_done` is set and every job ended; say how: events or polling."""
    listener = asyncio.create_task(stream(api, tracker)) if use_events else None
    mode = "events" if use_events else "polling"
    reconnects = STREAM_RECONNECTS
    last_poll = asyncio.get_running_loop().time()
    try:
        while not (adding_done.is_set() and not tracker.pending() and not tracker.unread):
            if tracker.unread:  # ended by a change seen before the job was added: read once
                ended = sorted(tracker.unread)
                tracker.unread.difference_update(ended)
                await poll_once(api, tracker, ended)
            if listener is not None and listener.done():
                # an error that polling would meet too (401, 403) is raised here
                if listener.result() and reconnects > 0:  # the stream ended: listen again
                    reconnects -= 1
                    listener = asyncio.create_task(stream(api, tracker))
                else:  # no stream here (or it keeps ending): poll
                    listener, mode = None, "polling"
            now = asyncio.get_running_loop().time()
            if listener is None or now - last_poll > SAFETY_POLL_S:
                await poll_once(api, tracker)
                last_poll = now
            await asyncio.sleep(poll_s if listener is None else 0.1)
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, CliError):
                await listener
    return mode


async def follow_with_timeout(
    api: Api, tracker: Tracker, adding_done: asyncio.Event, timeout_s: float | None
) -> tuple[str, bool]:
    """`follow` within `timeout_s` (None: no limit); (how, whether every job ended)."""
    try:
        mode = await asyncio.wait_for(
            follow(api, tracker, adding_done=adding_done), timeout=timeout_s
        )
    except TimeoutError:
        return "timeout", False
    return mode, True
