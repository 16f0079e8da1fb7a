"""DOCX text extraction with python-docx."""

from __future__ import annotations

import io

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from services.parser.core.errors import CORRUPT_FILE, ParseError
from services.parser.core.parsed import ParsedText


def extract_docx(data: bytes) -> ParsedText:
    """Extract paragraphs and tables in order; headings come from "Heading" styles."""
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
        core_title = document.core_properties.title
    except Exception as exc:  # python-docx raises zip, XML and key errors on broken files
        reason = str(exc).strip() or type(exc).__name__
        raise ParseError(
            CORRUPT_FILE,
            f"the DOCX file could not be read: {reason[:200]}; "
            "save it again from your word processor and upload again",
        ) from exc
    lines: list[str] = []
    sections: list[str] = []
    style_title: str | None = None
    for block in blocks:
        if isinstance(block, Table):
            lines.extend(_table_lines(block))
            continue
        words = block.text.strip()
        style = _style_name(block)
        if words and style.startswith("Heading"):
            sections.append(words)
            if style_title is None and style in ("Heading", "Heading 1"):
                style_title = words
            lines.extend(["", words, ""])
        elif words and style == "Title":
            style_title = words
            lines.extend([words, ""])
        else:
            lines.extend([block.text, ""])
    title = (core_title or "").strip() or style_title
    return ParsedText(text="\n".join(lines), title=title, sections=sections)


def _style_name(paragraph: Paragraph) -> str:
    """Return the paragraph's style name, or "" when it has none."""
    style = paragraph.style
    return (style.name or "") if style is not None else ""


def _table_lines(table: Table) -> list[str]:
    """Return one tab-separated line per table row."""
    return ["\t".join(cell.text.strip() for cell in row.cells) for row in table.rows]
