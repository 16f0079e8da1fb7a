"""Decoding of text bytes and normalisation of extracted text."""

from __future__ import annotations

import re

from services.common.encoding import (
    MAX_UNREADABLE_SHARE,
    TERMINAL_ESCAPES,
    bom_encoding,
    detect_encoding,
    mostly_utf8,
    telling_sample,
    unreadable_share,
)
from services.parser.core.errors import DECODE_ERROR, ParseError

MAX_TEXT_CHARS = 5_000_000
# Decoded text read at most: markup and blank lines shrink on the way to MAX_TEXT_CHARS.
MAX_SOURCE_CHARS = 2 * MAX_TEXT_CHARS

_SURROGATE = re.compile("[\ud800-\udfff]")
# A title longer than this is no title (a damaged property runs on for kilobytes)
MAX_TITLE_CHARS = 500
# Code points Unicode keeps out of text: what a damaged metadata string is made of
_NONCHARACTERS = re.compile("[\ufdd0-\ufdef\ufffe\uffff]")
# Control characters, and the soft hyphen: a hyphenation hint no reader sees inside a line
# (a German page's "schlen&shy;dern" was no match for "schlendern")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\xad]")
_TRAILING_SPACE = " \t\u00a0"
_BLANK_RUNS = re.compile(r"\n{3,}")
_NOT_TEXT = (
    "the file is not readable text (binary content, or an encoding that could not be "
    "recognised); save it as UTF-8 text and upload again"
)


def decode_text(data: bytes) -> str:
    """Decode text bytes: a byte-order mark, else UTF-8 (mostly: a few stray bytes read as
    Windows-1252), else the detected legacy encoding.

    Returns at most MAX_SOURCE_CHARS characters.
    """
    bom = bom_encoding(data)
    if bom is not None:
        try:
            return _readable(data.decode(bom))
        except UnicodeDecodeError as exc:
            raise ParseError(
                DECODE_ERROR,
                f"the file says it is {bom.upper().removesuffix('-SIG')} but is not valid "
                f"{bom.upper().removesuffix('-SIG')} ({exc.reason}); save it again as UTF-8 "
                "and upload again",
            ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if (mixed := mostly_utf8(data)) is not None:
            return _readable(mixed)
    else:
        # Fast path; NULs mean UTF-16 (or binary), ESC may be a 7-bit ISO-2022 encoding.
        if "\x00" not in text and "\x1b" not in text:
            return _readable(text)
    encoding = detect_encoding(telling_sample(data))
    if encoding is None:
        raise ParseError(DECODE_ERROR, _NOT_TEXT)
    # The guess comes from a sample: a byte it cannot map further on becomes U+FFFD, and
    # too many of those end as decode_error below.
    return _readable(data.decode(encoding, errors="replace"))


def _readable(text: str) -> str:
    """Return the text (cut), or raise decode_error when too much of it is control characters."""
    text = text[:MAX_SOURCE_CHARS]
    if unreadable_share(text) > MAX_UNREADABLE_SHARE:
        raise ParseError(DECODE_ERROR, _NOT_TEXT)
    return text


def normalize_text(text: str) -> str:
    """Unify newlines, drop control characters (a terminal's escape sequences whole), soft
    hyphens and trailing spaces, squeeze blank lines."""
    text = _valid_unicode(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    if "\x1b" in text:  # a coloured log: its colours and links' targets are no words
        text = TERMINAL_ESCAPES.sub("", text)
    text = _CONTROL_CHARS.sub("", text)
    # Per line with rstrip: the regex `[ \t]+$` backtracks quadratically on a long run of
    # spaces that ends in a word.
    text = "\n".join(line.rstrip(_TRAILING_SPACE) for line in text.split("\n"))
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")


def _valid_unicode(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates with U+FFFD.

    pypdf decodes some PDFs' text into lone UTF-16 surrogates; no UTF-8 encoder (msgpack,
    Postgres, JSON) accepts them, and the document would otherwise fail as a whole.
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def one_line(text: str) -> str:
    """Return the text normalised onto one line with single spaces (titles, headings)."""
    return " ".join(normalize_text(text).split())


def title_of(value: object) -> str | None:
    """A title read from a file's metadata on one line, without noncharacters, at most
    MAX_TITLE_CHARS; None where it is not text or holds only spaces."""
    if not isinstance(value, str):
        return None
    return one_line(_NONCHARACTERS.sub("", value[: 4 * MAX_TITLE_CHARS]))[:MAX_TITLE_CHARS] or None


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Cut the text to at most `limit` characters."""
    return text if len(text) <= limit else text[:limit]
