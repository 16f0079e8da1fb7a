"""A handler that blocks the event loop fails liveness, answered by the watchdog thread on
SLUICE_LIVENESS_PORT while the loop itself cannot answer anything; liveness recovers with the
loop, and the log says where the loop was stuck. Real servers (`serve`), no Kafka."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from litestar import get

from infra.local.ports import free_port
from services.common import metrics
from services.common.http import Check, create_app
from services.common.service import Service, serve
from services.common.settings import CommonSettings, load_settings

pytestmark = pytest.mark.integration
BLOCK_S = 4.0
LIMIT_S = 1.0


async def _ready() -> dict[str, Check]:
    return {}


@get("/block", sync_to_thread=False)
def wedge_the_loop() -> dict[str, str]:  # runs on the event loop: nothing else runs meanwhile
    time.sleep(BLOCK_S)
    return {"status": "done"}


@asynccontextmanager
async def _service() -> AsyncIterator[Service]:
    yield Service(app=create_app("wedged", _ready, [wedge_the_loop]))


@dataclass
class Running:
    api: str
    live: str


@pytest.fixture
def running() -> Iterator[Running]:
    """The service in a thread of its own (its own event loop), stopped at the end."""
    port, live_port = free_port(), free_port()
    settings = load_settings(
        CommonSettings,
        {"SLUICE_LIVENESS_PORT": str(live_port), "SLUICE_LOOP_STALL_S": str(LIMIT_S)},
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        loop.run_until_complete(serve(_service(), settings, port, stop=stop))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{live_port}")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


def _get(url: str, timeout: float = 2.0) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=timeout)
    except httpx.TransportError:
        return None


def _until(url: str, status: int, within_s: float) -> httpx.Response:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        response = _get(url)
        if response is not None and response.status_code == status:
            return response
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered {status} within {within_s:.0f}s")


def test_a_blocked_event_loop_fails_liveness_from_the_watchdog(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="services.common.watchdog")
    _until(f"{running.api}/health/live", 200, 30)
    assert _until(f"{running.live}/health/live", 200, 5).json()["status"] == "ok"

    blocker = threading.Thread(target=_get, args=(f"{running.api}/block", 30), daemon=True)
    blocker.start()
    failed = _until(f"{running.live}/health/live", 503, BLOCK_S)
    body = failed.json()
    assert body["status"] == "fail" and body["service"] == "wedged"
    assert "event loop blocked" in body["detail"], body
    assert _get(f"{running.api}/health/live", timeout=0.5) is None, (
        "the loop answered while blocked: the test did not block it"
    )
    lag = metrics.REGISTRY.get_sample_value("sluice_event_loop_lag_seconds", {"service": "wedged"})
    assert lag is not None and lag > LIMIT_S

    blocker.join(timeout=30)
    assert _until(f"{running.live}/health/live", 200, 10).json()["status"] == "ok"
    assert _until(f"{running.api}/health/live", 200, 10).json()["status"] == "ok"
    stuck = [r.getMessage() for r in caplog.records if "event loop blocked" in r.getMessage()]
    assert len(stuck) == 1, "one stall, one report"
    assert "wedge_the_loop" in stuck[0], "the report shows where the loop was stuck"
