"""Builds a document's final text block by block, so page and heading offsets stay exact.

Each block is normalised on its own and blocks are joined with one line break or one blank
line. The joined text is then already what `normalize_text` would make of it, so an offset
taken while building is an offset in the text that leaves the parser; the cut at the text
limit only drops what lies beyond it.
"""

from __future__ import annotations

from schemas.layout import Heading
from services.parser.core.parsed import ParsedText
from services.parser.core.text import MAX_TEXT_CHARS, normalize_text, one_line


class TextBuilder:
    """Collects blocks of text with the pages and headings they start."""

    def __init__(self, limit: int = MAX_TEXT_CHARS) -> None:
        self.limit = limit
        self.sections: list[str] = []
        self._parts: list[str] = []
        self._length = 0
        self._pages: list[int] = []
        self._unplaced_pages = 0
        self._headings: list[Heading] = []
        self._cut = False
        self._after_heading = False

    @property
    def full(self) -> bool:
        """True once the text has reached the limit: extractors stop reading there."""
        return self._length >= self.limit

    @property
    def empty(self) -> bool:
        """True while no text has been added."""
        return self._length == 0

    def new_page(self) -> None:
        """Start a page (or slide): it begins where the next block does."""
        if self.full:
            self._cut = True
            return
        self._unplaced_pages += 1

    def add(self, text: str, *, tight: bool = False) -> int | None:
        """Append a block after a blank line (a line break when `tight`); return its offset.

        A block right after a heading always gets the blank line. Returns None, and adds
        nothing, when the block is blank or the text is full.
        """
        if self.full:
            self._cut = True
            return None
        block = normalize_text(text) if text else ""
        if not block:
            return None
        if self._parts:
            separator = "\n" if tight and not self._after_heading else "\n\n"
            self._parts.append(separator)
            self._length += len(separator)
        start = self._length
        self._pages.extend([start] * self._unplaced_pages)
        self._unplaced_pages = 0
        self._parts.append(block)
        self._length += len(block)
        self._after_heading = False
        return start

    def heading(self, title: str, level: int) -> Heading | None:
        """Append a heading as a block of its own and record it with its level."""
        words = one_line(title)
        start = self.add(words) if words else None
        if start is None:
            return None
        heading = Heading(start=start, level=level, title=words)
        self._after_heading = True
        self._headings.append(heading)
        self.sections.append(words)
        return heading

    def build(
        self,
        *,
        title: str | None = None,
        page_count: int | None = None,
        sections: list[str] | None = None,
    ) -> ParsedText:
        """Return the text cut at the limit, with the pages and headings that lie in it."""
        text = "".join(self._parts)
        if len(text) > self.limit:
            text, self._cut = text[: self.limit].rstrip(), True
        pages = self._pages if self._cut else [*self._pages] + [len(text)] * self._unplaced_pages
        end = len(text) - 1 if self._cut else len(text)
        return ParsedText(
            text=text,
            title=title,
            page_count=page_count,
            sections=self.sections if sections is None else sections,
            pages=[offset for offset in pages if offset <= end],
            headings=[heading for heading in self._headings if heading.start <= end],
        )
