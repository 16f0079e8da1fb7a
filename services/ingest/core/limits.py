"""Upload limits: what a tenant may do, and the refusals (429/413/503) when it would do more."""

from __future__ import annotations

import math

import msgspec

from services.common.errors import RefusedError

BUSY_RETRY_AFTER_S = 1
"""Retry-After of a refusal for uploads in flight: one of them may end any moment."""


class TenantLimits(msgspec.Struct, frozen=True, kw_only=True):
    """One tenant's limits, all ingest replicas together; 0 means unlimited. A tenant's own
    values in `tenant_limits` win over these (the rule is in migration 016's functions)."""

    uploads_per_window: int = 0  # uploads started per rate window
    bytes_per_window: int = 0  # bytes stored per quota window
    concurrent_uploads: int = 0  # uploads in flight at once


class Windows(msgspec.Struct, frozen=True, kw_only=True):
    """The lengths of the fixed windows the rate and the byte quota are counted in."""

    rate_s: int = 60
    quota_s: int = 24 * 3600


class LimitedError(RefusedError):
    """An upload refused for a limit; `retry_after_s` says when it may pass."""


def seconds_left(retry_after_s: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(retry_after_s))


def rate_limited(limit: int, window_s: int, retry_after_s: float) -> LimitedError:
    """429: the tenant started `limit` uploads in this window already."""
    wait = seconds_left(retry_after_s)
    return LimitedError(
        429,
        "Too Many Requests",
        f"this tenant may start {limit} uploads per {window_s} s and has; retry in {wait} s",
        retry_after_s=wait,
    )


def quota_exhausted(limit: int, window_s: int, retry_after_s: float) -> LimitedError:
    """429: the tenant's bytes for this window are used up (or this upload would pass them)."""
    wait = seconds_left(retry_after_s)
    return LimitedError(
        429,
        "Quota exceeded",
        f"this tenant may upload {limit} bytes per {window_s} s; this upload would pass that;"
        f" the quota renews in {wait} s",
        retry_after_s=wait,
    )


def larger_than_quota(size: int, limit: int, window_s: int) -> LimitedError:
    """413: one upload larger than the tenant's whole quota can never pass."""
    return LimitedError(
        413,
        "Upload larger than the quota",
        f"{size} bytes is more than this tenant's whole quota of {limit} bytes per {window_s} s",
    )


def tenant_busy(limit: int) -> LimitedError:
    """429: the tenant has `limit` uploads in flight already (on any replica)."""
    return _busy(
        429,
        "Too Many Requests",
        f"this tenant may have {limit} uploads in flight at once and has; retry when one ends",
    )


def process_busy(limit: int) -> LimitedError:
    """503: this ingest process serves `limit` uploads already (another replica may not)."""
    return _busy(
        503,
        "Service Unavailable",
        f"this ingest process is serving its maximum of {limit} uploads; retry shortly",
    )


def _busy(status: int, title: str, detail: str) -> LimitedError:
    """A refusal for uploads in flight, to retry after BUSY_RETRY_AFTER_S."""
    return LimitedError(status, title, detail, retry_after_s=BUSY_RETRY_AFTER_S)
