"""The numbers LibreOffice draws before numbered list items and headings in OpenDocument
files ("1.", "2.1", "b)", "IV."), worked out from the list styles and the outline style, so
the text says "4.2 Termination" where the document shows it (the files hold none of these
numbers; the application counts them). No library computes them (odfpy reads the XML, not
its numbering); what is followed here (OpenDocument 1.3, part 3, 5.3 and 16.31):

- a list's style (`text:style-name`, else its enclosing list's), level by level
  (`text:list-level-style-number`: `style:num-format` 1, a, A, i or I, `style:num-prefix`,
  `style:num-suffix`, `text:display-levels`, `text:start-value`); bullets and pictures give
  no label;
- a list restarts unless it says `text:continue-numbering="true"` (it continues the list
  before it) or `text:continue-list` (the list with that `xml:id`); an item's
  `text:start-value` restarts the count there; a list header is not counted;
- headings by the outline style (`text:outline-style`), as LibreOffice numbers them: those
  whose paragraph style is, or is based on, one linked to an outline level
  (`style:default-outline-level`, the "Heading N" styles), unless `text:is-list-header`; with
  `text:restart-numbering` and `text:start-value`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from services.parser.core.numbering import format_count, whole_number

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
LEVELS = 10  # ODF's list and outline levels
_FORMATS = {
    "1": "decimal",
    "a": "lowerLetter",
    "A": "upperLetter",
    "i": "lowerRoman",
    "I": "upperRoman",
}


class _Level:
    """How one level of a list or outline style numbers (None: it does not)."""

    def __init__(self, element: Any) -> None:
        self.kind = _FORMATS.get(element.get(f"{_STYLE}num-format", ""))
        self.prefix = element.get(f"{_STYLE}num-prefix", "")
        self.suffix = element.get(f"{_STYLE}num-suffix", "")
        shown = whole_number(element.get(f"{_TEXT}display-levels"), 1)
        self.shown = min(shown or 1, LEVELS)
        self.start = whole_number(element.get(f"{_TEXT}start-value"), 0)


def _style_elements(root: Any) -> Iterator[Any]:
    """The list, outline and paragraph styles of a document's styles sections (content.xml's
    and styles.xml's, or a flat document's), in one pass that leaves its body alone."""
    if root is None:
        return
    tags = (f"{_TEXT}list-style", f"{_TEXT}outline-style", f"{_STYLE}style")
    for section in ("styles", "automatic-styles", "master-styles"):
        for container in root.iterfind(f"{_OFFICE}{section}"):
            yield from container.iter(*tags)


def _levels(style: Any, tag: str) -> dict[int, _Level]:
    levels = {}
    for element in style.iter(tag):
        level = whole_number(element.get(f"{_TEXT}level"), 1)
        if level is not None and level <= LEVELS:
            levels[level] = _Level(element)
    return levels


class OdfNumbering:
    """Labels numbered list items and headings in reading order (each call counts)."""

    def __init__(self, *roots: Any) -> None:
        self._styles: dict[str, dict[int, _Level]] = {}
        self._outline: dict[int, _Level] = {}
        self._parents: dict[str, str] = {}  # paragraph style -> the style it is based on
        self._chapters: set[str] = set()  # paragraph styles linked to an outline level
        for root in roots:
            for style in _style_elements(root):
                if style.tag == f"{_TEXT}list-style":
                    name = style.get(f"{_STYLE}name")
                    if name is not None:
                        numbered = _levels(style, f"{_TEXT}list-level-style-number")
                        self._styles.setdefault(name, numbered)
                elif style.tag == f"{_TEXT}outline-style":
                    self._outline = self._outline or _levels(style, f"{_TEXT}outline-level-style")
                elif style.get(f"{_STYLE}family") == "paragraph":
                    name = style.get(f"{_STYLE}name")
                    if name is None:
                        continue
                    parent = style.get(f"{_STYLE}parent-style-name")
                    if parent is not None:
                        self._parents.setdefault(name, parent)
                    if style.get(f"{_STYLE}default-outline-level"):
                        self._chapters.add(name)
        self._stack: list[tuple[str | None, list[int | None]]] = []  # (style, counts) a list
        self._last: list[int | None] | None = None  # the counts of the last top-level list
        self._named: dict[str, list[int | None]] = {}  # counts by the lists' xml:id
        self._headings: list[int | None] = [None] * LEVELS

    @contextmanager
    def within_list(self, element: Any) -> Iterator[None]:
        """Within a `text:list`: its items are counted in its style at its depth."""
        style = element.get(f"{_TEXT}style-name") or (self._stack[-1][0] if self._stack else None)
        if self._stack:
            counts = self._stack[-1][1]  # a nested list counts at its level of the same list
        else:
            counts = self._continued(element) or [None] * LEVELS
            self._last = counts
        key = element.get(_XML_ID)
        if key is not None:
            self._named[key] = counts
        self._stack.append((style, counts))
        try:
            yield
        finally:
            self._stack.pop()

    def _continued(self, element: Any) -> list[int | None] | None:
        target = element.get(f"{_TEXT}continue-list")
        if target is not None:
            return self._named.get(target)
        if element.get(f"{_TEXT}continue-numbering") == "true":
            return self._last
        return None

    def item(self, element: Any) -> str | None:
        """The label of a `text:list-item` of the innermost list, or None (not numbered)."""
        if not self._stack or len(self._stack) > LEVELS:
            return None
        style, counts = self._stack[-1]
        level = len(self._stack)
        levels = self._styles.get(style or "", {})
        restart = whole_number(element.get(f"{_TEXT}start-value"), 0)
        return _count(levels, counts, level, restart)

    def heading(self, element: Any, level: int) -> str | None:
        """The outline number of a `text:h` at `level` (1-10), or None."""
        if element.get(f"{_TEXT}is-list-header") == "true" or not 1 <= level <= LEVELS:
            return None
        if not self._in_outline(element.get(f"{_TEXT}style-name")):
            return None
        restart = None
        if element.get(f"{_TEXT}restart-numbering") == "true":
            restart = whole_number(element.get(f"{_TEXT}start-value"), 0) or 1
        return _count(self._outline, self._headings, level, restart)

    def _in_outline(self, style: str | None) -> bool:
        """Whether a paragraph style is, or is based on, one linked to an outline level."""
        seen: set[str] = set()
        while style is not None and style not in seen:
            if style in self._chapters:
                return True
            seen.add(style)
            style = self._parents.get(style)
        return False


def _count(
    levels: dict[int, _Level], counts: list[int | None], level: int, restart: int | None
) -> str | None:
    """Count an item at `level` (1-based) and write its label; deeper levels restart."""
    style = levels.get(level)
    start = style.start if style is not None and style.start is not None else 1
    current = counts[level - 1]
    counts[level - 1] = (
        restart if restart is not None else start if current is None else current + 1
    )
    for deeper in range(level, LEVELS):
        counts[deeper] = None
    if style is None or style.kind is None:
        return None
    shown = []
    for number in range(max(level - style.shown + 1, 1), level + 1):
        above = levels.get(number)
        count = counts[number - 1]
        if count is None:  # a level skipped shows its start
            count = above.start if above is not None and above.start is not None else 1
        kind = above.kind if above is not None and above.kind is not None else "decimal"
        shown.append(format_count(count, kind))
    label = f"{style.prefix}{'.'.join(shown)}{style.suffix}".strip()
    return label or None
