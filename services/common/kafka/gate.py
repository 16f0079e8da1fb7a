"""Holding a consumer's records back while its stage cannot work (configuration, budget).

A `ConfigurationError` (wrong key, missing model, wrong URL) closes the gate until the error's
probe passes; a `ThrottledError` (a shared budget is spent) closes it for the error's wait.
While it is closed the consumer loop keeps every partition paused (it still polls, so it stays
in its group) and the records it held are handed over again once it opens. Nothing is failed,
retried through a topic or dead-lettered for either.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Callable

from services.common import metrics
from services.common.errors import ConfigurationError, Probe, ThrottledError

log = logging.getLogger(__name__)

PROBE_BACKOFF_S = 1.0  # first wait before a probe; doubles to PROBE_BACKOFF_MAX_S
PROBE_BACKOFF_MAX_S = 30.0


class Hold:
    """Why a gate is closed, as readiness shows it."""

    def __init__(self) -> None:
        self.reason = ""  # empty while open
        self.misconfigured = False  # True: the service is not ready


async def run_probe(probe: Probe) -> None:
    """Call `probe`: a coroutine function on the event loop, a plain one in a worker thread."""
    if inspect.iscoroutinefunction(probe):
        await probe()
        return
    result = await asyncio.to_thread(probe)
    if inspect.isawaitable(result):
        await result


class Gate:
    """Open or closed; `on_open` runs (on the event loop) each time it opens again."""

    def __init__(self, group: str, hold: Hold, on_open: Callable[[], None]) -> None:
        self.group = group
        self.hold = hold
        self.on_open = on_open
        self._opened = asyncio.Event()
        self._opened.set()
        self._prober: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._until = 0.0

    @property
    def closed(self) -> bool:
        """Whether records must be held back now."""
        return not self._opened.is_set()

    def close(self, error: ConfigurationError | ThrottledError) -> None:
        """Close for `error`: until its probe passes, or for its wait (a probe outranks a wait)."""
        if isinstance(error, ConfigurationError):
            self._misconfigured(error)
            return
        if self._prober is not None:
            return  # already held until a probe passes
        until = time.monotonic() + error.wait_s
        if self.closed and until <= self._until:
            return
        self._until = until
        self._shut(f"throttled: {error.message}", misconfigured=False, cause="throttled")
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(error.wait_s, self.open)
        log.info("budget spent; partitions paused for %.1fs (%s)", error.wait_s, error.message)

    async def wait_open(self) -> None:
        """Return once the gate is open."""
        await self._opened.wait()

    def open(self) -> None:
        """Open again: the loop resumes its partitions and hands the held records over."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._prober = None
        if not self.closed:
            return
        self.hold.reason = ""
        self.hold.misconfigured = False
        metrics.CONSUMER_PAUSED.labels(self.group, "configuration").set(0)
        metrics.CONSUMER_PAUSED.labels(self.group, "throttled").set(0)
        self._opened.set()
        self.on_open()

    def stop(self) -> None:
        """Cancel the probe or timer (the loop is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._prober is not None:
            self._prober.cancel()

    def _misconfigured(self, error: ConfigurationError) -> None:
        first = not self.hold.misconfigured
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._shut(f"{error.code}: {error.message}", misconfigured=True, cause="configuration")
        if first:
            log.error(
                "configuration error (%s: %s); partitions paused until a probe passes",
                error.code,
                error.message,
            )
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe_until_passed(error.probe))

    def _shut(self, reason: str, *, misconfigured: bool, cause: str) -> None:
        self.hold.reason = reason
        self.hold.misconfigured = misconfigured
        metrics.CONSUMER_PAUSED.labels(self.group, cause).set(1)
        self._opened.clear()

    async def _probe_until_passed(self, probe: Probe | None) -> None:
        """Probe with backoff and jitter until it passes (no probe: wait once), then open."""
        wait = PROBE_BACKOFF_S
        while True:
            await asyncio.sleep(wait * (0.75 + random.random() / 2))  # noqa: S311 - jitter
            if probe is None:
                break
            try:
                await run_probe(probe)
            except ConfigurationError as again:
                self.hold.reason = f"{again.code}: {again.message}"
                probe = again.probe or probe
                log.warning("probe failed: %s; next in %.0fs", self.hold.reason, wait * 2)
            except Exception as other:  # noqa: BLE001 - any failure keeps the gate shut
                log.warning("probe failed (%s); next in %.0fs", other, wait * 2)
            else:
                log.info("probe passed; resuming partitions (%s)", self.hold.reason)
                break
            wait = min(wait * 2, PROBE_BACKOFF_MAX_S)
        self.open()
