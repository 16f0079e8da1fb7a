"""The result of extracting text from a document."""

from __future__ import annotations

import msgspec

from schemas.layout import Heading


class ParsedText(msgspec.Struct, frozen=True):
    """Plain text of a document with its title, page count and headings."""

    text: str
    title: str | None = None
    page_count: int | None = None
    sections: list[str] = msgspec.field(default_factory=list)
    # Where each page (or slide) starts in `text`: offsets, page 1 first; empty without pages.
    pages: list[int] = msgspec.field(default_factory=list)
    # Headings with the offset in `text` where each starts, in text order.
    headings: list[Heading] = msgspec.field(default_factory=list)
