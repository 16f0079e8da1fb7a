"""A consumer's readiness: a stall is records in hand (or lag) without a commit for too long."""

from __future__ import annotations

import time

import pytest

from services.common.kafka.health import ConsumerHealth

pytestmark = pytest.mark.unit


def _polling(stall_after_s: float) -> ConsumerHealth:
    health = ConsumerHealth(stall_after_s)
    health.started = True
    health.last_poll = time.monotonic()
    return health


def test_a_handler_at_work_is_not_silent_until_it_stalls() -> None:
    health = _polling(stall_after_s=60)
    health.handling(3)
    health.last_poll = time.monotonic() - 45  # busy in its handler, so no poll for 45 s
    assert health.ready()[0], health.ready()
    health.busy_since = health.last_progress = time.monotonic() - 61
    ok, detail = health.ready()
    assert not ok and detail.startswith("stalled: 3 records in hand and no commit for 6"), detail


def test_after_a_long_idle_spell_new_work_is_not_a_stall() -> None:
    health = _polling(stall_after_s=60)
    health.last_progress = time.monotonic() - 600  # nothing to commit for ten minutes
    health.handling(1)
    assert health.ready()[0]


def test_an_idle_loop_that_stops_polling_is_not_ready() -> None:
    health = _polling(stall_after_s=60)
    health.handling(0)
    health.last_poll = time.monotonic() - 31
    assert health.ready() == (False, "no poll for 31s")


def test_lag_without_a_commit_is_a_stall() -> None:
    health = _polling(stall_after_s=60)
    health.lag, health.last_progress = 5, time.monotonic() - 61
    ok, detail = health.ready()
    assert not ok and detail.startswith("stalled: lag 5 and no commit"), detail
