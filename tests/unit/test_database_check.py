"""The database readiness check names why the database does not serve this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.db import database_check

pytestmark = pytest.mark.unit


class FakePool:
    """A pool whose `SELECT 1` takes `delay` seconds or fails, with the given statistics."""

    def __init__(self, *, delay: float = 0.0, fails: bool = False, waiting: int = 0) -> None:
        self.delay, self.fails, self.waiting = delay, fails, waiting

    def get_stats(self) -> dict[str, int]:
        return {"requests_waiting": self.waiting, "pool_available": 0 if self.waiting else 1}

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:
        if self.fails:
            raise TimeoutError("couldn't get a connection after 2.00 sec")
        yield self

    async def execute(self, query: str) -> None:
        await asyncio.sleep(self.delay)


@pytest.mark.parametrize(
    ("pool", "ok", "reason"),
    [
        (FakePool(), True, ""),
        (FakePool(delay=0.05), False, "slow: SELECT 1 took"),
        (FakePool(fails=True), False, "unreachable: TimeoutError"),
        (FakePool(fails=True, waiting=7), False, "pool exhausted: 7 requests waiting"),
    ],
    ids=["answers", "slow", "unreachable", "exhausted"],
)
async def test_the_check_says_why(pool: FakePool, ok: bool, reason: str) -> None:
    passed, detail = await database_check(pool, slow_s=0.02)  # type: ignore[arg-type]
    assert passed is ok
    assert detail.startswith(reason), detail
