"""Turn the bytes of an uploaded document into normalised plain text."""

from __future__ import annotations

from collections.abc import Callable

from services.common.media import DOCX, HTML, MARKDOWN, PDF, PLAIN
from services.parser.core.errors import NO_TEXT, UNSUPPORTED_MEDIA_TYPE, ParseError
from services.parser.core.html import extract_html
from services.parser.core.markdown import extract_markdown
from services.parser.core.parsed import ParsedText
from services.parser.core.pdf import extract_pdf
from services.parser.core.text import MAX_TEXT_CHARS, decode_text, normalize_text, truncate
from services.parser.core.word import extract_docx

__all__ = ["MAX_TEXT_CHARS", "ParseError", "ParsedText", "extract"]


def _extract_plain(data: bytes) -> ParsedText:
    """Plain text: decoded, no title, no sections."""
    return ParsedText(text=decode_text(data))


def _extract_markdown(data: bytes) -> ParsedText:
    """Markdown: decoded, then stripped of markup."""
    return extract_markdown(decode_text(data))


def _extract_html(data: bytes) -> ParsedText:
    """HTML: decoded, then reduced to its visible text."""
    return extract_html(decode_text(data))


_EXTRACTORS: dict[str, Callable[[bytes], ParsedText]] = {
    PLAIN: _extract_plain,
    MARKDOWN: _extract_markdown,
    HTML: _extract_html,
    PDF: extract_pdf,
    DOCX: extract_docx,
}

_NO_TEXT_HINTS: dict[str, str] = {
    PDF: "the PDF has no text layer (it may be a scan or only images); "
    "run it through OCR or export it with text, and upload again",
}


def extract(data: bytes, media_type: str) -> ParsedText:
    """Return the text, title, page count and headings of a document, or raise ParseError."""
    kind = media_type.split(";", 1)[0].strip().lower()
    extractor = _EXTRACTORS.get(kind)
    if extractor is None:
        supported = ", ".join(sorted(_EXTRACTORS))
        raise ParseError(
            UNSUPPORTED_MEDIA_TYPE,
            f"documents of type {media_type!r} cannot be parsed; upload one of: {supported}",
        )
    parsed = extractor(data)
    text = truncate(normalize_text(parsed.text))
    if not text.strip():
        hint = _NO_TEXT_HINTS.get(
            kind, "the document contains no readable text; check the file and upload again"
        )
        raise ParseError(NO_TEXT, hint)
    return ParsedText(
        text=text,
        title=_clean_title(parsed.title),
        page_count=parsed.page_count,
        sections=[section for section in parsed.sections if section],
    )


def _clean_title(title: str | None) -> str | None:
    """Return the title on one line and at most 500 characters, or None when blank."""
    if title is None:
        return None
    one_line = " ".join(title.split())
    return one_line[:500] or None
