"""What the HTTP side reports: request rate, errors and duration per route, and readiness.

`RequestMetrics` is an ASGI middleware (installed by `create_app`) that counts every answered
request by route template (never the raw path: ids would explode the series) and status;
routes with `opt={"metrics": False}` (probes, /metrics) are not counted, so kubelet probes do
not drown the API's error ratio. `ReadinessWatch` re-runs the readiness checks on a fixed
cadence and exports them as gauges (`sluice_ready{check}`, failures in a row), so an alert can
say which check failed and for how long even when nobody calls /health/ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.common import metrics
from services.common.periodic import wait_or_stop

log = logging.getLogger(__name__)
NOT_COUNTED = {"metrics": False}  # a route's `opt` that keeps it out of the HTTP metrics


class RequestMetrics:
    """ASGI middleware: `sluice_http_*` for each request of a routed handler."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request, count it by route template, method and status."""
        handler = scope.get("route_handler")
        if scope["type"] != ScopeType.HTTP or (
            handler is not None and handler.opt.get("metrics") is False
        ):
            await self.app(scope, receive, send)
            return
        labels = (self.service, scope.get("method", "GET"), scope.get("path_template", "unmatched"))
        status = 500  # an exception that escapes every handler still answers 500
        started = time.perf_counter()
        in_flight = metrics.HTTP_IN_FLIGHT.labels(*labels)
        in_flight.inc()

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            in_flight.dec()
            metrics.HTTP_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            metrics.HTTP_REQUESTS.labels(*labels, str(status)).inc()


def request_metrics(service: str) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware factory Litestar's `middleware=[...]` takes."""

    def wrap(app: ASGIApp) -> ASGIApp:
        return RequestMetrics(app, service)

    return wrap


class ReadinessWatch:
    """Runs the readiness checks every `interval_s` and exports the verdicts.

    `sluice_ready{check}` is 1 or 0 per check; `sluice_readiness_failures_in_a_row` counts
    self-checks in a row with any check failing: the old plan's "3 consecutive health-check
    failures" (checks every 30 s) is `>= 3` on it, independent of the scrape interval.
    """

    def __init__(
        self,
        service: str,
        checks: Callable[[], Awaitable[Mapping[str, Any]]],
        interval_s: float = 30.0,
    ) -> None:
        self.service = service
        self.checks = checks
        self.interval_s = interval_s
        self.failures_in_a_row = 0
        self._known: set[str] = set()

    async def check_once(self) -> bool:
        """Run the checks once and export them; True when every check passed."""
        try:
            found = {name: bool(check.ok) for name, check in (await self.checks()).items()}
        except Exception as error:  # noqa: BLE001 - a failing check is "not ready"
            log.warning("readiness checks raised: %s", error)
            found = {"readiness": False}
        for gone in self._known - set(found):
            metrics.READY.remove(self.service, gone)
        self._known = set(found)
        for name, ok in found.items():
            metrics.READY.labels(self.service, name).set(1 if ok else 0)
        ok = all(found.values())
        self.failures_in_a_row = 0 if ok else self.failures_in_a_row + 1
        metrics.READINESS_FAILURES.labels(self.service).set(self.failures_in_a_row)
        return ok

    async def run(self, stop: asyncio.Event) -> None:
        """Check every `interval_s` until `stop` is set."""
        while not stop.is_set():
            await self.check_once()
            await wait_or_stop(stop, self.interval_s)
