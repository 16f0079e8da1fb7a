"""JWT bearer auth (HS256): every request is scoped to the token's tenant."""

from __future__ import annotations

import time
from typing import Final

import jwt
import msgspec

SCOPES: Final = ("documents:write", "documents:read", "admin")
_ALGORITHMS: Final = ["HS256"]


class AuthError(Exception):
    """The request carries no valid credentials; the message says what is wrong."""


class Principal(msgspec.Struct, frozen=True):
    """Who is calling, for which tenant, with which scopes."""

    subject: str
    tenant: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        """Raise PermissionError unless the principal holds `scope` (or admin)."""
        if scope not in self.scopes and "admin" not in self.scopes:
            raise PermissionError(f"token lacks the '{scope}' scope")


def issue_token(
    tenant: str,
    secret: str,
    *,
    subject: str = "dev",
    scopes: tuple[str, ...] = ("documents:write", "documents:read"),
    ttl_seconds: int = 24 * 3600,
) -> str:
    """A signed HS256 token for `tenant` (for development and tests)."""
    issued = int(time.time())
    claims = {
        "sub": subject,
        "tenant": tenant,
        "scope": " ".join(scopes),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(token: str, secret: str) -> Principal:
    """Check signature and expiry; return the principal or raise AuthError."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=_ALGORITHMS, options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError as error:
        raise AuthError("token has expired") from error
    except jwt.PyJWTError as error:
        raise AuthError(f"invalid token: {error}") from error
    tenant = claims.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise AuthError("token has no 'tenant' claim")
    scope = claims.get("scope", "")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset(scope)
    return Principal(subject=str(claims["sub"]), tenant=tenant, scopes=scopes)


def bearer(header: str | None) -> str:
    """The token from an `Authorization: Bearer ...` header value."""
    if not header:
        raise AuthError("missing Authorization header (expected 'Bearer <JWT>')")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <JWT>'")
    return token.strip()
