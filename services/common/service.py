"""One way to run a service: settings, logs, signals, CPU priority, and its tasks until stopped.

A service's `inject.prepare(config)` yields a `Service` (its HTTP app, its consumer, other
tasks); its `main(*, config, stop=None)` hands that to `serve`, and `run()` (what
`python -m services.<name>` calls) to `run_service`. Tests call `main` with their own `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import uvloop
from litestar import Litestar, get
from litestar.types import ControllerRouterHandler

from services.common import metrics
from services.common.assignment import AssignedPartition, Assignment
from services.common.db import Pool, database_check
from services.common.http import (
    READINESS_STATE,
    SERVICE_STATE,
    WATCHDOG_STATE,
    Check,
    ReadinessCheck,
    serve_http,
)
from services.common.kafka.admin import TopicsMissingError
from services.common.kafka.consumer import ConsumerLoop
from services.common.logs import setup_logging
from services.common.observe import ReadinessWatch
from services.common.priority import lower_cpu_priority
from services.common.settings import CommonSettings, SettingsError, load_settings
from services.common.watchdog import Watchdog

log = logging.getLogger(__name__)
S = TypeVar("S", bound=CommonSettings)
Task = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A task beside the app; it ends once the `stop` event it is given is set."""


def assignment_route(service: str, consumer: ConsumerLoop) -> ControllerRouterHandler:
    """GET /health/assignment: the consumer's group and the partitions it holds now."""

    @get("/health/assignment", sync_to_thread=False, include_in_schema=False)
    def assignment() -> Assignment:
        held = sorted(consumer.health.assigned, key=lambda tp: (tp.topic, tp.partition))
        return Assignment(
            service=service,
            instance=consumer.origin.instance,
            group=consumer.group_id,
            partitions=[AssignedPartition(tp.topic, tp.partition) for tp in held],
            lag=consumer.health.lag,
        )

    return assignment


@dataclass(frozen=True)
class Service:
    """What a service runs until stopped: its HTTP app, its consumer (if any), other tasks
    (each called with the stop event).

    `on_stop` are called as soon as the service is told to stop: e.g. to end open event
    streams, which the HTTP server would otherwise wait for.
    """

    app: Litestar
    consumer: ConsumerLoop | None = None
    tasks: Sequence[Task] = ()
    on_stop: Sequence[Callable[[], None]] = ()


def readiness(
    pool: Pool,
    consumers: Mapping[str, ConsumerLoop] | None = None,
    more: Callable[[], Mapping[str, Check]] | None = None,
) -> ReadinessCheck:
    """The /health/ready checks: Postgres answers quickly with connections to spare, each named
    consumer is healthy, and `more`."""

    async def checks() -> dict[str, Check]:
        ok, detail = await database_check(pool)
        found = {"postgres": Check(ok=ok, detail=detail)}
        for name, consumer in (consumers or {}).items():
            ok, detail = consumer.health.ready()
            found[name] = Check(ok=ok, detail=detail)
        if more is not None:
            found.update(more())
        return found

    return checks


async def serve(
    service: AbstractAsyncContextManager[Service],
    settings: CommonSettings,
    port: int,
    *,
    stop: asyncio.Event | None,
    cpu_nice: int = 0,
) -> None:
    """Run the service (its app on `settings.http_host`:`port`) until `stop` is set or a task
    fails.

    `stop` None means a service process: SIGTERM and SIGINT set it, and the process lowers
    its CPU priority by `cpu_nice` first. A test passes its own `stop` and keeps its priority.
    Beside the app run the event loop's watchdog (`settings.liveness_port`, `loop_stall_s`)
    and the periodic readiness self-check (`health_interval_s`).
    """
    host = settings.http_host
    if stop is None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        lower_cpu_priority(cpu_nice)
    async with service as parts:
        name = str(parts.app.state[SERVICE_STATE])
        watchdog = Watchdog(name, limit_s=settings.loop_stall_s)
        parts.app.state[WATCHDOG_STATE] = watchdog
        watch = ReadinessWatch(name, parts.app.state[READINESS_STATE], settings.health_interval_s)
        if parts.consumer is not None:  # every consumer says what it holds (`sluice ps`)
            parts.app.register(assignment_route(parts.consumer.origin.service, parts.consumer))
        tasks = [
            serve_http(parts.app, host, port, stop),
            watchdog.beat(stop),
            watch.run(stop),
            *(task(stop) for task in parts.tasks),
        ]
        if parts.consumer is not None:
            tasks.append(parts.consumer.run(stop))
        if parts.on_stop:
            tasks.append(_call_on_stop(stop, parts.on_stop))
        watchdog.start(host, settings.liveness_port)
        metrics.running(name)
        try:
            await run_until_stopped(stop, *tasks)
        finally:
            watchdog.stop()


async def _call_on_stop(stop: asyncio.Event, hooks: Sequence[Callable[[], None]]) -> None:
    await stop.wait()
    for hook in hooks:
        hook()


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM/SIGINT set `stop` so the service finishes its batch, commits and leaves."""
    event_loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        event_loop.add_signal_handler(sig, stop.set)


async def run_until_stopped(stop: asyncio.Event, *coros: Coroutine[Any, Any, None]) -> None:
    """Run the tasks until `stop` is set or one of them fails; then stop the rest."""
    pending: set[asyncio.Task[Any]] = {asyncio.create_task(c) for c in coros}
    waiter = asyncio.create_task(stop.wait())
    failure: BaseException | None = None
    while pending and failure is None and not stop.is_set():
        done, pending = await asyncio.wait(pending | {waiter}, return_when=asyncio.FIRST_COMPLETED)
        pending.discard(waiter)
        for task in done - {waiter}:
            if not task.cancelled() and task.exception() is not None:
                failure = task.exception()
    stop.set()
    await asyncio.gather(*pending, return_exceptions=True)
    waiter.cancel()
    if failure is not None:
        log.error("service task failed", exc_info=failure)
        raise failure


def run_service(
    name: str,
    settings_cls: type[S],
    main: Callable[..., Coroutine[Any, Any, None]],
) -> None:
    """Entry point for `python -m services.<name>`: settings, logs, event loop, exit code."""
    try:
        config = load_settings(settings_cls)
    except (SettingsError, msgspec.ValidationError, ValueError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(2)
    setup_logging(name, config.log_level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(main(config=config))
    except TopicsMissingError as error:  # a deployment step is missing: say which, exit 2
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(2)
