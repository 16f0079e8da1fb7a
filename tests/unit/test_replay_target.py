"""`sluice replay` targets: --to-time and --to-offset as the rewind they name, bad ones refused."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from services.cli.exits import CliError, Exit
from services.cli.replay import target_of
from services.common.kafka.replay import ReplayTarget

pytestmark = pytest.mark.unit


def _args(to_time: str | None = None, to_offset: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(to_time=to_time, to_offset=to_offset)


@pytest.mark.parametrize(
    ("args", "target"),
    [
        (_args(to_offset="earliest"), ReplayTarget(to_offset="earliest")),
        (_args(to_offset="latest"), ReplayTarget(to_offset="latest")),
        (_args(to_offset="17"), ReplayTarget(to_offset=17)),
        (
            _args(to_time="2026-01-02T03:04:05+01:00"),
            ReplayTarget(to_time=datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)),
        ),
        (  # a time without a zone is UTC
            _args(to_time="2026-01-02T03:04:05"),
            ReplayTarget(to_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ),
    ],
)
def test_each_target_is_the_rewind_it_names(args: argparse.Namespace, target: ReplayTarget) -> None:
    assert target_of(args) == target


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_args(to_offset="-1"), "earliest, latest or an offset"),
        (_args(to_offset="first"), "earliest, latest or an offset"),
        (_args(to_time="yesterday"), "not an ISO 8601 time"),
    ],
)
def test_a_bad_target_is_a_usage_error(args: argparse.Namespace, message: str) -> None:
    with pytest.raises(CliError, match=message) as raised:
        target_of(args)
    assert raised.value.exit == Exit.USAGE


def test_a_target_is_exactly_one_of_a_time_and_an_offset() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ReplayTarget()
    with pytest.raises(ValueError, match="exactly one"):
        ReplayTarget(to_time=datetime.now(UTC), to_offset=0)
    with pytest.raises(ValueError, match=">= 0"):
        ReplayTarget(to_offset=-3)
    assert ReplayTarget(to_offset=5).text == "to-offset 5"
