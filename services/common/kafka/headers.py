"""The record headers the pipeline writes: one set of names for retries and dead letters."""

from __future__ import annotations

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


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    """A record header's value as text, or None."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None
