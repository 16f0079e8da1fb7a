"""JWT bearer auth: HS256 (development) or RS256/ES256 from a JWKS URL; one tenant per token."""

from __future__ import annotations

import time
from typing import Any, Final

import jwt
import msgspec

from services.common.jwks import JwksKeys, KeysUnavailableError, UnknownKeyError

READ: Final = "documents:read"
WRITE: Final = "documents:write"
ADMIN_JOBS: Final = "admin:jobs"  # re-drive any tenant's job
ADMIN_REPLAY: Final = "admin:replay"  # rewind consumer groups, reprocess a tenant's documents
ADMIN_PIPELINE: Final = "admin:pipeline"  # the pipeline's health and lag across tenants
SCOPES: Final = (WRITE, READ, ADMIN_JOBS, ADMIN_REPLAY, ADMIN_PIPELINE)
ADMIN_SCOPES: Final = (ADMIN_JOBS, ADMIN_REPLAY, ADMIN_PIPELINE)
JWKS_ALGORITHMS: Final = ("RS256", "ES256")
MAX_TENANT_CHARS: Final = 128
MAX_SUBJECT_CHARS: Final = 256
MAX_SCOPES: Final = 64


class AuthError(Exception):
    """The request carries no valid credentials; the message says what is wrong (401)."""


class AuthUnavailableError(Exception):
    """Credentials cannot be checked right now: the identity provider is unreachable (503)."""


class Principal(msgspec.Struct, frozen=True):
    """Who is calling, for which tenant, with which scopes."""

    subject: str
    tenant: str
    scopes: frozenset[str]

    def holds(self, scope: str) -> bool:
        """Whether the token grants `scope` (no scope implies another)."""
        return scope in self.scopes

    def require(self, *any_of: str) -> None:
        """Raise PermissionError unless the principal holds one of `any_of`."""
        if not any(scope in self.scopes for scope in any_of):
            needed = "' or '".join(any_of)
            raise PermissionError(f"token lacks the '{needed}' scope")


class TokenPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What every token must satisfy beyond its signature."""

    issuer: str = ""  # required `iss` when set
    audience: str = ""  # required among `aud` when set; any `aud` is accepted when empty
    tenant_claim: str = "tenant"
    max_lifetime_s: int = 24 * 3600
    leeway_s: int = 30


def issue_token(
    tenant: str,
    secret: str,
    *,
    subject: str = "dev",
    scopes: tuple[str, ...] = (WRITE, READ),
    ttl_seconds: int = 24 * 3600,
    **claims: Any,
) -> str:
    """A signed HS256 token for `tenant` (for development and tests); `claims` add or override."""
    issued = int(time.time())
    body = {
        "sub": subject,
        "tenant": tenant,
        "scope": " ".join(scopes),
        "iat": issued,
        "exp": issued + ttl_seconds,
        **claims,
    }
    return jwt.encode(body, secret, algorithm="HS256")


def _printable(value: str) -> bool:
    return value.isprintable() and value == value.strip()


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(f"claim '{name}' must be a number")
    return float(value)


def principal_from_claims(claims: dict[str, Any], policy: TokenPolicy) -> Principal:
    """The principal of verified `claims`; AuthError for a claim of the wrong type or shape."""
    tenant = claims.get(policy.tenant_claim)
    if not isinstance(tenant, str) or not tenant:
        raise AuthError(f"token has no '{policy.tenant_claim}' claim")
    if len(tenant) > MAX_TENANT_CHARS or not _printable(tenant):
        raise AuthError(
            f"claim '{policy.tenant_claim}' must be 1-{MAX_TENANT_CHARS} printable characters"
        )
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("claim 'sub' must be a non-empty string")
    if len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        raise AuthError(f"claim 'sub' must be 1-{MAX_SUBJECT_CHARS} printable characters")
    scope = claims.get("scope", claims.get("scp", ""))
    words = scope.split() if isinstance(scope, str) else scope
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise AuthError("claim 'scope' must be a space-separated string or a list of strings")
    if len(words) > MAX_SCOPES:
        raise AuthError(f"claim 'scope' holds more than {MAX_SCOPES} scopes")
    lifetime = _number(claims, "exp") - _number(claims, "iat")
    if lifetime > policy.max_lifetime_s:
        raise AuthError(
            f"token lifetime ({lifetime:.0f} s) exceeds the {policy.max_lifetime_s} s allowed"
        )
    return Principal(subject=subject, tenant=tenant, scopes=frozenset(words))


def decode_claims(token: str, key: Any, algorithm: str, policy: TokenPolicy) -> dict[str, Any]:
    """Check signature, `exp`, `iat`, `nbf`, and `iss`/`aud` where the policy sets them."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=policy.audience or None,
            issuer=policy.issuer or None,
            leeway=policy.leeway_s,
            options={"require": ["exp", "iat", "sub"], "verify_aud": bool(policy.audience)},
        )
    except jwt.ExpiredSignatureError as error:
        raise AuthError("token has expired") from error
    except jwt.PyJWTError as error:
        raise AuthError(f"invalid token: {error}") from error
    return claims


def verify_token(token: str, secret: str, policy: TokenPolicy | None = None) -> Principal:
    """Verify an HS256 token with `secret`; return the principal or raise AuthError."""
    policy = policy or TokenPolicy()
    return principal_from_claims(decode_claims(token, secret, "HS256", policy), policy)


class TokenVerifier:
    """Verifies bearer tokens: HS256 with the shared secret, RS256/ES256 with the JWKS keys."""

    def __init__(
        self, *, secret: str | None, jwks: JwksKeys | None, policy: TokenPolicy | None = None
    ) -> None:
        if not secret and jwks is None:
            raise ValueError("a token verifier needs an HS256 secret or a JWKS URL")
        self.secret = secret
        self.jwks = jwks
        self.policy = policy or TokenPolicy()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; AuthError (401) or AuthUnavailableError (503)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AuthError(f"invalid token: {error}") from error
        algorithm, kid = header.get("alg"), header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("invalid token: 'kid' must be a string")
        key: Any
        if algorithm == "HS256" and self.secret:
            key = self.secret
        elif algorithm in JWKS_ALGORITHMS and self.jwks is not None:
            try:
                key = await self.jwks.key(kid)
            except UnknownKeyError as error:
                raise AuthError(str(error)) from error
            except KeysUnavailableError as error:
                raise AuthUnavailableError(str(error)) from error
            if key.algorithm_name != algorithm:
                raise AuthError(f"invalid token: key {kid!r} is not an {algorithm} key")
        else:
            accepted = ([] if not self.secret else ["HS256"]) + (
                list(JWKS_ALGORITHMS) if self.jwks is not None else []
            )
            raise AuthError(
                f"invalid token: algorithm {algorithm!r} is not accepted"
                f" (accepted: {', '.join(accepted)})"
            )
        claims = decode_claims(token, key, str(algorithm), self.policy)
        return principal_from_claims(claims, self.policy)


def bearer(header: str | None) -> str:
    """The token from an `Authorization: Bearer ...` header value."""
    if not header:
        raise AuthError("missing Authorization header (expected 'Bearer <JWT>')")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <JWT>'")
    return token.strip()
