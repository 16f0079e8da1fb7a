"""HTML to plain text with the standard library parser."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from services.parser.core.parsed import ParsedText

_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "head",
        "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
    }
    | _HEADING_TAGS
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "pre", "blockquote", "table", "ul", "ol", "dl"} | _HEADING_TAGS)
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextCollector(HTMLParser):
    """Collects visible text, the <title> and the headings of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.sections: list[str] = []
        self.title_parts: list[str] = []
        self.first_h1: str | None = None
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._heading: list[str] | None = None
        self._heading_tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
            return
        if tag == "title":
            self._in_title = True
        elif tag == "pre":
            self._pre_depth += 1
        elif tag in _HEADING_TAGS:
            self._heading, self._heading_tag = [], tag
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP_TAGS:
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "title":
            self._in_title = False
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        elif tag in _HEADING_TAGS and self._heading is not None:
            words = _SPACES.sub(" ", "".join(self._heading)).strip()
            if words:
                self.sections.append(words)
                if self._heading_tag == "h1" and self.first_h1 is None:
                    self.first_h1 = words
            self._heading = None
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._heading is not None:
            self._heading.append(data)
        self.parts.append(data if self._pre_depth else _SPACES.sub(" ", data))

    def _break(self, tag: str) -> None:
        """End the current line at a block boundary (a blank line after paragraphs)."""
        if tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")


def extract_html(markup: str) -> ParsedText:
    """Turn HTML into text: scripts and styles dropped, blocks on their own lines."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    lines = [line.strip(" ") for line in "".join(collector.parts).split("\n")]
    title = _SPACES.sub(" ", "".join(collector.title_parts)).strip() or collector.first_h1
    return ParsedText(text="\n".join(lines), title=title, sections=collector.sections)
