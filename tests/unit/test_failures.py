"""The classifier: which exceptions are outages (pause, retry the same records) and which are
a record's own failure (bounded retries, then the dead-letter topic)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import psycopg_pool
import pytest
from aiokafka import errors as kafka_errors

from services.common.errors import InfrastructureError, RetryableError
from services.common.kafka.failures import Failure, classify, describe, error_type
from services.parser.adapters.sandbox import SandboxUnavailableError
from services.parser.core.errors import ExtractorFailedError

pytestmark = pytest.mark.unit
OUTAGE = Failure.INFRASTRUCTURE


@dataclass(frozen=True)
class Case:
    description: str
    given: BaseException
    expected: Failure


CASES = [
    Case("kafka unreachable", kafka_errors.KafkaConnectionError("no broker"), OUTAGE),
    Case("kafka send timed out", kafka_errors.KafkaTimeoutError(), OUTAGE),
    Case("too few in-sync replicas", kafka_errors.NotEnoughReplicasError(), OUTAGE),
    Case(
        "replicas lost after append",
        kafka_errors.NotEnoughReplicasAfterAppendError(),
        OUTAGE,
    ),
    Case("leader moving", kafka_errors.NotLeaderForPartitionError(), OUTAGE),
    Case("producer stopped at shutdown", kafka_errors.ProducerClosed(), OUTAGE),
    Case("postgres unreachable", psycopg.OperationalError("refused"), OUTAGE),
    Case("postgres shutting down", psycopg.errors.AdminShutdown(), OUTAGE),
    Case("serialization failure", psycopg.errors.SerializationFailure(), OUTAGE),
    Case("pool exhausted", psycopg_pool.PoolTimeout("no connection"), OUTAGE),
    Case("socket refused", ConnectionRefusedError(), OUTAGE),
    Case("declared outage", InfrastructureError("provider host down"), OUTAGE),
    Case("no parser worker could start", SandboxUnavailableError("no worker"), OUTAGE),
    Case("an extractor bug one file triggers", ExtractorFailedError("TypeError"), Failure.RECORD),
    Case("provider said 429", RetryableError("rate_limited", "slow down"), Failure.RETRYABLE),
    Case("msgspec refuses a str subclass", TypeError("Encoding objects of type X"), Failure.RECORD),
    Case("a bug one input triggers", ValueError("bad vector"), Failure.RECORD),
    Case("NUL byte in a text column", psycopg.errors.UntranslatableCharacter(), Failure.RECORD),
    Case("one record's row too big", psycopg.errors.ProgramLimitExceeded(), Failure.RECORD),
    Case("one record's statement too slow", psycopg.errors.QueryCanceled(), Failure.RECORD),
    Case("output record too large", kafka_errors.MessageSizeTooLargeError(), Failure.RECORD),
    Case("a key missing", KeyError("page"), Failure.RECORD),
    Case("a timeout inside the stage", TimeoutError(), Failure.RECORD),
]


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_each_exception_class_has_one_behaviour(case: Case) -> None:
    assert classify(case.given) is case.expected


def test_the_cause_names_the_exception_type_and_its_message() -> None:
    error = TypeError("Encoding objects of type TextStringObject is unsupported")
    assert describe(error) == "TypeError: Encoding objects of type TextStringObject is unsupported"
    assert error_type(error) == "TypeError"
    assert error_type(psycopg.errors.DataError()) == "psycopg.DataError"
    assert describe(KeyError()) == "KeyError: KeyError()"
    long = describe(ValueError("x" * 2000))
    assert len(long) < 520 and long.endswith("…")
