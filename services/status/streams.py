"""Job progress pushed to clients: Server-Sent Events of a job's changes (until it ends) or of
all the tenant's jobs, resumable with `Last-Event-ID`, always scoped to the caller's tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from services.common.access import SECURITY, error_responses, requires
from services.common.auth import READ, Principal
from services.common.problems import Problem, problem
from services.status.adapters.changes import START, ChangeFeed, Cursor, JobChange
from services.status.adapters.queries import StatusQueries
from services.status.api import Id, bad_state, state_filter

EVENT_STREAM = "text/event-stream"
EVENT_TYPE = "job"
_ENCODER = msgspec.json.Encoder()
LastEventId = Annotated[
    str,
    Parameter(
        header="Last-Event-ID",
        pattern=r"^(\d{1,19}-\d{1,19})?$",
        max_length=40,
        required=False,
        description="The `id` of the last event received: the stream resumes after it",
    ),
]


def _stream_responses(description: str, *errors: int) -> dict[int, ResponseSpec]:
    return {
        200: ResponseSpec(
            JobChange,
            description=description,
            media_type=EVENT_STREAM,
            generate_examples=False,
        ),
        **error_responses(*errors),
    }


async def _messages(
    changes: AsyncIterator[tuple[Cursor, JobChange] | None],
) -> AsyncIterator[ServerSentEventMessage]:
    async for item in changes:
        if item is None:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            continue
        cursor, change = item
        data = _ENCODER.encode(change).decode()
        yield ServerSentEventMessage(data=data, event=EVENT_TYPE, id=str(cursor))


class JobStreamController(Controller):
    """SSE streams of job changes (`event: job`, `id:` the resume cursor, `data:` JSON)."""

    path = "/v1/jobs"
    security = SECURITY

    @get(
        "/events",
        guards=[requires(READ)],
        responses=_stream_responses(
            "Server-Sent Events, one `job` event per change of any of the tenant's jobs"
            " (`data`: a JobChange), comments as heartbeats; it does not end"
        ),
    )
    async def tenant_events(
        self,
        principal: Principal,
        changes: ChangeFeed,
        last_event_id: LastEventId = "",
        job_state: Annotated[str | None, state_filter("Only changes into this state")] = None,
    ) -> ServerSentEvent | Response[Problem]:
        """Every change of the tenant's jobs from now (or after `Last-Event-ID`)."""
        if (refused := bad_state(job_state)) is not None:
            return refused
        after = Cursor.parse(last_event_id) if last_event_id else None
        if after is None:
            after = await changes.now()
        return ServerSentEvent(_messages(changes.follow(principal.tenant, after, state=job_state)))

    @get(
        "/{job_id:str}/events",
        guards=[requires(READ)],
        responses={
            **_stream_responses(
                "Server-Sent Events, one `job` event per change of the job (`data`: a"
                " JobChange), from its first (or after `Last-Event-ID`); the stream ends after"
                " the job is indexed or failed",
                404,
            ),
            204: ResponseSpec(
                None, description="Resumed after the job's last change: it has ended"
            ),
        },
    )
    async def job_events(
        self,
        job_id: Id,
        principal: Principal,
        queries: StatusQueries,
        changes: ChangeFeed,
        last_event_id: LastEventId = "",
    ) -> ServerSentEvent | Response[Problem] | Response[None]:
        """One job's changes until it ends; a resume after its end is 204 (EventSource stops)."""
        if await queries.job(principal.tenant, job_id) is None:
            return problem(404, "Not Found", f"no job {job_id}")
        after = (Cursor.parse(last_event_id) if last_event_id else None) or START
        if last_event_id and await changes.ended(principal.tenant, job_id, after):
            return Response(None, status_code=204)
        return ServerSentEvent(_messages(changes.follow(principal.tenant, after, job_id=job_id)))
