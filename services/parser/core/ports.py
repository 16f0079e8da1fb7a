"""What the parse stage needs besides the shared ports: something that turns bytes into text."""

from __future__ import annotations

from typing import Protocol

from services.parser.core.parsed import ParsedText


class TextExtractor(Protocol):
    """Extracts a document's text, pages and headings (the sandbox, or a fake in tests)."""

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        """The document's text; raises `ParseError` with a code when it cannot be read."""
        ...
