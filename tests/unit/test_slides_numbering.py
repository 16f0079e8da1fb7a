"""Automatically numbered paragraphs on slides (`a:buAutoNum`, services/parser/core/slides.py):
PowerPoint draws their numbers, python-pptx's text has none, so "step 3" of a procedure could
not be found by its number."""

from __future__ import annotations

import io

import pptx
import pytest
from lxml import etree

from services.common.media import PPTX
from services.parser.core.extract import extract

pytestmark = pytest.mark.unit

A = "http://schemas.openxmlformats.org/drawingml/2006/main"


def deck(items: list[tuple[str, int, str | None, int | None]]) -> bytes:
    """One slide titled "Procedure" whose body holds the paragraphs (text, level, numbering
    scheme or None, startAt or None)."""
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Procedure"
    body = slide.placeholders[1].text_frame
    body.text = items[0][0]
    for text, *_ in items[1:]:
        body.add_paragraph().text = text
    for paragraph, (_, level, scheme, start) in zip(body.paragraphs, items, strict=True):
        paragraph.level = level
        if scheme is not None:
            number = etree.SubElement(paragraph._p.get_or_add_pPr(), f"{{{A}}}buAutoNum")
            number.set("type", scheme)
            if start is not None:
                number.set("startAt", str(start))
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def body_lines(items: list[tuple[str, int, str | None, int | None]]) -> list[str]:
    return extract(deck(items), PPTX).text.split("\n\n", 1)[1].split("\n")


def test_numbered_steps_carry_their_numbers_and_sub_steps_restart() -> None:
    assert body_lines(
        [
            ("Open the valve", 0, "arabicPeriod", None),
            ("Wait", 0, "arabicPeriod", None),
            ("Check the gauge", 1, "alphaLcParenR", None),
            ("Log it", 1, "alphaLcParenR", None),
            ("Close the valve", 0, "arabicPeriod", None),
            ("Check again", 1, "alphaLcParenR", None),
        ]
    ) == ["1. Open the valve", "2. Wait", "a) Check the gauge", "b) Log it", "3. Close the valve",
          "a) Check again"]  # fmt: skip


def test_an_unnumbered_paragraph_ends_a_list_and_an_empty_one_takes_no_number() -> None:
    assert body_lines(
        [
            ("First", 0, "arabicParenR", None),
            ("", 0, "arabicParenR", None),
            ("Second", 0, "arabicParenR", None),
            ("A remark", 0, None, None),
            ("Again", 0, "arabicParenR", None),
        ]
    ) == ["1) First", "", "2) Second", "A remark", "1) Again"]


@pytest.mark.parametrize(
    ("scheme", "start", "label"),
    [
        ("romanUcPeriod", 4, "IV."),
        ("alphaUcParenBoth", 27, "(AA)"),
        ("romanLcParenR", None, "i)"),
        ("arabicPlain", 12, "12"),
        ("circleNumDbPlain", 3, "3."),  # a scheme not written here counts in decimal
        ("arabicPeriod", 99999, "1."),  # beyond startAt's range: from 1
    ],
)
def test_schemes_and_starts(scheme: str, start: int | None, label: str) -> None:
    assert body_lines([("Item", 0, scheme, start)]) == [f"{label} Item"]
