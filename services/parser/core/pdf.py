"""PDF text extraction: page text with PDFium, the outline, form values and title with pypdf.

PDFium (pypdfium2, Chrome's PDF engine) reads each page's text: on the 1,226 PDFs of pdf.js,
the corpus and Unstructured's examples it is 15x faster than pypdf's extraction (a 619-page
report: 1.8 s against 27.6 s, over the parser's CPU limit) and right where pypdf returns glyph
names or mojibake (fonts without a usable ToUnicode map, CJK, letter-spaced lines). Its text
API gives no outline and no form values: pypdf reads those and the title. pypdf also reads
the pages of the few files PDFium cannot open.

Every string pypdf returns (a `TextStringObject`, a `str` subclass that msgspec will not
encode) leaves this module as a plain `str`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pypdfium2
import pypdfium2.raw as pdfium_raw
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, WrongPasswordError

from schemas.layout import Heading
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ENCRYPTED_PDF, ParseError, unreadable
from services.parser.core.parsed import ParsedText
from services.parser.core.quiet import quiet
from services.parser.core.text import one_line, title_of

# Form fields read per page at most (a form page holds tens), and how many parents up a
# field's value or type is looked for (fields inherit both; a hostile file may loop).
MAX_FIELDS_PER_PAGE = 5_000
MAX_FIELD_DEPTH = 16
_HIDDEN = 2 | 32  # annotation flags Hidden and NoView: not shown, not read
_TEXT_FIELDS = ("/Tx", "/Ch")  # text and choice fields (buttons hold states, not text)
# Annotations whose /Contents is a comment a person wrote (not /Popup: it repeats its
# parent's; not /Link or /Widget: their /Contents, if any, is a tooltip).
_COMMENTS = frozenset(
    {
        "/Text", "/FreeText", "/Highlight", "/Underline", "/Squiggly", "/StrikeOut", "/Caret",
        "/Square", "/Circle", "/Polygon", "/PolyLine", "/Line", "/Ink", "/Stamp",
    }
)  # fmt: skip
# Bookmarks read at most, and how deep: real outlines are far smaller.
MAX_OUTLINE_ENTRIES = 10_000
MAX_OUTLINE_DEPTH = 16

_ENCRYPTED_MESSAGE = (
    "the PDF is password-protected; remove the password (print or export it to a new PDF) "
    "and upload again"
)


def extract_pdf(data: bytes) -> ParsedText:
    """Extract the text of every page (pages apart by a blank line) and the outline."""
    builder = TextBuilder()
    with quiet("pypdf"):
        reader, unread = _open_reader(data)
        document = _open_document(data, reader, unread)
        try:
            page_count = len(document) if document is not None else len(_pages(reader))
            fields = reader is not None and len(reader.pages) == page_count
            for index in range(page_count):
                if builder.full:
                    break
                builder.new_page()
                builder.add(_page_text(document, reader, index))
                if fields and reader is not None:
                    builder.add("\n".join(_field_values(reader.pages[index])))
        except (ParseError, MemoryError):
            raise
        except Exception as exc:  # pypdf raises many types on hostile input
            raise _corrupt(exc) from exc
        finally:
            if document is not None:
                document.close()
        title = _title(reader) if reader is not None else None
        outline = _outline(reader) if reader is not None else []
    parsed = builder.build(
        title=title,
        page_count=page_count,
        sections=[entry.title for entry in outline if entry.level == 1],
    )
    if unread is not None and not parsed.text.strip():
        # PDFium opens what pypdf calls broken by rebuilding it, and finds nothing on the
        # pages it made up (pdf.js's issue15590.pdf: a catalog whose pages are a script):
        # "broken", with pypdf's reason, says more than "no text layer, maybe a scan".
        raise _corrupt(unread)
    return msgspec.structs.replace(parsed, headings=_place(outline, parsed.pages))


def _open_reader(data: bytes) -> tuple[PdfReader | None, Exception | None]:
    """pypdf's reader of the file, unlocked; or None and why it could not read it.

    A password the empty one does not open raises encrypted_pdf here.
    """
    try:
        reader = PdfReader(io.BytesIO(data))
        _unlock(reader)
        len(reader.pages)  # reads the page tree: a broken one fails here, not mid-document
    except (ParseError, MemoryError):
        raise
    except (FileNotDecryptedError, WrongPasswordError) as exc:
        raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
    except NotImplementedError as exc:
        if "encrypt" in str(exc).lower():
            # e.g. certificate (public-key) security: only the recipient's key opens it
            raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
        return None, exc
    except Exception as exc:  # noqa: BLE001 - PDFium may still read it; if not, said below
        return None, exc
    return reader, None


def _open_document(
    data: bytes, reader: PdfReader | None, unread: Exception | None
) -> pypdfium2.PdfDocument | None:
    """PDFium's document, or None when PDFium cannot open a file pypdf reads.

    When neither opens it, the document ends encrypted_pdf (PDFium asks for a password or
    a security handler it lacks) or corrupt_file (with pypdf's reason, the more telling).
    """
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if reader is not None:
            return None
        if exc.err_code in (pdfium_raw.FPDF_ERR_PASSWORD, pdfium_raw.FPDF_ERR_SECURITY):
            raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
        raise _corrupt(unread or exc) from exc


def _pages(reader: PdfReader | None) -> Any:
    """pypdf's pages (only asked for when PDFium did not open the file, so pypdf did)."""
    if reader is None:  # pragma: no cover - _open_document raised instead
        raise ParseError(CORRUPT_FILE, "the PDF could not be read")
    return reader.pages


# Control characters in PDFium's text are glyph codes of fonts that map them to no character
# (a space glyph among them): a space keeps the words apart. U+FFFE marks a hyphen PDFium
# took out where it joined a word broken over two lines.
_GLYPH_CODES = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f]+")
_JOINED_HYPHEN = "\ufffe"


