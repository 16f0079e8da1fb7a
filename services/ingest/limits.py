"""The upload door's limits: a cap on uploads in flight per process, and each tenant's limits.

`limit_uploads` is the upload route's middleware. Before the body is read it takes one of the
process's `max_uploads_in_flight` places (503 with Retry-After when none is free), verifies the
token and admits the upload against its tenant's limits, shared by every replica in Postgres
(429 with Retry-After); when the request ends, however it ends, it gives both back. A request
without a valid token holding `documents:write` passes on to the route's guard, which answers
401/403 at no cost to any tenant.

`Limiter.run` is the process's heartbeat: it keeps its upload slots counting and its pending
sends its own (services/ingest/relay.py), and gives back slots whose release failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Receive, Scope, Send

from services.common import metrics
from services.common.access import authenticate
from services.common.auth import WRITE, AuthError, AuthUnavailableError
from services.common.periodic import every
from services.ingest.core.limits import LimitedError, process_busy
from services.ingest.core.ports import TenantUsage

log = logging.getLogger(__name__)
LIMITER_STATE = "upload_limiter"


class Limiter:
    """This process's cap on uploads in flight, and its door to the tenants' shared limits."""

    def __init__(
        self, usage: TenantUsage, *, holder: str, max_in_flight: int, heartbeat_s: float
    ) -> None:
        self.usage = usage
        self.holder = holder
        self.max_in_flight = max_in_flight  # 0: no cap
        self.heartbeat_s = heartbeat_s
        self.in_flight = 0
        self._unreleased: Counter[str] = Counter()  # tenant -> slots to give back

    @contextlib.contextmanager
    def occupy(self) -> Iterator[None]:
        """Hold one of the process's places for uploads; LimitedError (503) when all are taken."""
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            metrics.UPLOADS.labels("", "busy").inc()  # before the token: no tenant yet
            raise process_busy(self.max_in_flight)
        self.in_flight += 1
        metrics.UPLOADS_IN_FLIGHT.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            metrics.UPLOADS_IN_FLIGHT.dec()

    @contextlib.asynccontextmanager
    async def admit(self, tenant_id: str) -> AsyncIterator[None]:
        """Admit one upload of `tenant_id` for as long as the block runs; LimitedError (429,
        or 503 when the limits cannot be read) otherwise."""
        try:
            slot = await self.usage.admit(tenant_id, self.holder)
        except LimitedError as error:
            metrics.UPLOADS.labels(
                tenant_id, "limited" if error.status == 429 else "unavailable"
            ).inc()
            raise
        try:
            yield
        finally:
            if slot:
                await self._release(tenant_id)

    async def _release(self, tenant_id: str) -> None:
        try:
            await self.usage.release(tenant_id, self.holder)
        except BaseException as error:
            self._unreleased[tenant_id] += 1  # the next heartbeat gives it back
            if not isinstance(error, Exception):
                raise
            log.warning("could not give back an upload slot; retrying with the heartbeat")

    async def beat(self) -> None:
        """One heartbeat: this process is alive; give back the slots owed."""
        owed = dict(self._unreleased)
        await self.usage.beat(self.holder, owed)
        self._unreleased.subtract(owed)
        self._unreleased = +self._unreleased  # drop zeros

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every `heartbeat_s` until `stop` is set (a failed beat is retried)."""
        await every(self.heartbeat_s, stop, self.beat, log, "ingest heartbeat failed; trying again")


async def _writer_tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The tenant of a valid token holding the write scope; None otherwise (the guard answers)."""
    try:
        principal = await authenticate(connection)
    except (AuthError, AuthUnavailableError):
        return None
    return principal.tenant if principal.holds(WRITE) else None


def limit_uploads(app: ASGIApp) -> ASGIApp:
    """Middleware of the upload route: the process's cap, then the tenant's limits (see the
    module docstring); without a `Limiter` in the app's state, no limits."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        limiter = connection.app.state.get(LIMITER_STATE)
        if not isinstance(limiter, Limiter):
            await app(scope, receive, send)
            return
        with limiter.occupy():
            tenant = await _writer_tenant(connection)
            if tenant is None:
                await app(scope, receive, send)
                return
            async with limiter.admit(tenant):
                await app(scope, receive, send)

    return middleware
