"""The parse error raised by every extractor, with machine-readable codes."""

from __future__ import annotations

from services.common.errors import INTERNAL_ERROR, InfrastructureError

UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
CORRUPT_FILE = "corrupt_file"
ENCRYPTED_PDF = "encrypted_pdf"
NO_TEXT = "no_text"
DECODE_ERROR = "decode_error"
ARCHIVE_TOO_LARGE = "archive_too_large"

# What the sandbox answers for a document that cost too much, or that an extractor choked on.
PARSE_TIMEOUT = "parse_timeout"  # beyond the time or CPU limit: the worker was ended
RESOURCE_LIMIT = "resource_limit"  # beyond the memory or file limit, or the worker died
INTERNAL = INTERNAL_ERROR  # an extractor raised something other than a ParseError (a bug)

# What LlamaParse answered for a document (services/parser/adapters/llamaparse.py).
LLAMAPARSE_JOB_FAILED = "llamaparse_job_failed"  # the job ended FAILED or CANCELLED, or expired
LLAMAPARSE_TIMEOUT = "llamaparse_timeout"  # the job did not finish within the time allowed
LLAMAPARSE_REJECTED = "llamaparse_rejected"  # the upload was refused (400, 413, 415, 422)
RESULT_TOO_LARGE = "result_too_large"  # the result is over SLUICE_LLAMAPARSE_MAX_RESULT_MB
# Raised as ProviderConfigurationError: the stage pauses, no document fails for them.
LLAMAPARSE_UNAUTHORIZED = "llamaparse_unauthorized"  # 401/403: the API key or its project
LLAMAPARSE_BAD_URL = "llamaparse_bad_url"  # 404/405 where the API should be: the base URL
# Raised as RetryableError when failover to the local parser is off.
LLAMAPARSE_RATE_LIMITED = "llamaparse_rate_limited"
LLAMAPARSE_UNAVAILABLE = "llamaparse_unavailable"

ERROR_CODES: frozenset[str] = frozenset(
    {UNSUPPORTED_MEDIA_TYPE, CORRUPT_FILE, ENCRYPTED_PDF, NO_TEXT, DECODE_ERROR, ARCHIVE_TOO_LARGE}
)


class ParseError(Exception):
    """A document could not be turned into text; `message` tells a person what to do."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


def unreadable(what: str, exc: BaseException, fix: str) -> ParseError:
    """corrupt_file for a file its reader failed on: `what` ("the XLS file") could not be
    read, the reader's reason on one line (at most 200 characters), then `fix`, what to do
    ("save it again ... and upload again")."""
    reason = " ".join(str(exc).split()) or f"its structure is damaged ({type(exc).__name__})"
    return ParseError(CORRUPT_FILE, f"{what} could not be read: {reason[:200]}; {fix}")


class ExtractorFailedError(Exception):
    """An extractor raised something other than a ParseError on this document (a bug).

    The parse stage raises it for the consumer loop's isolation: bounded retries, then the
    dead-letter topic and `internal_error` (services/common/kafka/isolation.py).
    """


class ProviderUnavailableError(Exception):
    """A remote parser is down (5xx, no connection, a request timed out) or over its quota
    (429 beyond the wait budget). The router fails over to the local parser.

    `over_quota` tells the two apart; `retry_after_s` is the least wait the provider asked for.
    """

    def __init__(
        self, message: str, *, over_quota: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.over_quota = over_quota
        self.retry_after_s = retry_after_s


class ProviderConfigurationError(InfrastructureError):
    """A remote parser refuses our configuration (a wrong API key, project or base URL).

    No document is at fault, so none may fail for it: as an InfrastructureError it makes the
    consumer loop wait and retry the same record (services/common/kafka/isolation.py), and the
    extractor answers the retries with a cheap probe until the provider accepts us again.
    `code` says what to fix (llamaparse_unauthorized, llamaparse_bad_url).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
