"""Markdown to readable plain text with markdown-it-py, headings kept with their level.

markdown-it-py runs in linear time on any input, but pure Python costs up to ~30 µs per
character on hostile markup (a run of `[`), against ~1 µs on prose. So it reads the first
MAX_PARSED_CHARS; the rest of a longer document goes through a simple line scan that keeps
its ATX headings and leaves its inline markup as written.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from services.parser.core.builder import TextBuilder
from services.parser.core.html import feed_html
from services.parser.core.parsed import ParsedText
from services.parser.core.text import title_of

MAX_PARSED_CHARS = 256 * 1024
MAX_FRONT_MATTER_CHARS = 64 * 1024  # front matter read for its title at most (YAML is slow)


def _commonmark() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


_MARKDOWN = _commonmark()
# A whole Markdown file may open with YAML front matter between `---` lines (Jekyll, Hugo,
# Docusaurus, Obsidian). CommonMark reads it as a heading: its last line and a `---` are a
# setext heading, so "title: Flood gates tags: [river]" was the document's first section.
_DOCUMENT = _commonmark().use(front_matter_plugin)
_DEEPEST = _MARKDOWN.options.maxNesting - 1
_FENCES = ("```", "~~~")
_MAX_ATX_INDENT = 3
_LINES_PER_BLOCK = 1024


class _Blocks:
    """Feeds markdown-it's block tokens to a TextBuilder."""

    def __init__(self, builder: TextBuilder, front_matter: list[str] | None = None) -> None:
        self.builder = builder
        self._front_matter = front_matter
        self._row: list[str] | None = None
        self._rows = 0
        self._tight = False
        self._list_start = False
        self._heading_level = 0

    def feed(self, tokens: Sequence[Token]) -> None:
        """Add the text of a token stream (markdown-it's `parse` output)."""
        for token in tokens:
            if self.builder.full:
                return
            if token.type == "inline":
                self._inline(token)
            elif token.type in ("fence", "code_block"):
                self.builder.add(token.content)
            elif token.type == "html_block":
                feed_html(token.content, self.builder)
            elif token.type == "front_matter":
                self.builder.add(token.content)  # its lines as written: tags, a description
                if self._front_matter is not None:
                    self._front_matter.append(token.content)
            else:
                self._structure(token)

    def _structure(self, token: Token) -> None:
        """Follow the opening and closing tokens that decide how the next text is laid out."""
        kind = token.type
        if kind == "heading_open":
            self._heading_level = int(token.tag[1:])
        elif kind == "heading_close":
            self._heading_level = 0
        elif kind == "paragraph_open":
            self._tight = token.hidden  # a tight list: one line per item
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self._list_start = True  # its first item follows a blank line
        elif kind == "table_open":
            self._rows = 0
        elif kind == "tr_open":
            self._row = []
        elif kind == "tr_close" and self._row is not None:
            self.builder.add("\t".join(self._row), tight=self._rows > 0)
            self._rows += 1
            self._row = None

    def _inline(self, token: Token) -> None:
        words = render_inline(token.children or [])
        if self._heading_level:
            self.builder.heading(words, self._heading_level)
        elif self._row is not None:
            self._row.append(" ".join(words.split()))
        else:
            self.builder.add(words, tight=self._tight and not self._list_start)
            self._list_start = False


def render_inline(children: Sequence[Token]) -> str:
    """Return the words a reader sees: no markup, link targets or inline HTML; code kept."""
    out: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "image":
            out.append(render_inline(child.children or []))
    return "".join(out)


def extract_markdown(text: str) -> ParsedText:
    """Turn a Markdown file into plain text; the title is its front matter's, else the first
    H1; sections are all headings."""
    builder = TextBuilder()
    front_matter: list[str] = []
    feed_markdown(text, builder, budget=MAX_PARSED_CHARS, front_matter=front_matter)
    parsed = titled(builder.build())
    title = _front_matter_title(front_matter[0]) if front_matter else None  # one at most
    return parsed if title is None else msgspec.structs.replace(parsed, title=title)


