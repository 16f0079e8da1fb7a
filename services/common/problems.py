"""RFC 9457 problem details: every error either HTTP service answers, in one shape."""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.types import ExceptionHandler

from services.common.auth import AuthError, AuthUnavailableError
from services.common.errors import RefusedError
from services.common.jsonlimits import MAX_BODY_DEPTH, JsonLimitError, check_json

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details."""

    title: str
    status: int
    detail: str | None = None
    type: str = "about:blank"
    errors: list[dict[str, Any]] | None = None


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Problem]:
    """A problem+json response."""
    body = Problem(title=title, status=status, detail=detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def title_of(status: int) -> str:
    """The reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class LimitedRequest(Request[Any, Any, Any]):
    """A request whose JSON body is refused (400) when nested deeper than MAX_BODY_DEPTH."""

    async def json(self) -> Any:
        """The decoded JSON body; ClientException (400) when too deep to be a real request."""
        try:
            value = await super().json()
            check_json(value, max_depth=MAX_BODY_DEPTH)
        except RecursionError as error:
            raise ClientException(f"JSON nested deeper than {MAX_BODY_DEPTH} levels") from error
        except JsonLimitError as error:
            raise ClientException(str(error)) from error
        return value


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in exc.extra]
    return problem(  # the exception's headers stay (Allow on a 405, Retry-After)
        exc.status_code, title_of(exc.status_code), exc.detail, headers=exc.headers, errors=errors
    )


def _auth_error(_: Request[Any, Any, Any], exc: AuthError) -> Response[Problem]:
    return problem(401, "Unauthorized", str(exc), headers={"www-authenticate": "Bearer"})


def _auth_unavailable(_: Request[Any, Any, Any], exc: AuthUnavailableError) -> Response[Problem]:
    return problem(503, "Service Unavailable", str(exc), headers={"retry-after": "5"})


def _permission_error(_: Request[Any, Any, Any], exc: PermissionError) -> Response[Problem]:
    return problem(403, "Forbidden", str(exc))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    detail = "see server logs"
    if request.app.debug:
        detail = "".join(traceback.format_exception(exc))
    return problem(500, "Internal Server Error", detail)


def _refused(_: Request[Any, Any, Any], exc: RefusedError) -> Response[Problem]:
    headers = None if exc.retry_after_s is None else {"retry-after": str(exc.retry_after_s)}
    return problem(exc.status, exc.title, exc.detail, headers=headers)


EXCEPTION_HANDLERS: dict[int | type[Exception], ExceptionHandler[Any]] = {
    HTTPException: _http_exception,
    RefusedError: _refused,
    AuthError: _auth_error,
    AuthUnavailableError: _auth_unavailable,
    PermissionError: _permission_error,
    Exception: _unexpected,
}