def _page_text(document: pypdfium2.PdfDocument | None, reader: PdfReader | None, index: int) -> str:
    """The text of page `index`: PDFium's, else pypdf's.

    pypdf reads a page PDFium cannot load, and one where PDFium finds no text: a few files'
    text only pypdf sees (1 of pdf.js's 971); on a scan it finds none as fast.
    """
    if document is None:
        return str(_pages(reader)[index].extract_text() or "")
    text = _pdfium_text(document, index)
    text = "" if text is None else _GLYPH_CODES.sub(" ", text.replace(_JOINED_HYPHEN, ""))
    if text.strip() or reader is None or index >= len(reader.pages):
        return text
    try:
        return str(reader.pages[index].extract_text() or "")
    except Exception:  # noqa: BLE001 - PDFium read the file: pypdf only tries what it left
        return text


def _pdfium_text(document: pypdfium2.PdfDocument, index: int) -> str | None:
    """PDFium's text of page `index` in content order, or None when it cannot load the page."""
    try:
        page = document[index]
        try:
            textpage = page.get_textpage()
            try:
                return str(textpage.get_text_range())
            finally:
                textpage.close()
        finally:
            page.close()
    except pypdfium2.PdfiumError:
        return None


def _corrupt(exc: Exception) -> ParseError:
    """corrupt_file for a PDF neither library reads, with the reason."""
    if isinstance(exc, NotImplementedError):
        return ParseError(CORRUPT_FILE, f"the PDF uses a feature we cannot read: {exc}")
    lacking = exc if isinstance(exc, DependencyError) else exc.__cause__
    if isinstance(lacking, DependencyError):  # pypdf's reason ends in an install hint for us
        reason = str(lacking).split(" Install it", 1)[0].rstrip(". ")
        return ParseError(
            CORRUPT_FILE,
            f"the PDF uses a feature we cannot read ({reason}); re-export it as PDF 1.7 or"
            " PDF/A and upload again",
        )
    return unreadable("the PDF", exc, "re-export it and upload again")


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF with the empty password, or raise encrypted_pdf."""
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("")
    except (DependencyError, NotImplementedError) as exc:  # an encryption pypdf cannot open
        raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
    if not opened:
        raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE)


def _field_values(page: Any) -> list[str]:
    """The values filled into the page's text and choice fields, then the comments people
    left on it (sticky notes, text boxes, highlights' notes, stamps), as the page lists them.

    A page's text leaves out both: a filled-in form read as its blank (an applicant's name,
    the terms typed into a certificate of insurance), a reviewed contract without its review.
    Each shown value or comment once (a comment's pop-up repeats it: not read); a broken
    annotation ends the page's values, not the document.
    """
    values: dict[str, None] = {}  # in order, each once
    try:
        annotations = page.get("/Annots")
        widgets = annotations.get_object() if annotations is not None else []
        for reference in list(widgets)[:MAX_FIELDS_PER_PAGE]:
            annotation = reference.get_object()
            if int(annotation.get("/F", 0)) & _HIDDEN:
                continue
            kind = annotation.get("/Subtype")
            if kind == "/Widget" and _inherited(annotation, "/FT") in _TEXT_FIELDS:
                value = _inherited(annotation, "/V")
            elif kind in _COMMENTS:
                value = annotation.get("/Contents")
            else:
                continue
            text = ", ".join(map(str, value)) if isinstance(value, list) else value
            if isinstance(text, str) and (text := str(text).strip()):
                values[text] = None
    except Exception:  # noqa: BLE001 - form values are extra: a broken one costs only them
        return list(values)
    return list(values)


def _inherited(field: Any, key: str) -> Any:
    """`key` of a form field or of the nearest parent field that has it (None if none)."""
    for _ in range(MAX_FIELD_DEPTH):
        if key in field:
            return field[key]
        parent = field.get("/Parent")
        if parent is None:
            return None
        field = parent.get_object()
    return None


def _title(reader: PdfReader) -> str | None:
    """Return the document title from the metadata, if it has a readable one."""
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # noqa: BLE001 - the title is optional; a broken info dict is not fatal
        return None
    return title_of(title)


class _Entry(msgspec.Struct, frozen=True):
    """A bookmark: its depth (1 = top level), its words, and its page (0-based)."""

    level: int
    title: str
    page: int | None


def _outline(reader: PdfReader) -> list[_Entry]:
    """Return the bookmarks in outline order, or nothing when the outline is unreadable."""
    entries: list[_Entry] = []
    try:
        # pypdf nests a bookmark's children in a list right after it; walk without recursion.
        stack: list[tuple[Iterator[Any], int]] = [(iter(reader.outline), 1)]
        while stack and len(entries) < MAX_OUTLINE_ENTRIES:
            items, level = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
            elif isinstance(item, list):
                if level < MAX_OUTLINE_DEPTH:
                    stack.append((iter(item), level + 1))
            elif title := one_line(str(item.title or "")):
                entries.append(_Entry(level, title, _page_of(reader, item)))
    except Exception:  # noqa: BLE001 - the outline is optional; a broken one is not fatal
        return entries
    return entries


def _page_of(reader: PdfReader, item: Any) -> int | None:
    """Return the 0-based page a bookmark points to, or None."""
    try:
        page = reader.get_destination_page_number(item)
    except Exception:  # noqa: BLE001 - a bookmark without a usable destination
        return None
    return page if isinstance(page, int) and page >= 0 else None


def _place(outline: list[_Entry], pages: list[int]) -> list[Heading]:
    """Return the bookmarks as headings at the start of their page, in text order."""
    headings = [
        Heading(start=pages[entry.page], level=entry.level, title=entry.title)
        for entry in outline
        if entry.page is not None and entry.page < len(pages)
    ]
    return sorted(headings, key=lambda heading: heading.start)
