"""Text drawn on the slide masters and layouts a deck is built on (a company name, a
confidentiality line) is read once, after the slides; their placeholders' prompts ("Click to
edit Master title style"), dates and slide numbers are not. python-pptx reads a slide's own
shapes only. Tika's `testPPT_masterText.pptx` (text only on its master) is in the corpus."""

from __future__ import annotations

import copy
import io

import pptx
import pytest
from pptx.util import Inches

from services.common.media import PPTX
from services.parser.core.extract import extract

pytestmark = pytest.mark.unit


def drawn_on(design: object, text: str, deck: pptx.presentation.Presentation) -> None:
    """Draw a text box saying `text` on a master or layout (python-pptx adds shapes to
    slides only: the box is drawn on a scratch slide and moved)."""
    scratch = deck.slides.add_slide(deck.slide_layouts[6])
    box = scratch.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1))
    box.text_frame.text = text
    design.shapes._spTree.append(copy.deepcopy(box._element))  # type: ignore[attr-defined]
    slides = deck.slides._sldIdLst
    deck.part.drop_rel(slides[-1].rId)
    slides.remove(slides[-1])


def test_master_and_layout_text_follows_the_slides_once_and_prompts_do_not() -> None:
    deck = pptx.Presentation()
    layout = deck.slide_layouts[1]  # "Title and Content"
    drawn_on(deck.slide_master, "Weir Trust, confidential", deck)
    drawn_on(deck.slide_master, "\u2039#\u203a", deck)  # a slide number: each slide's own
    drawn_on(layout, "Course: river hydrology", deck)
    drawn_on(deck.slide_layouts[5], "On a layout no slide uses", deck)
    for title in ("Gauges", "Floods"):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
    buffer = io.BytesIO()
    deck.save(buffer)
    parsed = extract(buffer.getvalue(), PPTX)
    assert parsed.text == (
        "Gauges\n\nFloods\n\nWeir Trust, confidential\n\nCourse: river hydrology"
    )
    assert parsed.page_count == 2


def test_a_deck_with_words_only_on_its_master_has_text() -> None:
    deck = pptx.Presentation()
    drawn_on(deck.slide_master, "Annual report", deck)
    deck.slides.add_slide(deck.slide_layouts[6])  # "Blank": no placeholder, no text
    buffer = io.BytesIO()
    deck.save(buffer)
    assert extract(buffer.getvalue(), PPTX).text == "Annual report"
