"""Which parser reads a document, the local sandbox or a remote one (LlamaParse), and failover.

Routing is by media type and tenant (`Routes`, from SLUICE_LLAMAPARSE_MEDIA_TYPES and
SLUICE_LLAMAPARSE_TENANTS). When the remote parser is down or over its quota
(`ProviderUnavailableError`) the document is parsed locally instead, and for a cool-down the
documents after it go straight to the local parser rather than each waiting on a dead host;
the first one after the cool-down tries the remote parser again. `Parsed.parser` says which
parser read the document (it is recorded on the job).

A configuration error (`ProviderConfigurationError`: a wrong key or URL) is not failed over:
it passes through so the stage pauses until the provider accepts us (see core/errors.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import NamedTuple

from services.common.errors import InfrastructureError, RetryableError
from services.common.media_types import SIGNED
from services.parser.core.errors import (
    LLAMAPARSE_RATE_LIMITED,
    LLAMAPARSE_UNAVAILABLE,
    ProviderUnavailableError,
)
from services.parser.core.parsed import ParsedText
from services.parser.core.ports import TextExtractor

log = logging.getLogger(__name__)

LOCAL = "local"
LLAMAPARSE = "llamaparse"
# Why a document meant for the remote parser was parsed locally.
DOWN = "down"  # 5xx, no connection, a request timed out
OVER_QUOTA = "over_quota"  # 429 beyond the wait budget
COOLING_DOWN = "cooldown"  # a recent failover: the remote parser is not tried until it ends


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(",") if word.strip())


def media_kind(media_type: str) -> str:
    """`type/subtype` of a media type, lower case, without parameters."""
    return media_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Routes:
    """The documents the remote parser reads: a media type AND a tenant must match.

    Both are lists of shell-style patterns (`fnmatch`: `*`, `?`, `[...]`); media types match
    without their parameters and case-insensitively, tenants exactly. No media type: nothing
    is sent.
    """

    media_types: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ("*",)

    @classmethod
    def from_lists(cls, media_types: str, tenants: str) -> Routes:
        """Routes from comma-separated lists (the settings' form)."""
        return cls(tuple(media_kind(m) for m in _words(media_types)), _words(tenants))

    def remote(self, media_type: str, tenant_id: str) -> bool:
        """Whether a document of `media_type` from `tenant_id` goes to the remote parser
        (never a signed file: the document inside is found here)."""
        kind = media_kind(media_type)
        if kind == SIGNED:
            return False
        return any(fnmatchcase(kind, pattern) for pattern in self.media_types) and any(
            fnmatchcase(tenant_id, pattern) for pattern in self.tenants
        )


@dataclass(frozen=True)
class Failover:
    """What happens when the remote parser is down or over quota.

    `enabled`: parse locally instead, and keep sending the routed documents to the local
    parser for `cooldown_s` (or the provider's `Retry-After`, if longer). Off: a down provider
    pauses the stage (an outage: the same record is retried in place) and an exhausted quota
    sends the document through the retry topic.
    """

    enabled: bool = True
    cooldown_s: float = 30.0


class Parsed(NamedTuple):
    """A document's text, the parser that read it, and why it was failed over (if it was)."""

    text: ParsedText
    parser: str
    failover: str | None = None


class Router:
    """Parses a document with the parser its route names, failing over to the local one."""

    def __init__(
        self,
        local: TextExtractor,
        remote: TextExtractor | None = None,
        *,
        routes: Routes | None = None,
        failover: Failover | None = None,
        remote_name: str = LLAMAPARSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = local
        self.remote = remote
        self.routes = routes or Routes()
        self.failover = failover or Failover()
        self.remote_name = remote_name
        self._clock = clock
        self._down_until = 0.0
        self._down_reason = ""

    def chooses(self, media_type: str, tenant_id: str) -> str:
        """The parser a route names for such a document (before any failover)."""
        if self.remote is not None and self.routes.remote(media_type, tenant_id):
            return self.remote_name
        return LOCAL

    @property
    def cooling_down(self) -> str | None:
        """Why routed documents go to the local parser for now, or None when they do not."""
        left = self._down_until - self._clock()
        if left <= 0:
            return None
        return f"{self._down_reason}; parsing its documents locally for {left:.0f}s more"

    async def parse(self, data: bytes, media_type: str, *, tenant_id: str) -> Parsed:
        """Parse with the routed parser; raises what the extractors raise (ParseError, ...)."""
        if self.chooses(media_type, tenant_id) == LOCAL or self.remote is None:
            return Parsed(await self.local.extract(data, media_type), LOCAL)
        if self.failover.enabled and self.cooling_down is not None:
            return Parsed(await self.local.extract(data, media_type), LOCAL, COOLING_DOWN)
        try:
            text = await self.remote.extract(data, media_type)
        except ProviderUnavailableError as error:
            if not self.failover.enabled:
                raise _held(self.remote_name, error) from error
            reason = OVER_QUOTA if error.over_quota else DOWN
            self._cool_down(error)
            log.warning(
                "%s unavailable (%s: %s); this document and those routed to it for %.0fs"
                " are parsed locally",
                self.remote_name,
                reason,
                error.message,
                self._down_until - self._clock(),
            )
            return Parsed(await self.local.extract(data, media_type), LOCAL, reason)
        return Parsed(text, self.remote_name)

    def _cool_down(self, error: ProviderUnavailableError) -> None:
        wait = max(self.failover.cooldown_s, error.retry_after_s or 0.0)
        self._down_until = self._clock() + wait
        self._down_reason = f"{self.remote_name} unavailable: {error.message}"


def _held(name: str, error: ProviderUnavailableError) -> Exception:
    """What an unavailable provider means without failover: wait for it, fail nothing."""
    if error.over_quota:
        return RetryableError(
            LLAMAPARSE_RATE_LIMITED,
            f"{name} is over its rate limit or quota: {error.message}",
            retry_after_s=error.retry_after_s,
        )
    return InfrastructureError(f"{LLAMAPARSE_UNAVAILABLE}: {name} is unavailable: {error.message}")


def patterns(values: Sequence[str]) -> str:
    """A route's patterns as the settings write them (for logs and docs)."""
    return ",".join(values) or "(none)"
