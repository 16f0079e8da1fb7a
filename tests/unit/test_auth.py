"""Unit tests for JWT bearer auth (services/common/auth.py): claims, policy, scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.auth import (
    AuthError,
    Principal,
    TokenPolicy,
    TokenVerifier,
    bearer,
    issue_token,
    verify_token,
)
from services.common.jwks import JwksKeys
from tests.fixtures.cases import Case, case_ids

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4
OTHER_SECRET = "another-secret-" + "0123456789abcdef" * 4


def _signed(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(**changes: Any) -> dict[str, Any]:
    # Built at collection time, and the suite runs for minutes: valid for hours, not a minute.
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "alice",
        "tenant": "acme",
        "scope": "documents:read",
        "iat": now,
        "exp": now + 6 * 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.unit
def test_issue_verify_round_trip() -> None:
    token = issue_token("acme", SECRET, subject="alice", scopes=("documents:read", "admin:jobs"))
    principal = verify_token(token, SECRET)
    assert principal == Principal(
        subject="alice", tenant="acme", scopes=frozenset({"documents:read", "admin:jobs"})
    )


@pytest.mark.unit
def test_default_scopes_are_read_and_write() -> None:
    principal = verify_token(issue_token("acme", SECRET), SECRET)
    assert principal.scopes == frozenset({"documents:write", "documents:read"})
    assert principal.subject == "dev"


# A callable is called when the test runs: the suite runs for minutes after collection, so a
# time claim close to now must be made then.
VALID: list[Case[dict[str, Any] | Callable[[], dict[str, Any]], Principal]] = [
    Case(
        "space-separated scope",
        _claims(scope="documents:read documents:write"),
        Principal("alice", "acme", frozenset({"documents:read", "documents:write"})),
    ),
    Case(
        "scope as a list",
        _claims(scope=["documents:read", "admin:jobs"]),
        Principal("alice", "acme", frozenset({"documents:read", "admin:jobs"})),
    ),
    Case(
        "scopes in 'scp' (Okta, Azure)",
        _claims(scope=None, scp=["documents:read"]),
        Principal("alice", "acme", frozenset({"documents:read"})),
    ),
    Case("no scope claim", _claims(scope=None), Principal("alice", "acme", frozenset())),
    Case(
        "numeric subject", _claims(sub="42"), Principal("42", "acme", frozenset({"documents:read"}))
    ),
    Case(
        "an audience while none is configured (was rejected)",
        _claims(aud="https://api.example.com"),
        Principal("alice", "acme", frozenset({"documents:read"})),
    ),
    Case(
        "expired 10 s ago: within the clock skew",
        lambda: _claims(exp=int(time.time()) - 10),
        Principal("alice", "acme", frozenset({"documents:read"})),
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", VALID, ids=case_ids(VALID))
def test_verify_valid_tokens(
    case: Case[dict[str, Any] | Callable[[], dict[str, Any]], Principal],
) -> None:
    claims = case.given() if callable(case.given) else case.given
    assert verify_token(_signed(claims), SECRET) == case.expected


NOW = int(time.time())
INVALID: list[Case[str | Callable[[], str], str]] = [
    Case("expired beyond the skew", _signed(_claims(exp=NOW - 120)), "expired"),
    Case("wrong secret", _signed(_claims(), OTHER_SECRET), "invalid token"),
    Case("missing tenant claim", _signed(_claims(tenant=None)), "no 'tenant' claim"),
    Case("empty tenant claim", _signed(_claims(tenant="")), "no 'tenant' claim"),
    Case("tenant not a string", _signed(_claims(tenant=7)), "no 'tenant' claim"),
    Case("tenant with a NUL", _signed(_claims(tenant="ac\x00me")), "printable"),
    Case("tenant with a newline", _signed(_claims(tenant="ac\nme")), "printable"),
    Case("tenant of 129 characters", _signed(_claims(tenant="t" * 129)), "1-128"),
    Case("tenant padded with spaces", _signed(_claims(tenant=" acme")), "printable"),
    Case("scope an integer", _signed(_claims(scope=7)), "claim 'scope' must be"),
    Case("scope a list holding a number", _signed(_claims(scope=["a", 1])), "claim 'scope'"),
    Case("scope an object", _signed(_claims(scope={"a": 1})), "claim 'scope' must be"),
    Case("scope of 65 scopes", _signed(_claims(scope=" ".join(f"s{i}" for i in range(65)))), "64"),
    Case("subject with a NUL", _signed(_claims(sub="al\x00ice")), "claim 'sub'"),
    Case("subject not a string", _signed(_claims(sub=42)), "invalid token"),
    Case("missing exp", _signed(_claims(exp=None)), "invalid token"),
    Case("missing iat", _signed(_claims(iat=None)), "invalid token"),
    Case("missing sub", _signed(_claims(sub=None)), "invalid token"),
    Case(
        "exp a numeric string",
        lambda: _signed(_claims(exp=str(int(time.time()) + 60))),
        "must be a number",
    ),
    Case(
        "issued in the future",
        lambda: _signed(_claims(iat=int(time.time()) + 600)),
        "not yet valid",
    ),
    Case("lifetime of 25 hours", _signed(_claims(exp=NOW + 25 * 3600)), "lifetime"),
    Case("other algorithm", _signed(_claims(), algorithm="HS512"), "invalid token"),
    Case("unsigned (alg none)", _signed(_claims(), "", algorithm="none"), "invalid token"),
    Case("not a JWT", "not-a-token", "invalid token"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", INVALID, ids=case_ids(INVALID))
def test_verify_rejects(case: Case[str | Callable[[], str], str]) -> None:
    token = case.given() if callable(case.given) else case.given
    with pytest.raises(AuthError, match=case.expected):
        verify_token(token, SECRET)


POLICY = TokenPolicy(issuer="https://idp.example.com/", audience="sluice")
POLICED: list[Case[dict[str, Any], str | None]] = [
    Case("issuer and audience as required", _claims(iss=POLICY.issuer, aud="sluice"), None),
    Case("audience among several", _claims(iss=POLICY.issuer, aud=["other", "sluice"]), None),
    Case("no audience", _claims(iss=POLICY.issuer), "aud"),
    Case("another audience", _claims(iss=POLICY.issuer, aud="other"), "Audience doesn't match"),
    Case("no issuer", _claims(aud="sluice"), "iss"),
    Case("another issuer", _claims(iss="https://evil.example.com/", aud="sluice"), "issuer"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", POLICED, ids=case_ids(POLICED))
def test_issuer_and_audience_are_checked_when_configured(
    case: Case[dict[str, Any], str | None],
) -> None:
    token = _signed(case.given)
    if case.expected is None:
        assert verify_token(token, SECRET, POLICY).tenant == "acme"
    else:
        with pytest.raises(AuthError, match=case.expected):
            verify_token(token, SECRET, POLICY)


@pytest.mark.unit
def test_the_tenant_claim_is_configurable() -> None:
    policy = TokenPolicy(tenant_claim="https://sluice.example.com/tenant")
    token = _signed(_claims(tenant=None, **{"https://sluice.example.com/tenant": "acme"}))
    assert verify_token(token, SECRET, policy).tenant == "acme"
    with pytest.raises(AuthError, match=r"no 'https://sluice\.example\.com/tenant' claim"):
        verify_token(_signed(_claims()), SECRET, policy)


def _rsa_pem() -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public


@pytest.mark.unit
async def test_a_verifier_without_jwks_refuses_rs256_tokens() -> None:
    private, _ = _rsa_pem()
    verifier = TokenVerifier(secret=SECRET, jwks=None)
    with pytest.raises(AuthError, match="'RS256' is not accepted"):
        await verifier.verify(jwt.encode(_claims(), private, algorithm="RS256"))
    assert (await verifier.verify(_signed(_claims()))).tenant == "acme"


def _hs256_by_hand(claims: dict[str, Any], key: bytes) -> str:
    """HS256 keyed with `key`, which PyJWT refuses to do for a PEM key (an attacker would not)."""

    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"."
    signing_input += part(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(signature)).decode()


@pytest.mark.unit
async def test_a_verifier_without_secret_refuses_hs256_tokens() -> None:
    """JWKS only: no HS256, not even a token 'signed' with the public key (alg confusion)."""
    _, public_pem = _rsa_pem()
    jwks = JwksKeys("http://127.0.0.1:9/never-fetched")
    verifier = TokenVerifier(secret=None, jwks=jwks)
    for token in (_signed(_claims()), _hs256_by_hand(_claims(), public_pem)):
        with pytest.raises(AuthError, match="'HS256' is not accepted"):
            await verifier.verify(token)
    assert jwks.fetches == 0
    with pytest.raises(ValueError, match="needs an HS256 secret or a JWKS URL"):
        TokenVerifier(secret=None, jwks=None)


BEARER: list[Case[str, str]] = [
    Case("canonical", "Bearer abc.def.ghi", "abc.def.ghi"),
    Case("lower-case scheme", "bearer abc", "abc"),
    Case("upper-case scheme", "BEARER abc", "abc"),
    Case("extra spaces around the token", "Bearer   abc  ", "abc"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", BEARER, ids=case_ids(BEARER))
def test_bearer_header(case: Case[str, str]) -> None:
    assert bearer(case.given) == case.expected


BAD_BEARER: list[Case[str | None, str]] = [
    Case("no header", None, "missing Authorization"),
    Case("empty header", "", "missing Authorization"),
    Case("basic auth", "Basic dXNlcjpwdw==", "must be 'Bearer <JWT>'"),
    Case("scheme only", "Bearer", "must be 'Bearer <JWT>'"),
    Case("scheme and spaces", "Bearer    ", "must be 'Bearer <JWT>'"),
    Case("token without scheme", "abc.def.ghi", "must be 'Bearer <JWT>'"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", BAD_BEARER, ids=case_ids(BAD_BEARER))
def test_bearer_header_rejected(case: Case[str | None, str]) -> None:
    with pytest.raises(AuthError, match=case.expected):
        bearer(case.given)


REQUIRE: list[Case[tuple[frozenset[str], tuple[str, ...]], bool]] = [
    Case("holds the scope", (frozenset({"documents:read"}), ("documents:read",)), True),
    Case("lacks the scope", (frozenset({"documents:read"}), ("documents:write",)), False),
    Case("no scopes at all", (frozenset(), ("documents:read",)), False),
    Case(
        "holds one of two",
        (frozenset({"admin:jobs"}), ("documents:write", "admin:jobs")),
        True,
    ),
    Case("'admin' no longer implies write", (frozenset({"admin"}), ("documents:write",)), False),
    Case("'admin' no longer implies read", (frozenset({"admin"}), ("documents:read",)), False),
    Case("'admin' is not 'admin:jobs'", (frozenset({"admin"}), ("admin:jobs",)), False),
    Case("admin:jobs does not imply read", (frozenset({"admin:jobs"}), ("documents:read",)), False),
    Case(
        "write does not imply admin:jobs", (frozenset({"documents:write"}), ("admin:jobs",)), False
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", REQUIRE, ids=case_ids(REQUIRE))
def test_principal_require(case: Case[tuple[frozenset[str], tuple[str, ...]], bool]) -> None:
    scopes, wanted = case.given
    principal = Principal(subject="alice", tenant="acme", scopes=scopes)
    if case.expected:
        principal.require(*wanted)
    else:
        with pytest.raises(PermissionError, match=wanted[0]):
            principal.require(*wanted)
