"""Errors and failure codes stages and adapters share (no Kafka or database imports).

A stage raises these to tell the consumer loop what a failure means; the loop's classification
is in services/common/kafka/failures.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

INTERNAL_ERROR = "internal_error"
"""The `DocumentFailed.code` of a record the pipeline gave up on after an unexpected exception."""
RETRIES_EXHAUSTED = "retries_exhausted"
"""The `DocumentFailed.code` of a record whose retryable failure outlasted its retries."""
BLOB_MISSING = "blob_missing"
"""The `DocumentFailed.code` of a document whose bytes are gone from the blob store."""


class CodedError(Exception):
    """A stage failure with a code (`DocumentFailed.code`) and a message a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RetryableError(CodedError):
    """A failure that may pass if tried later (timeouts, 429/5xx, database or broker blips).

    `retry_after_s` is the least wait the failing side asked for (e.g. HTTP `Retry-After`).
    A stage may handle it itself (the embedder sends the batch to its retry topic); one that
    escapes a handler sends that record through `<topic>.retry` (see `failures.classify`).
    """

    def __init__(self, code: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s


class InfrastructureError(Exception):
    """Something every record needs is down (a broker, the database, a provider's host).

    The consumer loop pauses and retries the same records until it is back, and dead-letters
    nothing: raise it (or let a psycopg/aiokafka connection error escape) for outages only.
    """


Probe = Callable[[], Awaitable[object]] | Callable[[], object]
"""A call that passes (returns) once a configuration error is fixed; a plain function runs in a
worker thread, a coroutine function on the event loop."""


class ConfigurationError(CodedError):
    """The stage cannot work as configured (a wrong key, a missing model, a wrong URL).

    Not the record's fault, and every record would fail alike: the consumer loop pauses its
    partitions, reports not ready with `message`, and calls `probe` (with backoff) until it
    passes, then hands the same records over again. No document fails for it. Without a
    probe the loop tries the records themselves again after the backoff.
    """

    def __init__(self, code: str, message: str, *, probe: Probe | None = None) -> None:
        super().__init__(code, message)
        self.probe = probe


class ThrottledError(Exception):
    """A shared budget (requests or tokens per minute) is spent: not a failure of anything.

    The consumer loop pauses its partitions for `wait_s` (backpressure), then hands the same
    records over again; readiness stays green.
    """

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(message)
        self.message = message
        self.wait_s = max(0.0, wait_s)


class BlobNotFoundError(LookupError):
    """No blob with that hash is stored (or the stored bytes no longer match it)."""


class RefusedError(Exception):
    """A request refused for a reason a person can act on; `status` is the HTTP status to answer.

    The HTTP layer answers it as problem+json with `title` and `detail`, and with `Retry-After`
    when `retry_after_s` says when trying again may pass (services/common/problems.py).
    """

    def __init__(
        self, status: int, title: str, detail: str, *, retry_after_s: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.retry_after_s = retry_after_s


class DocumentDeletedError(LookupError):
    """The job's document was deleted (DELETE /v1/documents/{id}): skip the event, store nothing."""
