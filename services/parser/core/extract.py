"""Turn the bytes of an uploaded document into normalised plain text with its layout."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from schemas.layout import Heading
from services.common import media
from services.common.signed import unwrap
from services.parser.core.builder import TextBuilder
from services.parser.core.captions import extract_subrip, extract_subviewer, extract_webvtt
from services.parser.core.epub import extract_epub
from services.parser.core.errors import (
    CORRUPT_FILE,
    INTERNAL,
    NO_TEXT,
    UNSUPPORTED_MEDIA_TYPE,
    ParseError,
)
from services.parser.core.html import extract_html
from services.parser.core.legacy_slides import extract_ppt
from services.parser.core.legacy_word import extract_doc
from services.parser.core.mail import extract_email
from services.parser.core.markdown import extract_markdown, extract_markdown_pages
from services.parser.core.notebook import extract_notebook
from services.parser.core.opendocument import extract_flat_opendocument, extract_opendocument
from services.parser.core.outlook import extract_msg
from services.parser.core.parsed import ParsedText
from services.parser.core.pdf import extract_pdf
from services.parser.core.rtf import extract_rtf
from services.parser.core.sheets import extract_xlsx
from services.parser.core.slides import extract_pptx
from services.parser.core.text import MAX_TEXT_CHARS, decode_text
from services.parser.core.word import extract_docx
from services.parser.core.xls import extract_xls
from services.parser.core.xlsb import extract_xlsb
from services.parser.core.xmldoc import extract_xml

__all__ = ["MARKDOWN_PAGES", "MAX_TEXT_CHARS", "ParseError", "ParsedText", "extract"]

# Internal, never an upload's type (ingest sniffs one of services.common.media's): a JSON array
# with the Markdown of each page, as a remote parser (LlamaParse) returned it, to be read by
# the same Markdown extractor inside the sandbox. See encode_markdown_pages.
MARKDOWN_PAGES = "application/vnd.sluice.markdown-pages+json"
_PAGES = msgspec.json.Decoder(list[str])
_PAGES_ENCODER = msgspec.json.Encoder()


def encode_markdown_pages(pages: list[str]) -> bytes:
    """The bytes `extract(..., MARKDOWN_PAGES)` reads: one Markdown string per page."""
    return _PAGES_ENCODER.encode(pages)


def _extract_plain(data: bytes) -> ParsedText:
    """Plain text: decoded, no title, no headings."""
    builder = TextBuilder()
    builder.add(decode_text(data))
    return builder.build()


def _extract_markdown(data: bytes) -> ParsedText:
    """Markdown: decoded, then stripped of markup."""
    return extract_markdown(decode_text(data))


def _extract_html(data: bytes) -> ParsedText:
    """HTML: decoded, then reduced to its visible text."""
    return extract_html(decode_text(data))


def _extract_signed(data: bytes) -> ParsedText:
    """A signed file (.p7m): the document inside its signatures, read as that document."""
    _, inside = unwrap(data)
    if inside is None:
        raise ParseError(
            CORRUPT_FILE,
            "the signed file (.p7m) holds no document that can be read (damaged, or signed"
            " around nothing); check the file and upload again",
        )
    kind = media.sniff_media_type(inside)
    if kind is None:
        raise ParseError(
            UNSUPPORTED_MEDIA_TYPE,
            f"the signed file's document is {media.unsupported_reason(inside)}",
        )
    return extract(inside, kind)


def _extract_markdown_pages(data: bytes) -> ParsedText:
    """A remote parser's Markdown, one string per page: pages, headings and title kept."""
    try:
        pages = _PAGES.decode(data)
    except msgspec.DecodeError as error:
        raise ParseError(INTERNAL, f"the parser sent malformed Markdown pages: {error}") from None
    return extract_markdown_pages(pages)


_EXTRACTORS: dict[str, Callable[[bytes], ParsedText]] = {
    media.PLAIN: _extract_plain,
    media.MARKDOWN: _extract_markdown,
    media.HTML: _extract_html,
    media.PDF: extract_pdf,
    media.DOCX: extract_docx,
    media.PPTX: extract_pptx,
    media.XLSX: extract_xlsx,
    media.EMAIL: extract_email,
    media.RTF: extract_rtf,
    media.ODT: extract_opendocument,
    media.ODS: extract_opendocument,
    media.ODP: extract_opendocument,
    media.ODG: extract_opendocument,
    media.FODT: extract_flat_opendocument,
    media.FODS: extract_flat_opendocument,
    media.FODP: extract_flat_opendocument,
    media.FODG: extract_flat_opendocument,
    media.XML: extract_xml,
    media.VTT: extract_webvtt,
    media.SRT: extract_subrip,
    media.SBV: extract_subviewer,
    media.NOTEBOOK: extract_notebook,
    media.EPUB: extract_epub,
    media.XLS: extract_xls,
    media.XLSB: extract_xlsb,
    media.MSG: extract_msg,
    media.DOC: extract_doc,
    media.PPT: extract_ppt,
    media.SIGNED: _extract_signed,
    MARKDOWN_PAGES: _extract_markdown_pages,
}

_NO_TEXT_HINTS: dict[str, str] = {
    media.XML: "the XML holds no words in its elements, only markup and attributes (an XBRL"
    " linkbase, a configuration file); upload the document it describes",
    media.PDF: "the PDF has no text layer (it may be a scan or only images); "
    "run it through OCR or export it with text, and upload again",
    MARKDOWN_PAGES: "LlamaParse found no text in the document (it may hold only images); check"
    " the file, or route its type to the local parser (SLUICE_LLAMAPARSE_MEDIA_TYPES), and"
    " upload again",
}


def extract(data: bytes, media_type: str) -> ParsedText:
    """Return the text, title, pages and headings of a document, or raise ParseError.

    Page and heading offsets point into the returned text (see TextBuilder), and every
    string is a plain `str`, whatever the library that read the file returned.
    """
    kind = media_type.split(";", 1)[0].strip().lower()
    extractor = _EXTRACTORS.get(kind)
    if extractor is None:
        supported = ", ".join(sorted(set(_EXTRACTORS) - {MARKDOWN_PAGES}))
        raise ParseError(
            UNSUPPORTED_MEDIA_TYPE,
            f"documents of type {media_type!r} cannot be parsed; upload one of: {supported}",
        )
    parsed = extractor(data)
    if not parsed.text.strip():
        hint = _NO_TEXT_HINTS.get(
            kind, "the document contains no readable text; check the file and upload again"
        )
        raise ParseError(NO_TEXT, hint)
    return ParsedText(
        text=str(parsed.text),
        title=_clean_title(parsed.title),
        page_count=parsed.page_count,
        sections=[str(section) for section in parsed.sections if section],
        pages=[int(offset) for offset in parsed.pages],
        headings=[
            Heading(start=int(h.start), level=int(h.level), title=str(h.title))
            for h in parsed.headings
        ],
    )


def _clean_title(title: str | None) -> str | None:
    """Return the title as a plain `str` on one line, at most 500 characters, or None."""
    if title is None:
        return None
    one_line = " ".join(str(title).split())
    return one_line[:500] or None
