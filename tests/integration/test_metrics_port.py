"""`SLUICE_METRICS_PORT`: /metrics answered on a port of its own by real servers, the API port
serving everything else, and both stopping with the service."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from infra.local.ports import free_port
from services.common.http import Check, create_app, serve_http
from services.common.settings import CommonSettings, load_settings

pytestmark = pytest.mark.integration


async def _wait(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(200):
            try:
                return await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise TimeoutError(url)


async def test_metrics_are_served_on_their_own_port() -> None:
    api_port, metrics_port = free_port(), free_port()
    settings = load_settings(CommonSettings, {"SLUICE_METRICS_PORT": str(metrics_port)})

    async def ready() -> dict[str, Check]:
        return {}

    stop = asyncio.Event()
    server = asyncio.create_task(
        serve_http(create_app("status", ready, settings=settings), "127.0.0.1", api_port, stop)
    )
    try:
        metrics = await _wait(f"http://127.0.0.1:{metrics_port}/metrics")
        assert metrics.status_code == 200
        assert "# TYPE" in metrics.text
        assert (await _wait(f"http://127.0.0.1:{api_port}/health/live")).status_code == 200
        assert (await _wait(f"http://127.0.0.1:{api_port}/metrics")).status_code == 404
        assert (await _wait(f"http://127.0.0.1:{metrics_port}/health/live")).status_code == 404
    finally:
        stop.set()
        await asyncio.wait_for(server, timeout=30)
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
