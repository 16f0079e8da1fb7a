"""HTTP plumbing every service shares: health probes, /metrics, problem+json errors, serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from http import HTTPStatus
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, MediaType, Request, Response, get
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ControllerRouterHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.auth import AuthError, Principal, bearer, verify_token
from services.common.errors import RefusedError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Check(msgspec.Struct, frozen=True):
    """One dependency's health."""

    ok: bool
    detail: str = ""


class Health(msgspec.Struct, frozen=True):
    """The body of /health/ready."""

    status: str
    service: str
    checks: dict[str, Check]


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details."""

    title: str
    status: int
    detail: str | None = None
    type: str = "about:blank"
    errors: list[dict[str, Any]] | None = None


ReadinessCheck = Callable[[], Awaitable[dict[str, Check]]]


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response[Problem]:
    """A problem+json response."""
    body = Problem(title=title, status=status, detail=detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in exc.extra]
    return problem(exc.status_code, _title(exc.status_code), exc.detail, errors=errors)


def _auth_error(_: Request[Any, Any, Any], exc: AuthError) -> Response[Problem]:
    return problem(401, "Unauthorized", str(exc))


def _refused(_: Request[Any, Any, Any], exc: RefusedError) -> Response[Problem]:
    return problem(exc.status, exc.title, exc.detail)


def _permission_error(_: Request[Any, Any, Any], exc: PermissionError) -> Response[Problem]:
    return problem(403, "Forbidden", str(exc))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error", "see server logs")


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def health_routes(service: str, readiness: ReadinessCheck) -> list[ControllerRouterHandler]:
    """/health/live, /health/ready and /metrics for `service`."""

    @get("/health/live", sync_to_thread=False, include_in_schema=False)
    def live() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @get("/health/ready", include_in_schema=False)
    async def ready() -> Response[Health]:
        try:
            checks = await readiness()
        except Exception as error:  # noqa: BLE001 - a failing check is "not ready"
            checks = {"readiness": Check(ok=False, detail=str(error))}
        ok = all(c.ok for c in checks.values())
        body = Health(status="ok" if ok else "fail", service=service, checks=checks)
        return Response(body, status_code=200 if ok else 503)

    @get("/metrics", sync_to_thread=False, include_in_schema=False, media_type=MediaType.TEXT)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [live, ready, metrics]


def create_app(
    service: str,
    readiness: ReadinessCheck,
    routes: Sequence[ControllerRouterHandler] = (),
    **kwargs: Any,
) -> Litestar:
    """A Litestar app with the shared probes and error shapes plus `routes`."""
    kwargs.setdefault("logging_config", None)  # keep our JSON root handler (setup_logging)
    return Litestar(
        route_handlers=[*health_routes(service, readiness), *routes],
        exception_handlers={
            HTTPException: _http_exception,
            AuthError: _auth_error,
            RefusedError: _refused,
            PermissionError: _permission_error,
            Exception: _unexpected,
        },
        **kwargs,
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(app: Litestar, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` until `stop` is set (uvicorn with httptools, inside this event loop)."""
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


def principal_provider(secret: str) -> Provide:
    """A Litestar dependency that turns the bearer token into a Principal (or a 401)."""

    async def provide(request: Request[Any, Any, Any]) -> Principal:
        return verify_token(bearer(request.headers.get("authorization")), secret)

    return Provide(provide)
