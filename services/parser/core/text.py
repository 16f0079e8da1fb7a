"""Decoding of text bytes and normalisation of extracted text."""

from __future__ import annotations

import re
import unicodedata

from services.parser.core.errors import DECODE_ERROR, ParseError

MAX_TEXT_CHARS = 5_000_000

_MAX_CONTROL_RATIO = 0.01
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+$", re.M)
_BLANK_RUNS = re.compile(r"\n{3,}")


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-8 (BOM optional), UTF-16 with BOM, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError(
                DECODE_ERROR,
                f"the file says it is UTF-16 but is not valid UTF-16 ({exc.reason}); "
                "save it again as UTF-8 and upload again",
            ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if b"\x00" in data or _control_ratio(text) > _MAX_CONTROL_RATIO:
        raise ParseError(
            DECODE_ERROR,
            "the file is not readable text (unknown encoding or binary content); "
            "save it as UTF-8 text and upload again",
        )
    return text


def _control_ratio(text: str) -> float:
    """Return the share of characters that are control characters other than whitespace."""
    if not text:
        return 0.0
    controls = sum(1 for ch in text if ch not in "\t\n\r\f" and unicodedata.category(ch) == "Cc")
    return controls / len(text)


def normalize_text(text: str) -> str:
    """Unify newlines, drop control characters and trailing spaces, squeeze blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _CONTROL_CHARS.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Cut the text to at most `limit` characters."""
    return text if len(text) <= limit else text[:limit]
