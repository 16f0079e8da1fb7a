"""What the parse stage needs besides the shared ports: something that turns bytes into text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from services.parser.core.parsed import ParsedText

if TYPE_CHECKING:
    from services.parser.core.routing import Parsed


class TextExtractor(Protocol):
    """Extracts a document's text, pages and headings (the sandbox, LlamaParse, or a fake)."""

    async def extract(self, data: bytes, media_type: str) -> ParsedText:
        """The document's text; raises `ParseError` with a code when it cannot be read."""
        ...


class Parsers(Protocol):
    """Picks the parser for a tenant's document and runs it (core/routing.py's `Router`)."""

    async def parse(self, data: bytes, media_type: str, *, tenant_id: str) -> Parsed:
        """The document's text and the name of the parser that read it."""
        ...
