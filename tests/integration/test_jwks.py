"""RS256/ES256 tokens verified with keys from a real JWKS endpoint (a local HTTP server):
caching, key rotation, one rate-limited refetch for an unknown `kid`, an IdP that goes down."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from litestar import get
from litestar.testing import TestClient

from services.common.access import requires
from services.common.auth import (
    AuthError,
    AuthUnavailableError,
    Principal,
    TokenPolicy,
    TokenVerifier,
)
from services.common.http import Check, create_app
from services.common.jwks import JwksKeys
from services.common.settings import load_settings
from services.status.config import StatusSettings

pytestmark = pytest.mark.integration

ISSUER = "https://idp.example.com/"


@dataclass
class SigningKey:
    """A private key and the public JWK the IdP publishes for it."""

    kid: str
    algorithm: str
    private: Any
    jwk: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        self.jwk = {
            **json.loads(algorithm.to_jwk(self.private.public_key())),
            "kid": self.kid,
            "use": "sig",
            "alg": self.algorithm,
        }

    def token(self, kid: str | None = "same", **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "alice", "tenant": "acme", "scope": "documents:read", "iat": now}
        body |= {"exp": now + 600, "iss": ISSUER, "aud": "sluice", **claims}
        body = {k: v for k, v in body.items() if v is not None}  # None: leave the claim out
        headers = {} if kid is None else {"kid": self.kid if kid == "same" else kid}
        return jwt.encode(body, self.private, algorithm=self.algorithm, headers=headers)


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


class IdentityProvider:
    """A JWKS endpoint whose key set and health the test changes; it counts the requests."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.failing = False
        self.requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests += 1
                if provider.failing or self.path != "/.well-known/jwks.json":
                    self.send_response(503 if provider.failing else 404)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [k.jwk for k in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    try:
        yield provider
    finally:
        provider.close()


class Clock:
    """Monotonic time the test moves by hand: the cache and the rate limit without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = TokenPolicy(issuer=ISSUER, audience="sluice")


def _verifier(idp: IdentityProvider, clock: Clock) -> TokenVerifier:
    jwks = JwksKeys(idp.url, cache_s=300, min_refresh_s=30, clock=clock)
    return TokenVerifier(secret=None, jwks=jwks, policy=POLICY)


async def test_keys_are_cached_and_rotation_refetches_once(idp: IdentityProvider) -> None:
    clock, old, new = Clock(), rsa_key("2024-old"), ec_key("2025-new")
    idp.keys = [old]
    verifier = _verifier(idp, clock)

    assert (await verifier.verify(old.token())).tenant == "acme"
    assert (await verifier.verify(old.token())).subject == "alice"
    assert idp.requests == 1, "the second token uses the cached keys"

    idp.keys = [old, new]  # the IdP rotates: a new key, tokens signed with it
    clock.now += 31
    tokens = [new.token(sub=f"user{i}") for i in range(10)]
    principals = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [p.subject for p in principals] == [f"user{i}" for i in range(10)]
    assert idp.requests == 2, "ten requests with the unknown kid share one refetch"

    idp.keys = [new]  # the old key is withdrawn: honoured until the cache expires
    assert (await verifier.verify(old.token())).tenant == "acme"
    clock.now += 300
    with pytest.raises(AuthError, match="no signing key '2024-old'"):
        await verifier.verify(old.token())
    assert (await verifier.verify(new.token())).tenant == "acme"


async def test_unknown_kids_cannot_make_it_hammer_the_idp(idp: IdentityProvider) -> None:
    clock, key = Clock(), rsa_key("k1")
    idp.keys = [key]
    verifier = _verifier(idp, clock)
    assert (await verifier.verify(key.token())).tenant == "acme"

    clock.now += 31
    for i in range(20):
        with pytest.raises(AuthError, match=f"no signing key 'random-{i}'"):
            await verifier.verify(key.token(kid=f"random-{i}"))
    assert idp.requests == 2, "one refetch for the first unknown kid, none within 30 s after"

    clock.now += 31
    with pytest.raises(AuthError, match="no signing key 'random-x'"):
        await verifier.verify(key.token(kid="random-x"))
    assert idp.requests == 3


async def test_keys_held_stay_in_use_while_the_idp_is_down(idp: IdentityProvider) -> None:
    clock, key = Clock(), ec_key("k1")
    idp.keys = [key]
    verifier = _verifier(idp, clock)
    assert (await verifier.verify(key.token())).tenant == "acme"

    idp.failing = True
    clock.now += 301  # expired: the refresh fails, the keys held still verify
    assert (await verifier.verify(key.token())).tenant == "acme"
    assert idp.requests == 2


async def test_an_idp_never_reached_is_a_503_not_a_401(idp: IdentityProvider) -> None:
    idp.failing = True
    key = rsa_key("k1")
    with pytest.raises(AuthUnavailableError, match="could not be fetched"):
        await _verifier(idp, Clock()).verify(key.token())


CLAIMS = [
    ("another issuer", {"iss": "https://evil.example.com/"}, "issuer"),
    ("another audience", {"aud": "someone-else"}, "Audience doesn't match"),
    ("no audience", {"aud": None}, "aud"),
]


@pytest.mark.parametrize(("description", "claims", "reason"), CLAIMS, ids=[c[0] for c in CLAIMS])
async def test_issuer_and_audience_of_idp_tokens(
    idp: IdentityProvider, description: str, claims: dict[str, Any], reason: str
) -> None:
    key = rsa_key("k1")
    idp.keys = [key]
    with pytest.raises(AuthError, match=reason):
        await _verifier(idp, Clock()).verify(key.token(**claims))


async def test_a_key_cannot_sign_with_another_algorithm(idp: IdentityProvider) -> None:
    """The header says ES256 but names the RSA key: refused, whatever the signature."""
    rsa_signing, ec_signing = rsa_key("rsa"), ec_key("ec")
    idp.keys = [rsa_signing, ec_signing]
    forged = ec_signing.token(kid="rsa")
    with pytest.raises(AuthError, match="not an ES256 key"):
        await _verifier(idp, Clock()).verify(forged)
    no_kid = rsa_signing.token(kid=None)
    with pytest.raises(AuthError, match="names no key"):
        await _verifier(idp, Clock()).verify(no_kid)


def test_a_service_configured_with_a_jwks_url_accepts_its_tokens(idp: IdentityProvider) -> None:
    key = rsa_key("k1")
    idp.keys = [key]
    settings = load_settings(
        StatusSettings,
        {
            "SLUICE_JWT_JWKS_URL": idp.url,
            "SLUICE_JWT_ISSUER": ISSUER,
            "SLUICE_JWT_AUDIENCE": "sluice",
        },
    )

    @get("/v1/whoami", guards=[requires("documents:read")], sync_to_thread=False)
    def whoami(principal: Principal) -> dict[str, str]:
        return {"tenant": principal.tenant}

    async def ready() -> dict[str, Check]:
        return {}

    app = create_app("status", ready, [whoami], settings=settings)
    with TestClient(app) as client:
        ok = client.get("/v1/whoami", headers={"authorization": f"Bearer {key.token()}"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"tenant": "acme"}

        # With a JWKS URL and no secret, HS256 (even with the dev secret) is not accepted.
        hs256 = jwt.encode({"sub": "a", "tenant": "acme", "iat": 1, "exp": 2}, "x" * 40)
        refused = client.get("/v1/whoami", headers={"authorization": f"Bearer {hs256}"})
        assert refused.status_code == 401
        assert "'HS256' is not accepted" in refused.json()["detail"]
