"""The result of extracting text from a document."""

from __future__ import annotations

import msgspec


class ParsedText(msgspec.Struct, frozen=True):
    """Plain text of a document with its title, page count and headings."""

    text: str
    title: str | None = None
    page_count: int | None = None
    sections: list[str] = msgspec.field(default_factory=list)
