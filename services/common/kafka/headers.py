"""The record headers the pipeline writes: one set of names for retries and dead letters."""

from __future__ import annotations

import re

from aiokafka.structs import ConsumerRecord

RETRY_ATTEMPT = "sluice.retry.attempt"
RETRY_NOT_BEFORE = "sluice.retry.not_before"

# A failure's cause: on retry records and dead letters (docs/architecture.md, Failures).
ERROR_CODE = "sluice.error.code"
ERROR_MESSAGE = "sluice.error.message"
ERROR_TYPE = "sluice.error.type"
ERROR_STAGE = "sluice.error.stage"
# Where a dead letter came from.
ORIGINAL_TOPIC = "sluice.original.topic"
ORIGINAL_PARTITION = "sluice.original.partition"
ORIGINAL_OFFSET = "sluice.original.offset"
ATTEMPTS = "sluice.attempts"
CONSUMER_GROUP = "sluice.consumer.group"

MESSAGE_LIMIT = 1000  # characters of an error message kept in a header
# A number as the pipeline writes one in a header: ASCII digits, an int64's at most
_NUMBER = re.compile(r"-?[0-9]{1,19}")


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    """A record header's value as text, or None."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


def number(value: str | None) -> int | None:
    """A header's number, or None when it holds none. Anyone who can write to a topic sets
    headers: a retry count of "x", "²" or 5,000 digits raised out of the consumer loop (int()
    refuses them), and the record came back and raised again, wedging its partition."""
    return int(value) if value is not None and _NUMBER.fullmatch(value) else None


def retries(record: ConsumerRecord[bytes, bytes]) -> int:
    """The retries a record has had (`sluice.retry.attempt`); 0 where it says none."""
    return max(number(header(record, RETRY_ATTEMPT)) or 0, 0)
