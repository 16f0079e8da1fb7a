"""PPTX text extraction with python-pptx: one page per slide, slide titles as headings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree
from pptx.opc.package import PartFactory
from pptx.oxml import parse_xml
from pptx.package import Package
from pptx.parts.presentation import PresentationPart
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape

from services.parser.core.builder import TextBuilder
from services.parser.core.numbering import format_count, whole_number
from services.parser.core.office import (
    CHART,
    alt_text,
    chart_lines,
    comment_lines,
    core_title,
    main_part,
    open_package,
)
from services.parser.core.parsed import ParsedText

# Shapes read per slide at most (a slide holds tens), and group nesting followed.
MAX_SHAPES_PER_SLIDE = 5_000
MAX_GROUP_DEPTH = 16
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_DGM = "{http://schemas.openxmlformats.org/drawingml/2006/diagram}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_DIAGRAM_TEXT_POINTS = frozenset({"node", "asst"})  # nodes and assistant nodes
# What a slide-number field drawn on a master or layout shows there: each slide shows its number.
_SLIDE_NUMBER = "\u2039#\u203a"
# Macro-enabled shows (.ppsm) and templates (.potm) are the same PresentationML under another
# content type; python-pptx's part factory names neither (it does .pptm, .potx, .ppsx).
for _content_type in (
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml",
):
    PartFactory.part_type_for.setdefault(_content_type, PresentationPart)


def extract_pptx(data: bytes) -> ParsedText:
    """Extract each slide's title, text boxes, tables and speaker notes, slide by slide."""
    builder = TextBuilder()
    with open_package(data, "PPTX", "save it again from your presentation program") as package:
        # Not `pptx.Presentation`: it refuses templates (.potx) and shows (.ppsx), which
        # python-pptx reads as it reads a .pptx.
        part = main_part(
            Package, package, PresentationPart, "a presentation", "save it again as .pptx"
        )
        presentation = part.presentation
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
            for relationship in slide.part.rels.values():  # reviewers' comments on it
                if relationship.reltype.endswith("/comments") and not relationship.is_external:
                    builder.add("\n".join(comment_lines(relationship.target_part.blob)))
        _add_design_text(builder, slides)
        title = core_title(presentation)
    return builder.build(title=title or first_title, page_count=len(slides))


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


def _add_design_text(builder: TextBuilder, slides: list[Any]) -> None:
    """Add, after the slides, the text drawn on the masters and layouts they are built on
    (a company name, a confidentiality line, a course title on every slide), each text once.
    The placeholders there are left out: their text is the prompt ("Click to edit Master
    title style") that a slide's own placeholder replaces, or a date and slide number.
    python-pptx reads a slide's own shapes only: a deck whose words were all on its master
    had no text."""
    said: set[str] = set()
    for design in _designs(slides):
        for shape in _shapes(design.shapes, None):
            if builder.full:
                return
            if shape.is_placeholder:
                continue
            scratch = TextBuilder()
            _add_shape(scratch, shape)
            text = scratch.build().text.replace(_SLIDE_NUMBER, "").strip()
            if text and text not in said:
                said.add(text)
                builder.add(text)


def _designs(slides: list[Any]) -> Iterator[Any]:
    """The slide masters and layouts the slides are built on, each once, a slide's master
    before its layout. A relationship that is missing or leads to another kind of part is
    left out: the slides still count."""
    seen: set[str] = set()
    for slide in slides:
        try:
            layout = slide.slide_layout
        except (KeyError, AttributeError):
            continue
        try:
            designs = [layout.slide_master, layout]
        except (KeyError, AttributeError):
            designs = [layout]
        for design in designs:
            if design.part.partname not in seen:
                seen.add(design.part.partname)
                yield design


def _add_shape(builder: TextBuilder, shape: Any) -> None:
    """Add a text box's paragraphs, a table's rows as tab-separated lines, the text of a
    SmartArt diagram's nodes, one per line, or a chart's titles and labels; then the shape's
    alternative text (a picture's description)."""
    if shape.has_text_frame:
        builder.add(_frame_text(shape))
    elif shape.has_table:
        for number, row in enumerate(shape.table.rows):
            cells = (" ".join(cell.text.split()) for cell in row.cells)
            builder.add("\t".join(cells), tight=number > 0)
    elif isinstance(shape, GraphicFrame):
        builder.add("\n".join(_diagram_lines(shape)))
        for chart in shape.element.iter(f"{CHART}chart"):
            if (chart_id := chart.get(f"{_R}id")) in shape.part.rels:
                builder.add(
                    "\n".join(chart_lines(shape.part.related_part(chart_id).blob, values=True))
                )
    properties = next(shape.element.iter(f"{_P}cNvPr"), None)  # its own: it comes first
    if properties is not None:
        builder.add(alt_text(properties))


