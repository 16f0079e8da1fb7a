"""Where a chunk sits in its document: the page it starts on and the heading above it."""

from __future__ import annotations

from bisect import bisect_right
from typing import Final

import msgspec

from schemas.layout import Heading, Layout
from services.embedder.core.chunking import Chunk

MAX_HEADING_CHARS: Final = 300  # a runaway outline title is cut (with "…") at this length


class Locator:
    """Answers "which page, which heading" for offsets in one document's parsed text."""

    def __init__(self, layout: Layout) -> None:
        self.pages = sorted(layout.pages)
        headings = sorted(layout.headings, key=lambda h: h.start)  # stable: text order kept
        self.heading_starts = [h.start for h in headings]
        self.heading_titles = [heading_title(h) for h in headings]

    def page(self, start: int, end: int) -> int | None:
        """The 1-based page that the span `[start, end)` starts on; None without pages.

        A span starting before the first page (text the parser put ahead of page 1) is
        cited as page 1 if it reaches into it, else None.
        """
        if not self.pages:
            return None
        page = bisect_right(self.pages, start)
        if page == 0:
            return 1 if end > self.pages[0] else None
        return page

    def heading(self, start: int) -> str | None:
        """The title of the last heading starting at or before `start`; None above the first."""
        index = bisect_right(self.heading_starts, start)
        return self.heading_titles[index - 1] if index else None


def heading_title(heading: Heading) -> str | None:
    """The title as one printable line of at most MAX_HEADING_CHARS characters; None if blank."""
    printable = "".join(c if c.isprintable() else " " for c in heading.title)
    title = " ".join(printable.split())
    if len(title) > MAX_HEADING_CHARS:
        title = title[: MAX_HEADING_CHARS - 1].rstrip() + "\u2026"
    return title or None


def cite(chunks: list[Chunk], layout: Layout | None) -> list[Chunk]:
    """The chunks with `page` and `heading` set from `layout`; unchanged without one."""
    if layout is None or not (layout.pages or layout.headings):
        return chunks
    locator = Locator(layout)
    return [
        msgspec.structs.replace(
            c, page=locator.page(c.start, c.end), heading=locator.heading(c.start)
        )
        for c in chunks
    ]
