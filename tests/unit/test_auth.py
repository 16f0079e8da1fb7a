"""Unit tests for JWT bearer auth (services/common/auth.py)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from services.common.auth import AuthError, Principal, bearer, issue_token, verify_token
from tests.fixtures.cases import Case, case_ids

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4
OTHER_SECRET = "another-secret-" + "0123456789abcdef" * 4


def _signed(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(**changes: Any) -> dict[str, Any]:
    # Built at collection time, and the suite runs for minutes: valid for a day, not a minute.
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "alice",
        "tenant": "acme",
        "scope": "documents:read",
        "iat": now,
        "exp": now + 86_400,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.unit
def test_issue_verify_round_trip() -> None:
    token = issue_token("acme", SECRET, subject="alice", scopes=("documents:read", "admin"))
    principal = verify_token(token, SECRET)
    assert principal == Principal(
        subject="alice", tenant="acme", scopes=frozenset({"documents:read", "admin"})
    )


@pytest.mark.unit
def test_default_scopes_are_read_and_write() -> None:
    principal = verify_token(issue_token("acme", SECRET), SECRET)
    assert principal.scopes == frozenset({"documents:write", "documents:read"})
    assert principal.subject == "dev"


VALID: list[Case[dict[str, Any], Principal]] = [
    Case(
        "space-separated scope",
        _claims(scope="documents:read documents:write"),
        Principal("alice", "acme", frozenset({"documents:read", "documents:write"})),
    ),
    Case(
        "scope as a list",
        _claims(scope=["documents:read", "admin"]),
        Principal("alice", "acme", frozenset({"documents:read", "admin"})),
    ),
    Case("no scope claim", _claims(scope=None), Principal("alice", "acme", frozenset())),
    Case(
        "numeric subject", _claims(sub="42"), Principal("42", "acme", frozenset({"documents:read"}))
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", VALID, ids=case_ids(VALID))
def test_verify_valid_tokens(case: Case[dict[str, Any], Principal]) -> None:
    assert verify_token(_signed(case.given), SECRET) == case.expected


INVALID: list[Case[str, str]] = [
    Case("expired", _signed(_claims(exp=int(time.time()) - 10)), "expired"),
    Case("wrong secret", _signed(_claims(), OTHER_SECRET), "invalid token"),
    Case("missing tenant claim", _signed(_claims(tenant=None)), "no 'tenant' claim"),
    Case("empty tenant claim", _signed(_claims(tenant="")), "no 'tenant' claim"),
    Case("tenant not a string", _signed(_claims(tenant=7)), "no 'tenant' claim"),
    Case("missing exp", _signed(_claims(exp=None)), "invalid token"),
    Case("missing sub", _signed(_claims(sub=None)), "invalid token"),
    Case("other algorithm", _signed(_claims(), algorithm="HS512"), "invalid token"),
    Case("unsigned (alg none)", _signed(_claims(), "", algorithm="none"), "invalid token"),
    Case("not a JWT", "not-a-token", "invalid token"),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", INVALID, ids=case_ids(INVALID))
def test_verify_rejects(case: Case[str, str]) -> None:
    with pytest.raises(AuthError, match=case.expected):
        verify_token(case.given, SECRET)


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


REQUIRE: list[Case[tuple[frozenset[str], str], bool]] = [
    Case("holds the scope", (frozenset({"documents:read"}), "documents:read"), True),
    Case("lacks the scope", (frozenset({"documents:read"}), "documents:write"), False),
    Case("no scopes at all", (frozenset(), "documents:read"), False),
    Case("admin may write", (frozenset({"admin"}), "documents:write"), True),
    Case("admin may read", (frozenset({"admin"}), "documents:read"), True),
    Case("admin scope itself", (frozenset({"admin"}), "admin"), True),
    Case("write does not imply admin", (frozenset({"documents:write"}), "admin"), False),
]


@pytest.mark.unit
@pytest.mark.parametrize("case", REQUIRE, ids=case_ids(REQUIRE))
def test_principal_require(case: Case[tuple[frozenset[str], str], bool]) -> None:
    scopes, scope = case.given
    principal = Principal(subject="alice", tenant="acme", scopes=scopes)
    if case.expected:
        principal.require(scope)
    else:
        with pytest.raises(PermissionError, match=scope):
            principal.require(scope)
