"""Work a service does every few seconds until it stops: the wait a stop cuts short, and the
loop that outlives a failed round."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def every(
    seconds: float,
    stop: asyncio.Event,
    step: Callable[[], Awaitable[object]],
    log: logging.Logger,
    failed: str,
) -> None:
    """Run `step` every `seconds` until `stop` is set; a round that raises is logged on `log`
    as `failed` (with its traceback) and the next round tries again."""
    while not stop.is_set():
        try:
            await step()
        except Exception:  # the loop must outlive any outage
            log.warning(failed, exc_info=True)
        await wait_or_stop(stop, seconds)
