"""Process lifecycle: signals to a stop event, and running the service's tasks together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgspec
import uvloop

from services.common.logs import setup_logging
from services.common.settings import CommonSettings, SettingsError, load_settings

log = logging.getLogger(__name__)
S = TypeVar("S", bound=CommonSettings)


def lower_cpu_priority(increment: int) -> None:
    """Raise this process's nice value (call before any thread starts: threads inherit it).

    Parser and embedder do batch CPU work; on a machine they share with ingest and status,
    the request paths then get the CPU first and the batch work takes what is left.
    """
    if increment > 0:
        niceness = os.nice(increment)
        log.info("nice value now %d", niceness)


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM/SIGINT set `stop` so the service finishes its batch, commits and leaves."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


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


def run(
    service: str,
    settings_cls: type[S],
    main: Callable[..., Coroutine[Any, Any, None]],
) -> None:
    """Entry point for `python -m services.<name>`: settings, logs, event loop, exit code."""
    try:
        config = load_settings(settings_cls)
    except (SettingsError, msgspec.ValidationError, ValueError) as error:
        print(f"{service}: {error}", file=sys.stderr)
        sys.exit(2)
    setup_logging(service, config.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main(config=config))
