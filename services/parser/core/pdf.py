"""PDF text extraction with pypdf: pages, metadata title and the bookmark outline.

Every string pypdf returns (a `TextStringObject`, a `str` subclass that msgspec will not
encode) leaves this module as a plain `str`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import msgspec
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, WrongPasswordError

from schemas.layout import Heading
from services.parser.core.builder import TextBuilder
from services.parser.core.errors import CORRUPT_FILE, ENCRYPTED_PDF, ParseError
from services.parser.core.parsed import ParsedText
from services.parser.core.quiet import quiet
from services.parser.core.text import one_line

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
        try:
            reader = PdfReader(io.BytesIO(data))
            _unlock(reader)
            page_count = len(reader.pages)
            for page in reader.pages:
                if builder.full:
                    break
                builder.new_page()
                builder.add(page.extract_text() or "")
        except (ParseError, MemoryError):
            raise
        except (FileNotDecryptedError, WrongPasswordError) as exc:
            raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
        except NotImplementedError as exc:
            if "encrypt" not in str(exc).lower():
                raise ParseError(
                    CORRUPT_FILE, f"the PDF uses a feature we cannot read: {exc}"
                ) from exc
            # e.g. certificate (public-key) security: only the recipient's key opens it
            raise ParseError(ENCRYPTED_PDF, _ENCRYPTED_MESSAGE) from exc
        except Exception as exc:  # pypdf raises many types on hostile input
            raise ParseError(
                CORRUPT_FILE,
                f"the PDF could not be read: {_reason(exc)}; re-export it and upload again",
            ) from exc
        title = _title(reader)
        outline = _outline(reader)
    parsed = builder.build(
        title=title,
        page_count=page_count,
        sections=[entry.title for entry in outline if entry.level == 1],
    )
    return msgspec.structs.replace(parsed, headings=_place(outline, parsed.pages))


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


def _title(reader: PdfReader) -> str | None:
    """Return the document title from the metadata, if it has a readable one."""
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # noqa: BLE001 - the title is optional; a broken info dict is not fatal
        return None
    return one_line(str(title)) or None if isinstance(title, str) else None


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


def _reason(exc: Exception) -> str:
    """Return a short human reason for a pypdf failure."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
