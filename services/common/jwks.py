"""The identity provider's signing keys from its JWKS URL: cached, refreshed, rate-limited."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
import jwt

log = logging.getLogger(__name__)
MAX_JWKS_BYTES = 1024 * 1024


class KeysUnavailableError(Exception):
    """No key set could be fetched yet: tokens cannot be checked (the service answers 503)."""


class UnknownKeyError(Exception):
    """The key set, fetched again if the rate limit allowed, has no key for the token."""


class JwksKeys:
    """Signing keys of one JWKS URL.

    Keys are fetched on first use and used for `cache_s`; a token whose `kid` is not among
    them triggers one refetch (key rotation), at most one per `min_refresh_s`, shared by
    every request waiting for it, so random `kid`s cannot make the service hammer the
    identity provider. When a refresh fails the keys already held stay in use.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = 300,
        min_refresh_s: float = 30,
        timeout_s: float = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.fetches = 0  # how many times the URL was fetched (tests, logs)
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._last_error = "not fetched yet"
        self._attempts = 0  # fetches ended, successful or not: requests waiting compare it
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The signing key named `kid` (None: the set's only key)."""
        expired = self._fetched_at is None or self.clock() - self._fetched_at >= self.cache_s
        if expired and self._may_fetch():
            await self._refresh(reason="first use" if self._fetched_at is None else "expired")
        if self._fetched_at is None:
            raise KeysUnavailableError(
                f"the identity provider's keys could not be fetched: {self._last_error}"
            )
        found = self._pick(kid)
        if found is None and self._may_fetch():
            await self._refresh(reason=f"unknown kid {kid!r}")
            found = self._pick(kid)
        if found is None:
            raise UnknownKeyError(
                f"the identity provider has no signing key {kid!r}"
                if kid is not None
                else "the token names no key ('kid') and the identity provider has several"
            )
        return found

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        """A fetch is running (wait for it), or the last one is `min_refresh_s` old."""
        if self._lock.locked():
            return True
        return self._tried_at is None or self.clock() - self._tried_at >= self.min_refresh_s

    async def _refresh(self, *, reason: str) -> None:
        attempts = self._attempts
        async with self._lock:
            if self._attempts != attempts:
                return  # a fetch ended while this request waited: use its result
            try:
                self._tried_at = self.clock()
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                self._last_error = str(error) or type(error).__name__
                log.warning("could not fetch the JWKS %s (%s): %s", self.url, reason, error)
                return  # keep the keys already held, if any
            finally:
                self._attempts += 1
            self._keys = keys
            self._fetched_at = self.clock()
            log.info("fetched %d signing keys from %s (%s)", len(keys), self.url, reason)

    async def _fetch(self) -> dict[str | None, jwt.PyJWK]:
        self.fetches += 1
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            response = await client.get(self.url, headers={"accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")  # noqa: TRY004 - a bad document
        keys: dict[str | None, jwt.PyJWK] = {}
        for key in jwt.PyJWKSet.from_dict(document).keys:
            if key.public_key_use in (None, "sig"):
                keys[key.key_id] = key
        if not keys:
            raise ValueError("JWKS holds no signing keys")
        return keys
