"""What a record's headers say, read so that anyone who can write to a topic cannot wedge a
partition with them (services/common/kafka/headers.py), and the longest wait a provider's
Retry-After or a retry's due time is honoured for (services/common/retry_after.py)."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord

from services.common.kafka.headers import RETRY_ATTEMPT, number, retries
from services.common.retry_after import MAX_WAIT_S, retry_after_s

pytestmark = pytest.mark.unit


def record(headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=2,
        headers=headers,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3),
        ("-1", -1),
        ("1733050000000", 1733050000000),
        (None, None),
        ("", None),
        ("x", None),
        ("\u00b2", None),  # str.isdigit says yes, int() says no
        ("\u0663", None),  # an Arabic-Indic three: no header the pipeline writes
        ("1" * 5_000, None),  # past Python's int limit
        (" 3", None),
    ],
)
def test_a_header_number_is_plain_ascii_digits_or_none(
    value: str | None, expected: int | None
) -> None:
    assert number(value) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], 0),
        ([(RETRY_ATTEMPT, b"2")], 2),
        ([(RETRY_ATTEMPT, b"x")], 0),
        ([(RETRY_ATTEMPT, b"-4")], 0),
        ([(RETRY_ATTEMPT, "\u00b2".encode())], 0),
    ],
)
def test_a_record_says_how_often_it_was_retried(
    headers: list[tuple[str, bytes]], expected: int
) -> None:
    assert retries(record(headers)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("-5", 0.0),
        ("1e300", MAX_WAIT_S),
        ("inf", None),  # its due time overflowed int() in the retrier
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_WAIT_S),
        ("soon", None),
    ],
)
def test_a_retry_after_is_a_bounded_finite_wait(value: str, expected: float | None) -> None:
    assert retry_after_s(value) == expected