def _front_matter_title(front_matter: str) -> str | None:
    """The `title` of YAML front matter, or None (none, not a string, not YAML)."""
    try:
        values = yaml.safe_load(front_matter[:MAX_FRONT_MATTER_CHARS])
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    title = values.get("title") if isinstance(values, dict) else None
    return title_of(title) if isinstance(title, str) else None


def extract_markdown_pages(pages: Sequence[str]) -> ParsedText:
    """Turn a document's Markdown, one string per page, into plain text with its pages.

    Page i + 1 starts where the text of `pages[i]` does (an empty page starts where the next
    one does); headings and the title are found as in `extract_markdown`. markdown-it reads
    MAX_PARSED_CHARS in all, the rest goes through the line scan.
    """
    builder = TextBuilder()
    budget = MAX_PARSED_CHARS
    for page in pages:
        if builder.full:
            break
        builder.new_page()
        budget -= feed_markdown(page, builder, budget=budget)
    return msgspec.structs.replace(titled(builder.build()), page_count=len(pages))


def feed_markdown(
    text: str, builder: TextBuilder, *, budget: int, front_matter: list[str] | None = None
) -> int:
    """Add Markdown to `builder`: up to `budget` characters through markdown-it, the rest
    through the line scan. Returns the characters markdown-it read. With `front_matter`, the
    text is a whole file that may open with front matter: its lines are added as a block and
    its YAML appended to that list."""
    head, rest = _split(text, max(budget, 0))
    if head:
        tokens = (_MARKDOWN if front_matter is None else _DOCUMENT).parse(head)
        if any(token.level >= _DEEPEST for token in tokens):
            # markdown-it drops everything after its nesting limit (20 levels: ten nested list
            # items, twenty quote marks); read such a document line by line instead.
            _scan_lines(head, builder)
        else:
            _Blocks(builder, front_matter).feed(tokens)
    if rest:
        _scan_lines(rest, builder)
    return len(head)


def titled(parsed: ParsedText) -> ParsedText:
    """The parsed text with its first level-1 heading as its title."""
    title = next((heading.title for heading in parsed.headings if heading.level == 1), None)
    return msgspec.structs.replace(parsed, title=title)


def _split(text: str, limit: int) -> tuple[str, str]:
    """Cut the text at a blank line outside code fences, at or before `limit` characters."""
    if len(text) <= limit:
        return text, ""
    cut = 0
    fence = False
    position = 0
    for line in text[:limit].splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(_FENCES):
            fence = not fence
        elif not stripped and not fence:
            cut = position + len(line)
        position += len(line)
    cut = cut or position
    return text[:cut], text[cut:]


def _scan_lines(text: str, builder: TextBuilder) -> None:
    """Add text past the parsed part: paragraphs as written, ATX headings as headings."""
    paragraph: list[str] = []
    fence = continued = False
    for line in text.splitlines():
        if builder.full:
            return
        stripped = line.strip()
        if stripped.startswith(_FENCES):
            fence = not fence
        heading = None if fence else _atx_heading(line)
        if heading is None and (stripped or fence):
            paragraph.append(line)
            if len(paragraph) >= _LINES_PER_BLOCK:  # same text, and `full` can stop the scan
                builder.add("\n".join(paragraph), tight=continued)
                paragraph.clear()
                continued = True
            continue
        builder.add("\n".join(paragraph), tight=continued)
        paragraph.clear()
        continued = False
        if heading is not None:
            builder.heading(heading[1], heading[0])
    builder.add("\n".join(paragraph), tight=continued)


def _atx_heading(line: str) -> tuple[int, str] | None:
    """Return (level, words) when the line is an ATX heading (`## Words ##`), else None."""
    body = line.lstrip(" ")
    if len(line) - len(body) > _MAX_ATX_INDENT or not body.startswith("#"):
        return None
    level = len(body) - len(body.lstrip("#"))
    rest = body[level:]
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    words = rest.strip()
    closing = words.rstrip("#")
    if not closing or closing[-1] in " \t":  # a closing run of # needs a space before it
        words = closing.strip()
    return level, words
