"""Who may call a route: the bearer token is checked by a guard, before any body is read.

A route lists the scopes that admit it (`guards=[requires(WRITE)]`); the guard verifies the
token with the app's `TokenVerifier` (in `app.state`), keeps the principal on the request, and
answers 401/403 before the handler's body or form is parsed. Handlers take `principal:
Principal` as a dependency, which reuses that verification.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.connection import ASGIConnection, Request
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import Guard

from services.common.auth import AuthError, Principal, TokenPolicy, TokenVerifier, bearer
from services.common.jwks import JwksKeys
from services.common.problems import PROBLEM_JSON, Problem
from services.common.settings import CommonSettings, from_settings

VERIFIER_STATE = "token_verifier"
BEARER_SCHEME = "bearer"
SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller's principal from the bearer token (verified once per request).

    Kept as the request scope's `user` (a new scope per request; Litestar's `request.user`).
    """
    cached = connection.scope.get("user")
    if isinstance(cached, Principal):
        return cached
    verifier = connection.app.state.get(VERIFIER_STATE)
    if not isinstance(verifier, TokenVerifier):
        raise AuthError("this service accepts no tokens (no verifier configured)")
    principal = await verifier.verify(bearer(connection.headers.get("authorization")))
    connection.scope["user"] = principal
    return principal


def requires(*any_of: str) -> Guard:
    """A guard admitting callers whose token holds one of `any_of` (401 without a valid one)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        principal.require(*any_of)

    guard.__name__ = f"requires({', '.join(any_of)})"
    return guard


async def _principal(request: Request[Any, Any, Any]) -> Principal:
    return await authenticate(request)


def principal_dependency() -> Provide:
    """The `principal` dependency: what the route's guard verified."""
    return Provide(_principal)


def security_components() -> Components:
    """The bearer scheme every /v1 route declares in the OpenAPI document."""
    return Components(
        security_schemes={
            BEARER_SCHEME: SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format="JWT",
                description="A JWT naming the tenant (`tenant` claim) and the scopes.",
            )
        }
    )


_ERRORS = {
    400: "The request is malformed: a parameter, header or body failed validation",
    401: "No valid bearer token (missing, malformed, expired, badly signed, wrong claims)",
    403: "The token lacks the scope this route needs",
    404: "No such resource for the caller's tenant",
    409: "The request conflicts with the resource's state",
    413: "The request body is larger than allowed",
    415: "The request's or the upload's media type is not supported",
    422: "The upload is refused (an archive over the limits)",
    429: "The tenant is over a limit (uploads per window, bytes per window, uploads at once);"
    " Retry-After says when to try again",
    503: "A dependency is unavailable (Kafka, the identity provider, the search model) or the"
    " process is at capacity; Retry-After says when to try again",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for `statuses` (plus 400, 401, 403 and 503), all problem+json."""
    wanted = sorted({400, 401, 403, 503, *statuses})
    return {
        status: ResponseSpec(
            Problem, description=_ERRORS[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in wanted
    }


def ok_responses(
    body: type[msgspec.Struct], description: str, *errors: int
) -> dict[int, ResponseSpec]:
    """A route's answers: `body` on success, problem+json for the errors it can give."""
    return {
        200: ResponseSpec(body, description=description, generate_examples=False),
        **error_responses(*errors),
    }


def verifier_from_settings(settings: CommonSettings) -> TokenVerifier:
    """The token verifier the settings describe (HS256 secret, JWKS URL, iss/aud, limits)."""
    jwks = None
    if settings.jwt_jwks_url:
        jwks = JwksKeys(
            settings.jwt_jwks_url,
            cache_s=settings.jwks_cache_s,
            min_refresh_s=settings.jwks_min_refresh_s,
        )
    policy = from_settings(TokenPolicy, settings, "jwt_")
    return TokenVerifier(secret=settings.hs256_secret, jwks=jwks, policy=policy)
