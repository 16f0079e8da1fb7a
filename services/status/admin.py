"""Pipeline administration over HTTP: `POST /v1/admin/replay` and `/v1/admin/rebuild-status`,
the API of `sluice replay` and `sluice rebuild-status`.

It needs `admin:replay` and acts on every tenant: each replay (not a dry run) is recorded in
the audit log before it runs. The parser's and the embedder's groups are rewound only while
they have no member (409 naming the members otherwise: stop their replicas first); the status
projection's follows a replay while it runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from aiokafka.errors import KafkaError
from litestar import Controller, Response, post
from psycopg import OperationalError

from services.common.access import SECURITY, ok_responses, requires
from services.common.auth import ADMIN_REPLAY
from services.common.kafka.replay import GroupActiveError, ReplayPlan, ReplayTarget
from services.common.problems import Problem, problem
from services.common.settings import PipelineSettings
from services.status.admin_call import ADMIN_CALL, AdminCall
from services.status.rebuild import RebuildReport, rebuild_status
from services.status.replay import replay_service

UNAVAILABLE = (KafkaError, OSError, OperationalError, TimeoutError)


class ReplayRequest(msgspec.Struct, frozen=True, kw_only=True):
    """POST /v1/admin/replay body: the service and exactly one of `to_time`, `to_offset`."""

    service: Literal["parser", "embedder", "status"]
    to_time: datetime | None = None
    to_offset: Annotated[int, msgspec.Meta(ge=0)] | Literal["earliest", "latest"] | None = None
    dry_run: bool = False


class Replays:
    """Rewinds the pipeline's consumer groups (the `replays` dependency)."""

    def __init__(self, settings: PipelineSettings) -> None:
        self.settings = settings

    async def run(self, service: str, target: ReplayTarget, *, dry_run: bool) -> ReplayPlan:
        """Rewind `service`'s group to `target` (GroupActiveError while it has members)."""
        return await replay_service(self.settings, service, target, dry_run=dry_run)

    async def rebuild(self, *, dry_run: bool) -> RebuildReport:
        """Rebuild the status projection from the topics (and, unless `dry_run`, swap it in)."""
        return await rebuild_status(self.settings, dry_run=dry_run)


class RebuildRequest(msgspec.Struct, frozen=True, kw_only=True):
    """POST /v1/admin/rebuild-status body."""

    dry_run: bool = False


class AdminController(Controller):
    """Cross-tenant pipeline operations (`admin:*` scopes, audited)."""

    path = "/v1/admin"
    security = SECURITY
    dependencies = {"admin": ADMIN_CALL}  # noqa: RUF012 - Litestar reads it from the class

    @post(
        "/replay",
        status_code=200,
        guards=[requires(ADMIN_REPLAY)],
        responses=ok_responses(ReplayPlan, "What was rewound (or, dry, would be)", 409),
    )
    async def replay(
        self, data: ReplayRequest, admin: AdminCall, replays: Replays
    ) -> Response[ReplayPlan] | Response[Problem]:
        """Rewind a service's consumer group to a time or an offset: it reprocesses from there,
        with idempotent effects. Answers per partition what is redone (`dry_run`: only that)."""
        data = await admin.body(ReplayRequest)
        if (data.to_time is None) == (data.to_offset is None):
            return problem(400, "Bad Request", "give exactly one of to_time and to_offset")
        to_time = data.to_time
        if to_time is not None and to_time.tzinfo is None:
            return problem(400, "Bad Request", "to_time needs a time zone (e.g. Z)")
        target = ReplayTarget(to_time=to_time, to_offset=data.to_offset)
        if not data.dry_run:
            await admin.record(ADMIN_REPLAY, f"replay.{data.service}", "*", target.text)
        try:
            plan = await replays.run(data.service, target, dry_run=data.dry_run)
        except GroupActiveError as error:
            return problem(409, "Consumer Group Active", str(error))
        except UNAVAILABLE as error:
            return _unavailable(error)
        return Response(plan)

    @post(
        "/rebuild-status",
        status_code=200,
        guards=[requires(ADMIN_REPLAY)],
        responses=ok_responses(RebuildReport, "What was rebuilt and how it differed"),
    )
    async def rebuild_status(
        self, data: RebuildRequest, admin: AdminCall, replays: Replays
    ) -> Response[RebuildReport] | Response[Problem]:
        """Rebuild the status projection from the topics into fresh tables, compare them with
        the live ones and (unless `dry_run`) swap them in; projection goes on meanwhile."""
        data = await admin.body(RebuildRequest)
        if not data.dry_run:
            await admin.record(ADMIN_REPLAY, "rebuild-status", "*", "projection")
        try:
            report = await replays.rebuild(dry_run=data.dry_run)
        except UNAVAILABLE as error:
            return _unavailable(error)
        return Response(report)


def _unavailable(error: Exception) -> Response[Problem]:
    reason = f"Kafka or Postgres did not answer: {str(error) or type(error).__name__}"
    return problem(503, "Service Unavailable", reason)
