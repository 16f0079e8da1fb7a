"""The one place that decides what an exception from a stage means for its record.

The table of exception classes and what the consumer loop does with each is in
docs/guarantees.md ("When a stage raises"); keep the two in step.
"""

from __future__ import annotations

from enum import StrEnum

import psycopg
from aiokafka import errors as kafka_errors

from services.common.errors import (
    ConfigurationError,
    InfrastructureError,
    RetryableError,
    ThrottledError,
)

_KAFKA_OUTAGES = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.ProducerClosed,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.ReplicaNotAvailableError,
)


class Failure(StrEnum):
    """What a handler's exception means for the record(s) it was handling."""

    INFRASTRUCTURE = "infrastructure"  # not the record's fault: pause, retry the same records
    RETRYABLE = "retryable"  # the record's, and may pass later: the retry topic
    RECORD = "record"  # the record's, unexpected: bounded retries, then the DLQ
    CONFIGURATION = "configuration"  # the stage's setup: pause until a probe passes, then again
    THROTTLED = "throttled"  # a shared budget is spent: pause for its wait, then again


HOLDS = frozenset({Failure.CONFIGURATION, Failure.THROTTLED})
"""Failures that hold the records back (partitions paused) and hand them over again later."""


_RECORD_SIZED = (psycopg.errors.ProgramLimitExceeded, psycopg.errors.QueryCanceled)


# First match wins; the order matters only where classes overlap.
_BY_CLASS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Failure], ...] = (
    (ConfigurationError, Failure.CONFIGURATION),
    (ThrottledError, Failure.THROTTLED),
    (_RECORD_SIZED, Failure.RECORD),
    ((InfrastructureError, psycopg.OperationalError, ConnectionError), Failure.INFRASTRUCTURE),
    (_KAFKA_OUTAGES, Failure.INFRASTRUCTURE),
    (RetryableError, Failure.RETRYABLE),
)


def classify(error: BaseException) -> Failure:
    """Decide, by exception class, how the consumer loop treats a handler's exception."""
    for classes, failure in _BY_CLASS:
        if isinstance(error, classes):
            return failure
    if isinstance(error, kafka_errors.KafkaError) and error.retriable:
        return Failure.INFRASTRUCTURE
    return Failure.RECORD


def error_type(error: BaseException) -> str:
    """The exception's class as `module.Name` (builtins without a module)."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(error: BaseException, limit: int = 500) -> str:
    """`Type: message`, short enough for a header and a job's error message."""
    text = str(error).strip() or repr(error)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(error).__name__}: {text}"
