"""A `Retry-After` header (RFC 9110: seconds, or an HTTP date) as seconds to wait from now."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# The longest wait honoured, a provider's or a retry record's: past it a wait is a broken
# clock or a hostile header (`inf` made the retry's due time overflow; a due time a century
# ahead paused its partition for good).
MAX_WAIT_S = 24 * 3600.0


def retry_after_s(value: str | None) -> float | None:
    """Seconds a `Retry-After` value asks to wait (0 for a time past, at most MAX_WAIT_S);
    None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(0.0, seconds), MAX_WAIT_S) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP date is in GMT
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_WAIT_S)
