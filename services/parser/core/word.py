"""DOCX text extraction with python-docx; headings come from the "Heading N" styles."""

from __future__ import annotations

import io

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from services.parser.core.builder import TextBuilder
from services.parser.core.office import open_package
from services.parser.core.parsed import ParsedText
from services.parser.core.text import one_line


def extract_docx(data: bytes) -> ParsedText:
    """Extract paragraphs and tables in order, headings with their level."""
    builder = TextBuilder()
    # The walk stays inside: python-docx reads parts (styles, tables) lazily, so a broken
    # part surfaces while walking, not while opening.
    with open_package(data, "DOCX", "save it again from your word processor"):
        document = docx.Document(io.BytesIO(data))
        style_title: str | None = None
        for block in document.iter_inner_content():
            if builder.full:
                break
            if isinstance(block, Table):
                for number, row in enumerate(block.rows):
                    cells = (" ".join(cell.text.split()) for cell in row.cells)
                    builder.add("\t".join(cells), tight=number > 0)
                continue
            style = _style_name(block)
            level = _heading_level(style)
            if level is not None and block.text.strip():
                heading = builder.heading(block.text, level)
                if heading is not None and style_title is None and level == 1:
                    style_title = heading.title
            elif style == "Title" and block.text.strip():
                style_title = one_line(block.text)
                builder.add(style_title)
            else:
                builder.add(block.text)
        title = one_line(document.core_properties.title or "") or style_title
    return builder.build(title=title)


def _style_name(paragraph: Paragraph) -> str:
    """Return the paragraph's style name, or "" when it has none."""
    style = paragraph.style
    return (style.name or "") if style is not None else ""


def _heading_level(style: str) -> int | None:
    """Return the level of a "Heading N" style ("Heading" alone is 1), else None."""
    if not style.startswith("Heading"):
        return None
    number = style.removeprefix("Heading").strip()
    if not number:
        return 1
    return int(number) if number.isdigit() and 0 < int(number) < 10 else None
