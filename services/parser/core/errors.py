"""The parse error raised by every extractor, with machine-readable codes."""

from __future__ import annotations

UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
CORRUPT_FILE = "corrupt_file"
ENCRYPTED_PDF = "encrypted_pdf"
NO_TEXT = "no_text"
DECODE_ERROR = "decode_error"
ARCHIVE_TOO_LARGE = "archive_too_large"

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