def _diagram_lines(frame: GraphicFrame) -> Iterator[str]:
    """The text of a SmartArt diagram, a paragraph a line. python-pptx does not read
    diagrams: their text lies in a part of its own (`ppt/diagrams/dataN.xml`), one point per
    node; the transitions between nodes and the presentation points hold none to read. A
    diagram whose data part is missing or not readable XML is left out: the slides count."""
    for ids in frame.element.iter(f"{_DGM}relIds"):
        data = ids.get(f"{_R}dm")
        if data not in frame.part.rels:
            continue
        try:
            model = parse_xml(frame.part.related_part(data).blob)
        except etree.XMLSyntaxError:
            continue
        for point in model.iter(f"{_DGM}pt"):
            if point.get("type", "node") not in _DIAGRAM_TEXT_POINTS:
                continue
            for paragraph in point.iter(f"{_A}p"):
                line = "".join(run.text or "" for run in paragraph.iter(f"{_A}t"))
                if line.strip():
                    yield line


def _frame_text(shape_or_frame: Any) -> str:
    """Return a text frame's text, a paragraph a line, line breaks (vertical tabs in
    python-pptx) as newlines, each automatically numbered paragraph with the number
    PowerPoint draws before it ("1.", "b)", "(iv)"): python-pptx's text has none, and "step
    3" of a procedure could not be found by its number."""
    frame = getattr(shape_or_frame, "text_frame", shape_or_frame)
    numbers = _AutoNumbers()
    lines = []
    for paragraph in frame.paragraphs:
        text = str(paragraph.text).replace("\v", "\n")
        label = numbers.label(paragraph._p, paragraph.level) if text.strip() else None
        lines.append(text if label is None else f"{label} {text}")
    return "\n".join(lines)


class _AutoNumbers:
    """The numbers of a text frame's automatically numbered paragraphs (`a:buAutoNum`), level
    by level: a list counts on while its paragraphs at that level are numbered the same way
    (from `startAt`), deeper ones between it and a new item of its own restart, and a
    paragraph at its level with no number ends it."""

    def __init__(self) -> None:
        self._counts: dict[int, tuple[str, int]] = {}  # level -> (scheme, count)

    def label(self, paragraph: Any, level: int) -> str | None:
        """The label of a non-empty paragraph (an `a:p`) at `level`, or None (not numbered)."""
        for deeper in [at for at in self._counts if at > level]:
            del self._counts[deeper]
        auto = paragraph.find(f"{_A}pPr/{_A}buAutoNum")
        if auto is None:
            self._counts.pop(level, None)
            return None
        scheme = auto.get("type", "arabicPeriod")
        start = whole_number(auto.get("startAt"), 1, _MAX_START_AT) or 1
        previous = self._counts.get(level)
        count = previous[1] + 1 if previous is not None and previous[0] == scheme else start
        self._counts[level] = (scheme, count)
        return _auto_number(scheme, count)


# ST_TextAutonumberScheme: a numbering ("alphaLc", "arabic", "romanUc", ...) and how the
# number is set off; the schemes of East Asian, Hebrew, Arabic, Hindi and Thai counting,
# and circled numbers, are written here as "1.".
_AUTO_SCHEME = re.compile(
    r"(alphaLc|alphaUc|arabic|romanLc|romanUc)(ParenBoth|ParenR|Period|Plain|Minus)"
)
_MAX_START_AT = 32_767  # the schema's range of `startAt`
_AUTO_MARKS = {
    "ParenBoth": "({})",
    "ParenR": "{})",
    "Period": "{}.",
    "Plain": "{}",
    "Minus": "- {}",
}
_AUTO_KINDS = {  # as Word's number formats name them
    "alphaLc": "lowerLetter",
    "alphaUc": "upperLetter",
    "arabic": "decimal",
    "romanLc": "lowerRoman",
    "romanUc": "upperRoman",
}


def _auto_number(scheme: str, count: int) -> str:
    found = _AUTO_SCHEME.fullmatch(scheme)
    if found is None:
        return f"{count}."
    numbering, marks = found.groups()
    return _AUTO_MARKS[marks].format(format_count(count, _AUTO_KINDS[numbering]))
