"""One rate budget (requests and tokens per window) shared by every replica calling a provider.

A sliding-window log in Postgres (migration 005): each request takes a grant under a row lock
on its provider, and is granted only when the grants of the last window plus this one stay
within the limits. A grant counts from when it was given until one window after its request
ended (`finish` moves it), so a provider counting arrivals in any window of that length never
sees more than the limits, whatever the replicas' clocks say: only Postgres's clock is read.
"""

from __future__ import annotations

import threading
from typing import Protocol

import msgspec
import psycopg
from psycopg.rows import TupleRow

# Wait this little in place (in the caller's thread) instead of handing the wait back.
SHORT_WAIT_S = 1.0


class BudgetLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Requests and tokens per minute for one provider (0: no limit), over `window_s`."""

    requests_per_min: int = 0
    tokens_per_min: int = 0
    window_s: float = 60.0

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return self.requests_per_min > 0 or self.tokens_per_min > 0

    @property
    def requests(self) -> float:
        """Requests allowed per window (inf: no limit)."""
        return self.requests_per_min * self.window_s / 60 if self.requests_per_min else _INF

    @property
    def tokens(self) -> float:
        """Tokens allowed per window (inf: no limit)."""
        return self.tokens_per_min * self.window_s / 60 if self.tokens_per_min else _INF


_INF = float("inf")


class Grant(msgspec.Struct, frozen=True):
    """A request's share of the budget: `id` to `finish` it, or the seconds to wait first."""

    id: int | None
    wait_s: float = 0.0


class Budget(Protocol):
    """Hands out requests and tokens; synchronous (the provider calls it from its thread)."""

    def take(self, requests: int, tokens: int) -> Grant:
        """Grant now (`id` set) or say how long until enough of the window has passed."""
        ...

    def finish(self, grant: Grant) -> None:
        """The granted request ended: it counts until one window after now."""
        ...


class Unlimited:
    """No budget configured: every request is granted at once."""

    def take(self, requests: int, tokens: int) -> Grant:
        """Always granted."""
        return Grant(id=0)

    def finish(self, grant: Grant) -> None:
        """Nothing to record."""


class PostgresBudget:
    """The shared budget of provider `key`, over one synchronous connection of its own."""

    def __init__(self, database_url: str, key: str, limits: BudgetLimits) -> None:
        self.url = database_url
        self.key = key
        self.limits = limits
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[TupleRow] | None = None

    def take(self, requests: int, tokens: int) -> Grant:
        """Grant under the provider's row lock if the last window leaves room, else the wait."""
        if requests > self.limits.requests or tokens > self.limits.tokens:
            raise ValueError(
                f"a request of {requests} requests and {tokens} tokens can never fit a budget"
                f" of {self.limits.requests:g} requests and {self.limits.tokens:g} tokens"
                f" per {self.limits.window_s:g}s"
            )
        with self._lock, self._connection().transaction():
            conn = self._connection()
            conn.execute(
                "INSERT INTO provider_budgets (provider) VALUES (%s) ON CONFLICT DO NOTHING",
                (self.key,),
            )
            conn.execute(
                "SELECT 1 FROM provider_budgets WHERE provider = %s FOR UPDATE", (self.key,)
            )
            window = f"{self.limits.window_s} seconds"
            conn.execute(
                "DELETE FROM provider_grants WHERE provider = %s"
                " AND at < clock_timestamp() - %s::interval",
                (self.key, window),
            )
            rows = conn.execute(
                "SELECT extract(epoch FROM at + %s::interval - clock_timestamp())::float8,"
                " requests, tokens FROM provider_grants WHERE provider = %s ORDER BY at",
                (window, self.key),
            ).fetchall()
            wait = _wait(rows, requests, tokens, self.limits)
            if wait > 0:
                return Grant(id=None, wait_s=wait)
            row = conn.execute(
                "INSERT INTO provider_grants (provider, at, requests, tokens)"
                " VALUES (%s, clock_timestamp(), %s, %s) RETURNING id",
                (self.key, requests, tokens),
            ).fetchone()
        assert row is not None  # noqa: S101 - INSERT ... RETURNING returns its row
        return Grant(id=int(row[0]))

    def finish(self, grant: Grant) -> None:
        """Count the grant until one window after now (its request may have arrived late)."""
        if grant.id is None:
            return
        with self._lock, self._connection().transaction():
            self._connection().execute(
                "UPDATE provider_grants SET at = clock_timestamp() WHERE id = %s", (grant.id,)
            )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, application_name="sluice-budget")
        return self._conn


def _wait(rows: list[TupleRow], requests: int, tokens: int, limits: BudgetLimits) -> float:
    """Seconds until the grants still in the window (oldest first) leave room for this one."""
    used_requests = sum(int(r[1]) for r in rows)
    used_tokens = sum(int(r[2]) for r in rows)
    if used_requests + requests <= limits.requests and used_tokens + tokens <= limits.tokens:
        return 0.0
    for expires_in, spent_requests, spent_tokens in rows:
        used_requests -= int(spent_requests)
        used_tokens -= int(spent_tokens)
        if used_requests + requests <= limits.requests and used_tokens + tokens <= limits.tokens:
            return max(0.01, float(expires_in))
    return limits.window_s  # unreachable while a single request fits the limits
