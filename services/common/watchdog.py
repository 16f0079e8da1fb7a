"""Liveness that notices a wedged event loop: a heartbeat on the loop, judged from a thread.

A task on the event loop stamps `last_beat` every `beat_s`. A watchdog thread reads the
stamp: when it is older than `limit_s`, the loop has not run a callback for that long (a
blocking call, a CPU-bound handler, a deadlock in a C extension). The verdict is formed, and
with `port` also served (`GET /health/live`, 200 or 503 with the reason), by that thread, never
by the loop it judges: a probe answered by the wedged loop could only time out, and a check
scheduled on it would run only once the loop is free again, when it no longer sees the stall.
The first time a stall crosses the limit, the thread logs the loop thread's stack, so the log
says where it was stuck before Kubernetes restarts the pod.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.common import metrics
from services.common.periodic import wait_or_stop

log = logging.getLogger(__name__)


class Watchdog:
    """The heartbeat of one event loop and the thread that judges it."""

    def __init__(self, service: str, *, limit_s: float = 10.0, beat_s: float = 1.0) -> None:
        self.service = service
        self.limit_s = limit_s
        self.beat_s = beat_s
        self.last_beat = time.monotonic()  # a float store: atomic for the reading thread
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: ThreadingHTTPServer | None = None
        self._reported = False

    def age(self) -> float:
        """Seconds since the loop last stamped its heartbeat."""
        return time.monotonic() - self.last_beat

    def verdict(self) -> tuple[bool, str]:
        """(alive, detail): alive while the heartbeat is younger than `limit_s`."""
        age = self.age()
        if age > self.limit_s:
            return (
                False,
                f"event loop blocked: no heartbeat for {age:.1f}s (limit {self.limit_s:g}s)",
            )
        return True, f"heartbeat {age:.1f}s ago"

    async def beat(self, stop: asyncio.Event) -> None:
        """On the event loop: stamp the heartbeat every `beat_s` until `stop` is set."""
        self._loop_thread = threading.get_ident()
        while not stop.is_set():
            self.last_beat = time.monotonic()
            await wait_or_stop(stop, self.beat_s)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start the watching thread; with `port`, serve GET /health/live there from it too."""
        self.last_beat = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="sluice-watchdog", daemon=True)
        self._thread.start()
        if port:
            self._server = ThreadingHTTPServer((host, port), _handler(self))
            self._server.daemon_threads = True
            threading.Thread(
                target=self._server.serve_forever, name="sluice-liveness", daemon=True
            ).start()

    @property
    def port(self) -> int:
        """The port the liveness server listens on (0: none)."""
        return int(self._server.server_address[1]) if self._server is not None else 0

    def stop(self) -> None:
        """Stop the thread and the liveness server."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        gauge = metrics.LOOP_LAG.labels(self.service)
        while not self._stop.wait(min(0.5, self.beat_s / 2)):
            age = self.age()
            gauge.set(age)
            if age <= self.limit_s:
                self._reported = False
            elif not self._reported:
                self._reported = True
                log.error("event loop blocked for %.1fs; it is at:\n%s", age, self._loop_stack())

    def _loop_stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread or -1)
        return "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)"


def _handler(watchdog: Watchdog) -> type[BaseHTTPRequestHandler]:
    class Liveness(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a probe every few seconds is not news."""

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/health/live":
                self._answer(404, {"status": "not found"})
                return
            alive, detail = watchdog.verdict()
            body = {"status": "ok" if alive else "fail", "service": watchdog.service}
            if not alive:
                body["detail"] = detail
            self._answer(200 if alive else 503, body)

        def _answer(self, status: int, body: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Liveness
