"""HTTP plumbing every service shares: health probes, /metrics, problem+json errors, serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal, cast

import msgspec
import uvicorn
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler, Method
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.access import (
    VERIFIER_STATE,
    principal_dependency,
    security_components,
    verifier_from_settings,
)
from services.common.auth import TokenVerifier
from services.common.observe import NOT_COUNTED, request_metrics
from services.common.problems import (
    EXCEPTION_HANDLERS,
    PROBLEM_JSON,
    LimitedRequest,
    Problem,
    problem,
)
from services.common.settings import CommonSettings

__all__ = ["PROBLEM_JSON", "Check", "Health", "Problem", "create_app", "problem", "serve_http"]

log = logging.getLogger(__name__)
METRICS_PORT_STATE = "metrics_port"
SERVICE_STATE = "service"  # the service's name
READINESS_STATE = "readiness"  # its ReadinessCheck, for the periodic self-check
WATCHDOG_STATE = "watchdog"  # set by `serve`: its verdict answers /health/live too
MAX_JSON_BODY_BYTES = 1024 * 1024  # services without uploads take small JSON bodies only
API_VERSION = "1.0.0"


class Check(msgspec.Struct, frozen=True):
    """One dependency's health."""

    ok: bool
    detail: str = ""


class Health(msgspec.Struct, frozen=True):
    """The body of /health/ready."""

    status: str
    service: str
    checks: dict[str, Check]


ReadinessCheck = Callable[[], Awaitable[dict[str, Check]]]


def health_routes(
    service: str, readiness: ReadinessCheck, *, with_metrics: bool = True
) -> list[ControllerRouterHandler]:
    """/health/live, /health/ready and (unless served on a port of its own) /metrics."""

    @get("/health/live", sync_to_thread=False, include_in_schema=False, opt=NOT_COUNTED)
    def live(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
        # Answered by the event loop, so a wedged loop answers nothing (a probe timeout);
        # the watchdog's own port answers 503 with the reason (services/common/watchdog.py).
        watchdog = request.app.state.get(WATCHDOG_STATE)
        alive, detail = watchdog.verdict() if watchdog is not None else (True, "")
        body = {"status": "ok" if alive else "fail", "service": service}
        if not alive:
            body["detail"] = detail
        return Response(body, status_code=200 if alive else 503)

    @get("/health/ready", include_in_schema=False, opt=NOT_COUNTED)
    async def ready() -> Response[Health]:
        try:
            checks = await readiness()
        except Exception as error:  # noqa: BLE001 - a failing check is "not ready"
            checks = {"readiness": Check(ok=False, detail=str(error))}
        ok = all(c.ok for c in checks.values())
        body = Health(status="ok" if ok else "fail", service=service, checks=checks)
        return Response(body, status_code=200 if ok else 503)

    return [live, ready, metrics_route()] if with_metrics else [live, ready]


def metrics_route() -> ControllerRouterHandler:
    """GET /metrics in Prometheus' text format."""

    @get(
        "/metrics",
        sync_to_thread=False,
        include_in_schema=False,
        media_type=MediaType.TEXT,
        opt=NOT_COUNTED,
    )
    def metrics() -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics


def openapi_config(service: str, *, docs_ui: bool) -> OpenAPIConfig:
    """The service's OpenAPI document at /schema/openapi.json; the UIs only when `docs_ui`."""
    plugins: list[Any] = [JsonRenderPlugin()]
    if docs_ui:
        plugins += [SwaggerRenderPlugin(), RedocRenderPlugin(path=["/", "/redoc"])]
    return OpenAPIConfig(
        title=f"Sluice {service} API",
        version=API_VERSION,
        components=security_components(),
        render_plugins=plugins,
    )


def cors_config(settings: CommonSettings) -> CORSConfig | None:
    """CORS from the settings' explicit lists; None (no CORS headers) without origins."""
    origins, methods, headers = settings.cors
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=cast(list[Method | Literal["*"]], list(methods)),
        allow_headers=list(headers),
        allow_credentials=False,
        expose_headers=["Retry-After", "Location"],
        max_age=600,
    )


def create_app(
    service: str,
    readiness: ReadinessCheck,
    routes: Sequence[ControllerRouterHandler] = (),
    *,
    settings: CommonSettings | None = None,
    verifier: TokenVerifier | None = None,
    **kwargs: Any,
) -> Litestar:
    """A Litestar app with the shared probes, error shapes and auth, plus `routes`.

    With `settings` (ingest, status): tokens are verified as they configure (unless
    `verifier` is given), CORS, debug, the docs UI and a separate metrics port follow them.
    A `verifier` alone (tests) gives the auth without the rest.
    """
    kwargs.setdefault("logging_config", None)  # keep our JSON root handler (setup_logging)
    kwargs.setdefault("request_max_body_size", MAX_JSON_BODY_BYTES)
    metrics_port = settings.metrics_port if settings is not None else 0
    if settings is not None:
        verifier = verifier or verifier_from_settings(settings)
        kwargs.setdefault("cors_config", cors_config(settings))
        kwargs.setdefault("debug", settings.debug)
    docs_ui = settings.serves_docs_ui if settings is not None else False
    dependencies = dict(kwargs.pop("dependencies", {}))
    if verifier is not None:
        dependencies.setdefault("principal", principal_dependency())
    middleware = [request_metrics(service), *kwargs.pop("middleware", [])]
    return Litestar(
        route_handlers=[
            *health_routes(service, readiness, with_metrics=not metrics_port),
            *routes,
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        request_class=LimitedRequest,
        openapi_config=openapi_config(service, docs_ui=docs_ui),
        dependencies=dependencies,
        middleware=middleware,
        state=State(
            {
                VERIFIER_STATE: verifier,
                METRICS_PORT_STATE: metrics_port,
                SERVICE_STATE: service,
                READINESS_STATE: readiness,
            }
        ),
        **kwargs,
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_one(app: Litestar, host: str, port: int, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await task
    stopper.cancel()
    if task in done and not stop.is_set():
        raise RuntimeError(f"HTTP server on {host}:{port} stopped unexpectedly")


async def serve_http(app: Litestar, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` until `stop` is set (uvicorn with httptools, inside this event loop).

    When the app was built with a metrics port of its own, /metrics is served there too.
    """
    servers = [_serve_one(app, host, port, stop)]
    metrics_port = int(app.state.get(METRICS_PORT_STATE) or 0)
    if metrics_port:
        metrics_app = Litestar(
            route_handlers=[metrics_route()], openapi_config=None, logging_config=None
        )
        servers.append(_serve_one(metrics_app, host, metrics_port, stop))
    tasks = [asyncio.create_task(server) for server in servers]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
