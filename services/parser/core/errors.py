"""The parse error raised by every extractor, with machine-readable codes."""

from __future__ import annotations

from services.common.errors import INTERNAL_ERROR

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


class ExtractorFailedError(Exception):
    """An extractor raised something other than a ParseError on this document (a bug).

    The parse stage raises it for the consumer loop's isolation: bounded retries, then the
    dead-letter topic and `internal_error` (services/common/kafka/isolation.py).
    """
