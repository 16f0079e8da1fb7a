"""PPTX text extraction with python-pptx: one page per slide, slide titles as headings."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import pptx
from pptx.shapes.group import GroupShape

from services.parser.core.builder import TextBuilder
from services.parser.core.office import open_package
from services.parser.core.parsed import ParsedText
from services.parser.core.text import one_line

# Shapes read per slide at most (a slide holds tens), and group nesting followed.
MAX_SHAPES_PER_SLIDE = 5_000
MAX_GROUP_DEPTH = 16


def extract_pptx(data: bytes) -> ParsedText:
    """Extract each slide's title, text boxes, tables and speaker notes, slide by slide."""
    builder = TextBuilder()
    with open_package(data, "PPTX", "save it again from your presentation program"):
        presentation = pptx.Presentation(io.BytesIO(data))
        slides = list(presentation.slides)
        first_title: str | None = None
        for slide in slides:
            if builder.full:
                break
            builder.new_page()
            title_shape = slide.shapes.title
            if title_shape is not None and title_shape.has_text_frame:
                heading = builder.heading(_frame_text(title_shape), 1)
                first_title = first_title or (heading.title if heading else None)
            for shape in _shapes(slide.shapes, title_shape):
                _add_shape(builder, shape)
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                builder.add(_frame_text(slide.notes_slide.notes_text_frame))
        core_title = one_line(presentation.core_properties.title or "")
    return builder.build(title=core_title or first_title, page_count=len(slides))


def _shapes(shapes: Iterable[Any], skip: Any) -> Iterator[Any]:
    """Yield the slide's shapes in order, groups opened, the title shape left out."""
    stack: list[tuple[Iterator[Any], int]] = [(iter(shapes), 0)]
    count = 0
    while stack and count < MAX_SHAPES_PER_SLIDE:
        members, depth = stack[-1]
        shape = next(members, None)
        if shape is None:
            stack.pop()
            continue
        count += 1
        if isinstance(shape, GroupShape):
            if depth < MAX_GROUP_DEPTH:
                stack.append((iter(shape.shapes), depth + 1))
        elif skip is None or shape.shape_id != skip.shape_id:
            yield shape


def _add_shape(builder: TextBuilder, shape: Any) -> None:
    """Add a text box's paragraphs, or a table's rows as tab-separated lines."""
    if shape.has_text_frame:
        builder.add(_frame_text(shape))
    elif shape.has_table:
        for number, row in enumerate(shape.table.rows):
            cells = (" ".join(cell.text.split()) for cell in row.cells)
            builder.add("\t".join(cells), tight=number > 0)


def _frame_text(shape_or_frame: Any) -> str:
    """Return a text frame's text, line breaks (vertical tabs in python-pptx) as newlines."""
    frame = getattr(shape_or_frame, "text_frame", shape_or_frame)
    return str(frame.text).replace("\v", "\n")
